"""Closing a Tornado WebSocket client in a test, all the way.

``WebSocketClientConnection.close()`` only starts the closing handshake: the socket
is closed when the server's close frame comes back, or by a 5 s timer. A test that
returns first leaves both to an event loop that pytest-asyncio then closes, and the
socket to the garbage collector, whose ResourceWarning (an error here) then fails
whichever later test it happens to run in.
"""

from __future__ import annotations

import asyncio
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
                await reader
            else:
                while await conn.read_message() is not None:
                    pass  # messages still in flight before the close frame
    except TimeoutError:
        pass
    finally:
        conn.stream.close()  # a no-op once the handshake closed it
