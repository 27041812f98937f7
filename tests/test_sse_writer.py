"""The detached SSE body, byte for byte from a raw socket (no client library hides framing)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest
from tornado import httpserver, web
from tornado.iostream import IOStream
from tornado.netutil import bind_sockets

from nb_sse_signals._handlers import OPEN_STREAMS, signal_handlers
from nb_sse_signals._hub import SignalHub
from nb_sse_signals._limits import Limits
from nb_sse_signals._server import Server
from nb_sse_signals._sse_writer import SSEWriter

from .conftest import TOKEN, wait_until


@pytest.fixture
def quiet() -> Iterator[Server]:
    """A server of our own whose keep-alive never falls due in a test (the shared
    fixture's is 0.5 s), so every byte read is one the test caused. Stop is idempotent:
    a test may stop it early."""
    server = Server(port=0, token=TOKEN, keepalive=60).start()
    try:
        yield server
    finally:
        server.stop()


def _subscribe(server: Server, version: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(
        f"GET /nb-sse-signals/events?signal=a HTTP/{version}\r\nHost: x\r\n"
        f"Authorization: token {TOKEN}\r\n\r\n".encode()
    )
    return sock


def _read_until(sock: socket.socket, marker: bytes, seen: bytes = b"") -> bytes:
    """Read until ``marker`` has arrived or the peer closed (5 s bound per read)."""
    data = seen
    deadline = time.monotonic() + 5
    while marker not in data:
        assert time.monotonic() < deadline, f"never got {marker!r}; got {data[-300:]!r}"
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _dechunk(body: bytes) -> tuple[bytes, bool]:
    """Undo HTTP/1.1 chunked framing strictly; return (payload, saw the last chunk)."""
    out = b""
    while body:
        size_line, sep, rest = body.partition(b"\r\n")
        assert sep, f"a chunk size line without CRLF: {body[:40]!r}"
        size = int(size_line, 16)
        if size == 0:
            assert rest == b"\r\n", f"bytes after the last chunk: {rest!r}"
            return out, True
        assert rest[size : size + 2] == b"\r\n", "a chunk not followed by CRLF"
        out, body = out + rest[:size], rest[size + 2 :]
    return out, False


def test_an_http11_body_is_valid_chunks_and_ends_with_the_last_chunk(quiet: Server) -> None:
    quiet.hub.declare("a", {"n": 0})
    sock = _subscribe(quiet, "1.1")
    head = _read_until(sock, b'"value":{"n":0}')
    assert b"transfer-encoding: chunked" in head.lower()
    for n in range(1, 4):
        quiet.hub.set("a", {"n": n})
    data = _read_until(sock, b'"value":3', head)
    quiet.stop()
    data = _read_until(sock, b"0\r\n\r\n", data)  # the server's stop ends the body
    sock.close()
    payload, ended = _dechunk(data.split(b"\r\n\r\n", 1)[1])
    assert ended, "the body should end with the terminating zero-length chunk"
    events = [e for e in payload.split(b"\n\n") if b"data:" in e]
    assert len(events) == 4, f"expected the snapshot and 3 changes, got {payload!r}"


def test_an_http10_body_is_the_raw_event_stream(quiet: Server) -> None:
    quiet.hub.declare("a", {"n": 0})
    sock = _subscribe(quiet, "1.0")
    data = _read_until(sock, b'"value":{"n":0}')
    quiet.hub.set("a", {"n": 1})
    data = _read_until(sock, b'"value":1', data)
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"transfer-encoding" not in head.lower()
    assert body.startswith(b"retry: "), f"expected raw SSE, got {body[:60]!r}"
    quiet.stop()
    assert _read_until(sock, b"never") is not None  # the server closes: recv returns b""
    sock.close()


def test_a_peer_that_leaves_while_idle_is_noticed_without_a_write(quiet: Server) -> None:
    # No keep-alive falls due within the wait: the writer must learn of the EOF by listening.
    quiet.hub.declare("a", 0)
    sock = _subscribe(quiet, "1.1")
    _read_until(sock, b'"value":0')
    assert quiet.hub.subscriber_count("a") == 1
    sock.close()
    wait_until(lambda: quiet.hub.subscriber_count("a") == 0, 2.0, "the subscriber to leave")


async def test_a_send_after_tornado_dropped_the_socket_ends_the_body_once() -> None:
    # Tornado sets stream.socket to None at once and runs the close callback a loop
    # turn later; a send in between must neither raise nor report the end twice.
    ours, theirs = socket.socketpair()
    ended: list[str] = []
    try:
        writer = SSEWriter(
            IOStream(ours),
            chunked=True,
            on_drained=lambda: None,
            on_closed=lambda: ended.append("x"),
        )
        writer._stream.close()
        writer.send(b"data: 1\n\n")
        assert writer.closed
        await asyncio.sleep(0.05)  # let the close callback run too
        assert ended == ["x"]
    finally:
        theirs.close()


def test_a_server_that_stops_ends_every_stream(quiet: Server) -> None:
    quiet.hub.declare("a", 0)
    socks = [_subscribe(quiet, "1.1") for _ in range(3)]
    for sock in socks:
        _read_until(sock, b'"value":0')
    assert quiet._loop is not None
    # stop_async alone (Publisher.shutdown's path), not stop(), which also cancels tasks.
    asyncio.run_coroutine_threadsafe(quiet.stop_async(), quiet._loop).result(5)
    for sock in socks:
        assert _read_until(sock, b"0\r\n\r\n").endswith(b"0\r\n\r\n"), "no end of body"
        sock.close()


def test_gzip_in_the_app_does_not_encode_the_event_stream() -> None:
    hub = SignalHub()
    hub.declare("a", {"n": 0})

    async def serve_and_read() -> bytes:
        app = web.Application(signal_handlers(hub, token=TOKEN), compress_response=True)
        [listener] = bind_sockets(0, "127.0.0.1")
        http = httpserver.HTTPServer(app)
        http.add_sockets([listener])
        port = listener.getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"GET /nb-sse-signals/events?signal=a HTTP/1.1\r\nHost: x\r\n"
                f"Accept-Encoding: gzip\r\nAuthorization: token {TOKEN}\r\n\r\n".encode()
            )
            data = await asyncio.wait_for(reader.readuntil(b'"value":{"n":0}'), 5)
            writer.close()
            return data
        finally:
            http.stop()
            for stream in list(app.settings.get(OPEN_STREAMS, ())):
                stream.end_stream()
            await http.close_all_connections()

    data = asyncio.run(serve_and_read())
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    assert b"content-encoding" not in head, head


async def test_frames_are_gathered_and_what_the_socket_leaves_is_queued_by_reference() -> None:
    # A socket pair whose reader does not read: the writer sends what the socket takes
    # and queues views of the same frames (no per-subscriber copy of shared bytes).
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    drained: list[bool] = []
    try:
        stream = IOStream(ours)
        writer = SSEWriter(
            stream, chunked=True, on_drained=lambda: drained.append(True), on_closed=lambda: None
        )
        frames = [b"data: " + bytes([65 + i]) * 300_000 + b"\n\n" for i in range(3)]
        writer.send_frames(frames)
        assert writer.busy, "a reader that does not read leaves bytes queued"
        queued = list(stream._write_buffer._buffers)
        views = [buffer for by_reference, buffer in queued if by_reference]
        assert any(view.obj is frames[-1] for view in views), "the last frame is queued as is"
        assert all(view.obj in frames for view in views if len(view) > 2048)
        received = b""
        theirs.setblocking(False)
        deadline = time.monotonic() + 5
        whole = sum(map(len, frames)) + len(b"%x\r\n\r\n" % sum(map(len, frames)))
        while not drained or len(received) < whole:
            assert time.monotonic() < deadline, "the queue never drained"
            try:
                received += theirs.recv(1 << 20)
            except BlockingIOError:
                await asyncio.sleep(0.01)
        payload, _ = _dechunk(received)
        assert payload == b"".join(frames), "one chunk: the frames in order, whole"
    finally:
        ours.close()
        theirs.close()


async def test_a_reader_that_stops_reading_is_cut_off_after_the_write_timeout() -> None:
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    ended: list[str] = []
    try:
        writer = SSEWriter(
            IOStream(ours),
            chunked=True,
            on_drained=lambda: None,
            on_closed=lambda: ended.append("closed"),
            write_timeout=0.3,
        )
        writer.send_frames([b"data: " + b"x" * 1_000_000 + b"\n\n"])
        assert writer.busy
        await asyncio.sleep(0.2)
        assert not writer.closed, "not before the timeout"
        for _ in range(100):
            if writer.closed:
                break
            await asyncio.sleep(0.02)
        assert writer.closed, "cut off once the timeout passed"
        assert writer.timed_out
        assert ended == ["closed"]
    finally:
        ours.close()
        theirs.close()


def test_a_subscriber_that_stops_reading_leaves_the_hub_after_the_write_timeout() -> None:
    # Through a real server: the hub forgets a reader that stopped, and its bytes.
    limits = Limits(write_timeout=0.5)
    with Server(port=0, token=TOKEN, keepalive=60, limits=limits) as server:
        server.hub.declare("big", "x" * 8_000_000)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        try:
            sock.sendall(
                b"GET /nb-sse-signals/events?signal=big HTTP/1.1\r\nHost: x\r\n"
                + f"Authorization: token {TOKEN}\r\n\r\n".encode()
            )
            wait_until(lambda: server.hub.subscriber_count("big") == 1, 5, "the subscriber")
            # It reads nothing more: within the timeout (and a margin), it is gone.
            wait_until(
                lambda: server.hub.subscriber_count("big") == 0, 5, "the stuck reader to be cut"
            )
        finally:
            sock.close()
