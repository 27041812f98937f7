"""WebSocket clients of tests: a Tornado one closed all the way, and a raw one.

``WebSocketClientConnection.close()`` only starts the closing handshake: the socket
is closed when the server's close frame comes back, or by a 5 s timer. A test that
returns first leaves both to an event loop that pytest-asyncio then closes, and the
socket to the garbage collector, whose ResourceWarning (an error here) then fails
whichever later test it happens to run in.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from tornado import websocket


async def close_websocket(
    conn: websocket.WebSocketClientConnection,
    reader: asyncio.Task[Any] | None = None,
    timeout: float = 2.0,
) -> None:
    """Close ``conn`` and wait until its socket is closed (cut it after ``timeout``).
    ``reader``: the task that reads ``conn`` until it closes, if there is one."""
    conn.close()
    try:
        async with asyncio.timeout(timeout):
            if reader is not None:
                # Its own failure is not ours to raise: the socket still has to close.
                await asyncio.gather(reader, return_exceptions=True)
            else:
                while await conn.read_message() is not None:
                    pass  # messages still in flight before the close frame
    except TimeoutError:
        pass
    finally:
        conn.stream.close()  # a no-op once the handshake closed it


def raw_publisher(port: int, secret: str) -> socket.socket:
    """A publish WebSocket opened by hand on 127.0.0.1:``port``, for frames (or
    silences) no WebSocket client would send; the 101 reply is read and checked."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(
            b"GET /nb-sse-signals/publish HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n"
            + f"X-Signals-Publish-Secret: {secret}\r\n\r\n".encode()
        )
        reply = sock.recv(4096)
        assert b"101 Switching Protocols" in reply, reply
    except BaseException:
        sock.close()
        raise
    return sock
