"""How a publisher reaches a hub: in-process, or over the publish WebSocket.

Both run on the publisher's own event loop thread (never the kernel's main
loop, which stalls while a cell runs). ``request`` sends a batch of messages and
returns their replies in order (docs/protocol.md, "Publishing").
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from . import _codec
from ._errors import SignalsError
from ._hub import SignalHub
from ._messages import handle_message
from ._protocol import MAX_MESSAGE_HEADER, PUBLISH_PATH, SECRET_HEADER, redact_url

if TYPE_CHECKING:
    from tornado import httpclient, websocket

log = logging.getLogger("nb_sse_signals")

Message = dict[str, Any]  # a reply


class TransportError(SignalsError, ConnectionError):
    """The hub could not be reached, or the connection to it dropped."""


class MessageTooBigError(TransportError):
    """The hub closed the connection (WebSocket code 1009) over a frame bigger than it reads."""


TOO_BIG = "message_bytes"  # a reply's "unsent": the message was never sent (too big)


def too_big(size: int, limit: int) -> Message:
    """The reply for a message over the hub's limit, rejected here instead of sent."""
    return {
        "ok": False,
        "unsent": TOO_BIG,
        "error": (
            f"expected a publish message of at most {limit:,} bytes (the hub's "
            f"message_bytes limit), got {size:,}: not sent"
        ),
    }


class Transport(Protocol):
    events_url: str  # the subscriber endpoint, absolute or a path on the page's origin
    token: str | None  # what a subscriber on another origin needs (None: same-origin auth)
    max_message_bytes: int | None  # the most the hub reads in one message (None: no limit)

    async def request(self, messages: list[bytes]) -> list[Message]:
        """Send serialised messages; return one reply per message, in order."""
        ...

    async def close(self) -> None: ...


class HubTransport:
    """A hub in this process (the standalone server, or one given explicitly)."""

    def __init__(self, hub: SignalHub, events_url: str = "", token: str | None = None) -> None:
        self.hub = hub
        self.events_url = events_url
        self.token = token
        # Nothing is framed in-process, but the hub's limit holds all the same: a change
        # that another publisher could not send, this one cannot make either (set() and
        # mutate() raise LimitError before anything changes).
        self.max_message_bytes: int | None = hub.limits.message_bytes

    async def request(self, messages: list[bytes]) -> list[Message]:
        limit = self.hub.limits.message_bytes

        def one(m: bytes) -> Message:
            # (+ 2: the brackets of the frame it would travel in, as over the socket)
            if len(m) + 2 > limit:
                return too_big(len(m) + 2, limit)
            return handle_message(self.hub, _codec.loads(m))

        # Behind a backplane, the batch's changes go in one round trip (same outcome).
        return self.hub.batched(one, messages)

    async def close(self) -> None:
        return None


class SocketTransport:
    """The publish WebSocket of a hub in another process (the Jupyter server extension).

    One persistent connection; replies come back in order, so requests wait in a
    FIFO. ``on_reconnect`` runs after the connection is re-established (the
    publisher re-declares its signals there, since the hub may have restarted).

    A batch is sent in as many frames as the hub's ``max_message_bytes`` needs (its
    handshake reply says; a hub that does not say teaches us with a 1009 close), and
    a message too big for any frame is rejected here, never sent: one huge value must
    not cut the connection that every other signal of this process shares.
    """

    def __init__(
        self, base_url: str, secret: str, events_url: str, connect_timeout: float = 10.0
    ) -> None:
        self.ws_url = base_url.replace("http", "ws", 1).rstrip("/") + "/" + PUBLISH_PATH
        self.secret = secret
        self.events_url = events_url
        self.token: str | None = None
        self.connect_timeout = connect_timeout
        self.reply_timeout = 10.0
        self.on_reconnect: Any = None
        self._conn: websocket.WebSocketClientConnection | None = None
        self.max_message_bytes: int | None = None
        self._one_per_frame = False  # a hub that did not say its limit rejected a batch
        # Per frame in flight, in order: its reply's future, its size, its messages.
        self._waiting: deque[tuple[asyncio.Future[list[Message]], int, int]] = deque()
        self._reader: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock | None = None
        self._ever_connected = False

    async def _connect(self) -> websocket.WebSocketClientConnection:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        # Imported here: tornado is not there in Pyodide (JupyterLite), which has no
        # sockets and publishes only in process (HubTransport).
        from tornado import httpclient, websocket

        async with self._connecting:
            if self._conn is not None:
                return self._conn
            request = httpclient.HTTPRequest(
                self.ws_url,
                headers={SECRET_HEADER: self.secret},
                connect_timeout=self.connect_timeout,
                request_timeout=self.connect_timeout,
            )
            try:
                conn = await websocket.websocket_connect(request)
            except httpclient.HTTPClientError as exc:
                raise TransportError(_rejection(self.ws_url, exc)) from exc
            except OSError as exc:
                raise TransportError(
                    f"cannot reach the signals hub at {redact_url(self.ws_url)}: {exc}"
                ) from exc
            self._conn = conn
            told = conn.headers.get(MAX_MESSAGE_HEADER, "") if conn.headers else ""
            if told.isdigit() and int(told) > 0:
                self.max_message_bytes = int(told)
            self._reader = asyncio.create_task(self._read(conn))
            reconnected, self._ever_connected = self._ever_connected, True
        # Outside the lock: re-declaring sends requests, which connect through here.
        if reconnected and self.on_reconnect is not None:
            await self.on_reconnect()
        return conn

    async def _read(self, conn: websocket.WebSocketClientConnection) -> None:
        while True:
            raw = await conn.read_message()
            if raw is None:
                break
            if not self._waiting:
                log.warning("nb_sse_signals: unexpected reply from the hub: %.200r", raw)
                continue
            future, _, _ = self._waiting.popleft()
            if not future.done():
                reply = _codec.loads(raw)
                future.set_result(reply if isinstance(reply, list) else [reply])
        if self._conn is conn:
            self._conn = None
        conn.close()  # the peer went away; release our side too
        first = True
        while self._waiting:
            future, size, count = self._waiting.popleft()
            error: TransportError
            if first and conn.close_code == 1009:
                # The oldest unanswered frame is the one the hub would not read. Alone
                # in it, that message is too big (and is rejected here from now on);
                # with others, which one is unknown: each goes in a frame of its own.
                if count == 1:
                    self.max_message_bytes = min(self.max_message_bytes or size, size - 1)
                else:
                    self._one_per_frame = True
                error = MessageTooBigError(
                    f"the hub at {redact_url(self.ws_url)} closed the connection over a "
                    f"{size:,}-byte message (too big)"
                )
            else:
                error = TransportError(f"the connection to {redact_url(self.ws_url)} closed")
            first = False
            if not future.done():
                future.set_exception(error)

    async def request(self, messages: list[bytes]) -> list[Message]:
        limit = self.max_message_bytes
        if limit is None and not self._one_per_frame:
            return await self._request_frame(b"[" + b",".join(messages) + b"]", len(messages))
        replies: list[Message] = [{}] * len(messages)
        groups = [[i] for i in range(len(messages))]
        if limit is not None:
            groups = _frames([len(m) for m in messages], limit)
        for indexes in groups:
            if limit is not None and len(indexes) == 1 and len(messages[indexes[0]]) + 2 > limit:
                replies[indexes[0]] = too_big(len(messages[indexes[0]]) + 2, limit)
                continue
            frame = b"[" + b",".join(messages[i] for i in indexes) + b"]"
            answers = await self._request_frame(frame, len(indexes))
            for i, reply in zip(indexes, answers, strict=True):
                replies[i] = reply
        return replies

    async def _request_frame(self, frame: bytes, count: int) -> list[Message]:
        from tornado import websocket

        conn = await self._connect()
        future: asyncio.Future[list[Message]] = asyncio.get_running_loop().create_future()
        self._waiting.append((future, len(frame), count))
        try:
            await conn.write_message(frame, binary=True)
            # A hub that vanished without closing the socket never answers: give up
            # on the connection, so the next request reconnects and re-declares.
            return await asyncio.wait_for(asyncio.shield(future), self.reply_timeout)
        except websocket.WebSocketClosedError as exc:
            raise TransportError(f"the connection to {redact_url(self.ws_url)} closed") from exc
        except TimeoutError:
            if self._conn is conn:
                self._conn = None
            conn.close()
            conn.stream.close()  # it will not answer the close either
            raise TransportError(
                f"no reply from {redact_url(self.ws_url)} within {self.reply_timeout} s"
            ) from None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 2)
            except (TimeoutError, asyncio.CancelledError):
                self._reader.cancel()
        if conn is not None:
            # close() only starts the closing handshake; a hub that has not answered by
            # now would leave the socket to a timer on a loop that is about to stop.
            conn.stream.close()


def _rejection(url: str, exc: httpclient.HTTPClientError) -> str:
    """What a hub that answered but rejected the connection said: its JSON reason
    (docs/protocol.md), not only the status (a wrong secret is not an unreachable hub)."""
    reason = ""
    body = exc.response.body if exc.response is not None else b""
    if body:
        try:
            reason = str(_codec.loads(body)["error"])
        except (_codec.DecodeError, KeyError, TypeError):
            reason = body[:200].decode(errors="replace")
    if exc.code == 599:  # tornado's code for no answer at all (a timeout)
        return f"cannot reach the signals hub at {url}: {exc}"
    return f"the signals hub at {url} rejected the connection (HTTP {exc.code}): {reason or exc}"


def _frames(sizes: list[int], limit: int) -> list[list[int]]:
    """Indexes of messages grouped in order into JSON-array frames of at most ``limit``
    bytes (brackets and commas counted); a message too big alone stays alone."""
    frames: list[list[int]] = []
    current: list[int] = []
    used = 1  # "["
    for i, size in enumerate(sizes):
        if current and used + size + 1 > limit:  # the message and a comma (or the "]")
            frames.append(current)
            current, used = [], 1
        used += size + 1
        current.append(i)
    if current:
        frames.append(current)
    return frames
