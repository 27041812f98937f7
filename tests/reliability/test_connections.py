"""Connections a stranger opens are bounded: slow headers are cut off, past the cap new
ones are refused, and running out of file descriptors backs off instead of spinning
(issue 12, item 2)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import httpx
import pytest

from nb_sse_signals._limits import Limits
from nb_sse_signals._server import Server

from ..conftest import SECRET, TOKEN, wait_until


@pytest.fixture
def strict() -> Iterator[Server]:
    limits = Limits(header_timeout=0.5, connections=20)
    srv = Server(port=0, token=TOKEN, publish_secret=SECRET, limits=limits).start()
    try:
        yield srv
    finally:
        srv.stop()


def dial(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return sock


def test_a_client_that_never_finishes_its_headers_is_cut_off(strict: Server) -> None:
    sock = dial(strict)
    try:
        sock.sendall(b"GET /nb-sse-signals/events?signal=x HTTP/1.1\r\nHost: x\r\n")  # no end
        start = time.monotonic()
        # The server closes: recv returns b"" (or the peer resets).
        try:
            data = sock.recv(1024)
        except ConnectionResetError:
            data = b""
        assert data == b"", f"expected the connection to be closed, got {data!r}"
        assert time.monotonic() - start < 5, "cut off by the header timeout, not the test's"
    finally:
        sock.close()


def test_past_the_connection_cap_new_connections_are_rejected_and_old_ones_served(
    strict: Server,
) -> None:
    idle = [dial(strict) for _ in range(20)]
    try:
        wait_until(lambda: len(strict._http._connections) >= 20, what="20 open connections")  # type: ignore[union-attr]
        extra = dial(strict)
        try:
            extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with contextlib.suppress(ConnectionResetError):
                assert extra.recv(1024) == b"", "the 21st connection is closed at once"
        finally:
            extra.close()
    finally:
        for sock in idle:
            sock.close()
    # Once they are gone, the server serves again.
    wait_until(
        lambda: (
            httpx.get(strict.url + "nb-sse-signals/snapshot?signal=x", timeout=2).status_code == 403
        ),
        timeout=10,
        what="the server to accept again",
    )


def test_out_of_file_descriptors_the_server_backs_off_then_recovers() -> None:
    # A fresh process with a tiny file limit; it reports how many accept attempts it
    # made while out of descriptors (a spinning loop makes thousands a second).
    code = textwrap.dedent(
        """
        import resource, socket, time, errno, sys
        from nb_sse_signals._server import Server
        from nb_sse_signals._limits import Limits
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        server = Server(port=0, token="t", limits=Limits(connections=10_000)).start()
        calls = 0
        real_accept = socket.socket.accept
        def counting_accept(self):
            global calls
            calls += 1
            return real_accept(self)
        socket.socket.accept = counting_accept
        hold = []
        try:
            while True:
                hold.append(socket.create_connection(("127.0.0.1", server.port)))
        except OSError:
            pass  # this process is out of descriptors now, the server with it
        time.sleep(1.0)
        spent = calls
        # Every one of them goes (connections still in the listen backlog would be
        # accepted next and fill the connection cap again); the server, which never
        # stopped, answers again within seconds.
        for s in hold:
            s.close()
        del hold[:]
        import urllib.request, urllib.error, http.client
        status = None
        deadline = time.monotonic() + 20
        while status is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(server.url + "nb-sse-signals/snapshot?signal=x", timeout=5)
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)
        print(spent, status)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    spent, status = done.stdout.split()
    assert int(spent) < 200, f"accept should back off, not spin: {spent} calls in ~1 s"
    assert status == "403", "after descriptors are free again, the server answers"
    assert done.stderr.count("Traceback") == 0, done.stderr
