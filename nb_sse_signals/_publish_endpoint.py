"""The publish endpoint: other processes (kernels, scripts) change signals through it.

One URL, two transports: a WebSocket (``GET`` + upgrade; persistent, what kernels
use) and ``POST`` of one message or a JSON array of them. Both need the publish
secret in ``X-Signals-Publish-Secret``; subscriber credentials are not enough.
Messages and replies are in docs/protocol.md; ``_messages.handle_message`` is the
one place they are interpreted (the in-process transport uses it too).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
from tornado import websocket
from tornado.ioloop import IOLoop

from ._hub import SignalHub
from ._messages import handle_payload, http_status
from ._protocol import MAX_MESSAGE_HEADER, SECRET_HEADER

log = logging.getLogger("nb_sse_signals")

OPEN_PUBLISHERS = "nb_sse_signals.open_publishers"
# Messages larger than this are parsed and applied in a worker thread, so the loop
# (in Jupyter, the whole server's) keeps serving everyone else meanwhile.
OFF_LOOP_BYTES = 256 * 1024
# With a backplane every change waits for Redis (a round trip; seconds when Redis is
# slow or away): never on the loop. Threads of their own, so a stalled Redis cannot
# take the loop's default executor (Jupyter's contents, kernels) from everyone else.
COMMIT_THREADS = 8
_commits: ThreadPoolExecutor | None = None
_commits_lock = threading.Lock()

T = TypeVar("T")


def _commit_executor() -> ThreadPoolExecutor:
    global _commits
    with _commits_lock:
        if _commits is None:
            _commits = ThreadPoolExecutor(
                COMMIT_THREADS, thread_name_prefix="nb_sse_signals-commit"
            )
        return _commits


async def off_loop(hub: SignalHub, size: int, work: Callable[[], T]) -> T:
    """``work()``, in a worker thread if it may wait for a backplane or is big (the
    loop, in Jupyter the whole server's, keeps serving everyone else meanwhile)."""
    if hub.backplane is not None:
        return await asyncio.get_running_loop().run_in_executor(_commit_executor(), work)
    if size > OFF_LOOP_BYTES:
        return await asyncio.get_running_loop().run_in_executor(None, work)
    return work()


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
        """``keep_orphan(name)``: True keeps a signal this connection left behind stale,
        past ``orphan_grace``, rather than closing it (asked again every ``orphan_grace``
        seconds; the server extension keeps a kernel's signals while the kernel lives)."""
        self.hub = hub
        self.secret = secret
        self.orphan_grace = orphan_grace
        self.keep_orphan = keep_orphan

    @property
    def max_message_size(self) -> int:
        # Tornado closes the WebSocket with 1009 ("message too big") past this.
        return self.hub.limits.message_bytes

    def _authorized(self) -> bool:
        given = self.request.headers.get(SECRET_HEADER, "")
        return bool(given) and hmac.compare_digest(given.encode(), self.secret.encode())

    def _refuse(self) -> None:
        self.set_status(403)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(orjson.dumps({"error": f"expected the publish secret in {SECRET_HEADER}"}))

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if not self._authorized():
            self._refuse()
            return
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            # Tornado would answer a plain-text 400: the protocol's errors are JSON.
            self.set_status(400)
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(
                orjson.dumps(
                    {
                        "error": "expected a WebSocket upgrade (Upgrade: websocket) on GET, "
                        "got a plain GET; to publish over plain HTTP, POST the messages"
                    }
                )
            )
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
        # Every refusal of this endpoint is JSON (a method it does not take: 405).
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
        reply = await off_loop(
            self.hub, len(message), lambda: _handle_text(self.hub, message, self)
        )
        if not self.ws_connection:
            return  # the publisher left while we worked
        self.write_message(reply, binary=isinstance(message, bytes))
        # Let the SSE writers run before the next frame (tornado waits for this
        # coroutine), so a fast publisher cannot fill a fast subscriber's buffer.
        await asyncio.sleep(0)

    def on_close(self) -> None:
        self.application.settings.get(OPEN_PUBLISHERS, set()).discard(self)
        self.hub.orphan(self)
        IOLoop.current().call_later(self.orphan_grace, self._reap)

    async def _reap(self) -> None:
        """Close what this gone connection still owns, but what ``keep_orphan`` keeps;
        look again later while something is kept."""
        keep = self.keep_orphan
        # A declare that was still running in a worker thread when we dropped made its
        # signal ours after on_close's orphan(): it is an orphan too (once, as always).
        self.hub.orphan(self)
        try:
            await off_loop(self.hub, 0, lambda: self.hub.close_owned(self, keep))
        except Exception:  # a hub that cannot close now (its backplane is away): retry
            log.exception("nb_sse_signals: closing a gone publisher's signals failed")
        # Only what is still orphaned: a signal another publisher changed meanwhile is
        # live again and no longer ours to close.
        if self.hub.orphans(self):
            IOLoop.current().call_later(self.orphan_grace, self._reap)

    async def post(self) -> None:
        if not self._authorized():
            self._refuse()
            return
        self.set_header("Content-Type", "application/json; charset=utf-8")
        body = self.request.body
        limit = self.hub.limits.message_bytes
        if len(body) > limit:
            self.set_status(413)
            self.finish(
                orjson.dumps({"error": self.hub.limits.refusal("message_bytes", len(body))})
            )
            return
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self.set_status(400)
            self.finish(orjson.dumps({"error": f"expected a JSON body, got invalid JSON: {exc}"}))
            return
        replies = await off_loop(self.hub, len(body), lambda: handle_payload(self.hub, payload))
        self.set_status(http_status(replies))
        self.finish(orjson.dumps(replies))


def _handle_text(hub: SignalHub, message: str | bytes, owner: object) -> bytes:
    """Parse and apply one WebSocket message; its reply, serialised (any thread)."""
    try:
        payload = orjson.loads(message)
    except orjson.JSONDecodeError as exc:
        return orjson.dumps({"ok": False, "error": f"expected JSON: {exc}"})
    return orjson.dumps(handle_payload(hub, payload, owner))
