"""SIGTERM ends every stream with its final chunk, as Ctrl-C does, and a stopping server
leaves no connection open (issue 12, item 5)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nb_sse_signals._server import Server

from ..conftest import SECRET
from ..ws import raw_publisher


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopping_server_ends_its_streams_with_the_final_chunk(
    tmp_path: Path, signum: signal.Signals
) -> None:
    script = Path(sys.executable).parent / "nb-sse-signals"
    out = tmp_path / "serve.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [str(script), "serve", "--demo", "--port", "0"], stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 20
        while not (
            match := re.search(
                r"serving at http://([\d.]+):(\d+)/\n.*token: (\S+)", out.read_text(), re.S
            )
        ):
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        host, port, token = match.group(1), int(match.group(2)), match.group(3)
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(
            f"GET /nb-sse-signals/events?signal=count HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: token {token}\r\n\r\n".encode()
        )
        received = sock.recv(65536)
        assert b"200 OK" in received
        proc.send_signal(signum)
        while chunk := sock.recv(65536):
            received += chunk
        sock.close()
        assert received.endswith(b"0\r\n\r\n"), (
            f"the stream ended without its last chunk: {received[-80:]!r}"
        )
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_a_stopping_server_cuts_a_publisher_that_never_answers_its_close(server: Server) -> None:
    # A publisher that never reads (a hung kernel): its WebSocket must not outlive
    # the server's loop, half-closed and waiting for an answer that never comes.
    sock = raw_publisher(server.port, SECRET)
    try:
        started = time.monotonic()
        server.stop()
        received = b""
        while chunk := sock.recv(4096):  # the close frame, then the end
            received += chunk
        assert received.startswith(b"\x88"), f"a close frame first: {received!r}"
        assert time.monotonic() - started < 5, "cut within the stop, not by a 5 s timer"
    finally:
        sock.close()
