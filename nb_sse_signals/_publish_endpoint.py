"""The publish endpoint: other processes (kernels, scripts) change signals through it.

One URL, two transports: a WebSocket (``GET`` + upgrade; persistent, what kernels
use) and ``POST`` of one message or a JSON array of them. Both need the publish
secret in ``X-Signals-Publish-Secret``; subscriber credentials are not enough.
Messages and replies are in docs/protocol.md; ``_messages.handle_message`` is the
one place they are interpreted (the in-process transport uses it too), and
``_endpoints`` the one place a POST or a frame becomes its answer (the ASGI app
uses it too).

No byte of a body is read before its secret is checked: the handler streams its
body (``stream_request_body``), so ``prepare`` runs on the headers alone, and a
rejected request is answered and its connection closed with the body unread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import orjson
from tornado import web, websocket

from . import _endpoints as ep
from ._hub import SignalHub
from ._protocol import MAX_MESSAGE_HEADER, SECRET_HEADER

OPEN_PUBLISHERS = "nb_sse_signals.open_publishers"
OFF_LOOP_BYTES = ep.OFF_LOOP_BYTES


@web.stream_request_body
class PublishHandler(websocket.WebSocketHandler):
    """``PUBLISH_PATH``: WebSocket or POST, guarded by the publish secret."""

    hub: SignalHub
    secret: str
    orphan_grace: float
    keep_orphan: Callable[[str], bool] | None

    def initialize(
        self,
        hub: SignalHub,
        secret: str,
        orphan_grace: float = 10.0,
        keep_orphan: Callable[[str], bool] | None = None,
        **_: Any,
    ) -> None:
        """``keep_orphan(name)``: True keeps a signal this connection left orphaned open,
        past ``orphan_grace``, rather than closing it (asked again every ``orphan_grace``
        seconds; the server extension keeps a kernel's signals while the kernel lives)."""
        self.hub = hub
        self.secret = secret
        self.orphan_grace = orphan_grace
        self.keep_orphan = keep_orphan
        self._body = bytearray()
        self._over: int | None = None  # the body's size so far, once over message_bytes

    @property
    def max_message_size(self) -> int:
        # Tornado closes the WebSocket with 1009 ("message too big") past this.
        return self.hub.limits.message_bytes

    def prepare(self) -> None:
        # On the headers alone: a stranger's body is never read, let alone kept
        # (finishing before the body closes the connection once the answer is out).
        if not ep.same_secret(self.request.headers.get(SECRET_HEADER), self.secret):
            self.set_header("Connection", "close")
            self._reject()

    def _reject(self, rejection: ep.Rejection | None = None) -> None:
        rejection = rejection or ep.publisher_rejected()
        self.set_status(rejection.status)
        self.set_header("Content-Type", ep.JSON_TYPE)
        self.finish(rejection.body())

    def data_received(self, chunk: bytes) -> None:
        # Only for a request with the secret (prepare finished the others). A
        # Content-Length over the limit was rejected before this (_http_guard); a
        # chunked body is counted here, and not kept past the limit.
        if self._finished:
            return
        if self._over is not None or len(self._body) + len(chunk) > self.hub.limits.message_bytes:
            self._over = (self._over or len(self._body)) + len(chunk)
            self._body = bytearray()
            return
        self._body += chunk

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            # Tornado would answer a plain-text 400: the protocol's errors are JSON.
            self._reject(ep.plain_get_rejected())
            return
        # Sent with the 101 reply: a publisher that knows the limit never sends a frame
        # we would have to close the connection over (1009).
        self.set_header(MAX_MESSAGE_HEADER, str(self.max_message_size))
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        # Replies are small and a publisher waits for each: Nagle's algorithm would
        # hold one back until the previous reply's ACK.
        self.set_nodelay(True)
        # Known to the application, so a server that stops can close us
        # (tornado's close_all_connections leaves WebSockets open).
        self.application.settings.setdefault(OPEN_PUBLISHERS, set()).add(self)

    def check_origin(self, origin: str) -> bool:
        # Browsers cannot set our secret header on a WebSocket, so any caller that got
        # this far holds the secret; the origin adds nothing.
        return True

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Every rejection of this endpoint is JSON (a method it does not take: 405).
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) or self._reason
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(orjson.dumps({"error": message}))

    def check_xsrf_cookie(self) -> None:
        # Authenticated by a header no browser form can send; cookies play no part.
        return None

    async def on_message(self, message: str | bytes) -> None:
        # This connection owns what it declares: if it drops, its signals go stale at
        # once, and if no publisher takes them over within orphan_grace seconds (a
        # publisher that reconnects re-declares at once) they are closed, unless
        # keep_orphan says to keep them (a restarted kernel that has not run its cell).
        binary = isinstance(message, bytes)

        def send(reply: bytes) -> None:
            # (no one to tell if the publisher left while we worked)
            with contextlib.suppress(websocket.WebSocketClosedError):
                self.write_message(reply, binary=binary)

        # (sent as soon as Redis committed the frame, while this hub applies it)
        reply = await ep.reply_to_frame(self.hub, message, self, send)
        if reply is not None:
            send(reply)
        # Let the SSE writers run before the next frame (tornado waits for this
        # coroutine), so a fast publisher cannot fill a fast subscriber's buffer.
        await asyncio.sleep(0)

    def on_close(self) -> None:
        self.application.settings.get(OPEN_PUBLISHERS, set()).discard(self)
        ep.reap_when_gone(self.hub, self, self.orphan_grace, self.keep_orphan)

    async def post(self) -> None:
        self.set_header("Content-Type", ep.JSON_TYPE)
        body, self._body = bytes(self._body), bytearray()
        if self._over is not None:
            self.set_status(413)
            self.finish(
                orjson.dumps({"error": self.hub.limits.rejection("message_bytes", self._over)})
            )
            return
        status, answer = await ep.publish_post(self.hub, body)
        self.set_status(status)
        self.finish(answer)
