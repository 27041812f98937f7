"""Tornado handlers for subscribers: the SSE stream and snapshots; see :func:`signal_handlers`.

Authentication is one overridable method, :meth:`SignalsHandler.authorize`:
a token on the standalone server, Jupyter's own auth in the server extension
(see ``_serverext``). Every refusal is a JSON body ``{"error": ...}``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

import orjson
from tornado import web
from tornado.iostream import StreamClosedError

from . import _protocol as proto
from ._errors import CursorError, LimitError, ProtocolError, UnknownSignalError
from ._hub import SignalHub, Subscription
from ._protocol import EVENTS_PATH, PUBLISH_PATH, SECRET_HEADER, SNAPSHOT_PATH, TOKEN_COOKIE
from ._publish_endpoint import PublishHandler
from ._sse_writer import SSEWriter

log = logging.getLogger("nb_sse_signals")

OPEN_STREAMS = "nb_sse_signals.open_streams"  # app setting: live EventsHandlers
RETRY_MS = 2000


class SignalsHandler(web.RequestHandler):
    """Shared plumbing: the hub, the subscriber check, JSON errors."""

    hub: SignalHub
    subscriber_token: str | None
    publish_secret: str | None

    def initialize(
        self,
        hub: SignalHub,
        token: str | None = None,
        publish_secret: str | None = None,
        **_: Any,
    ) -> None:
        self.hub = hub
        self.subscriber_token = token
        self.publish_secret = publish_secret
        self._allow_cross_origin()

    async def authorize(self) -> bool:
        """True if the request may read signals. Default: the standalone server's token.

        A holder of the publish secret may read too (a kernel following a signal
        it does not publish); the reverse is never true.
        """
        if self.has_publish_secret() or self.subscriber_token is None:
            return True
        given = _request_token(self)
        return given is not None and hmac.compare_digest(
            given.encode(), self.subscriber_token.encode()
        )

    def has_publish_secret(self) -> bool:
        given = self.request.headers.get(SECRET_HEADER, "")
        secret = self.publish_secret
        return bool(given and secret) and hmac.compare_digest(given.encode(), secret.encode())  # type: ignore[union-attr]

    async def check_subscriber(self) -> None:
        if not await self.authorize():
            raise web.HTTPError(
                403, "expected subscriber credentials (a token), got none or a wrong one"
            )

    def _allow_cross_origin(self) -> None:
        # The token, not the origin, is the credential on the standalone server, so a
        # notebook on another origin may subscribe (cookies are never sent cross-origin
        # by EventSource without withCredentials, and we do not allow that). Set here,
        # not in set_default_headers: tornado calls that before initialize().
        if self.subscriber_token is not None:
            self.set_header("Access-Control-Allow-Origin", "*")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self._allow_cross_origin()  # send_error cleared the headers
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = (
            exc.log_message
            if isinstance(exc, web.HTTPError) and exc.log_message
            else (self._reason)
        )
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(orjson.dumps({"error": message}))

    def _request_summary(self) -> str:
        # What tornado logs for every request and refusal: never the token.
        uri = proto.scrub_uri(self.request.uri or "")
        return f"{self.request.method} {uri} ({self.request.remote_ip})"

    def signal_names(self) -> list[str]:
        names = self.get_arguments("signal")
        if not names:
            raise web.HTTPError(400, "expected at least one 'signal' query parameter, got none")
        limit = self.hub.limits.signals_per_subscription
        if len(names) > limit:
            raise web.HTTPError(
                400, f"expected at most {limit} 'signal' parameters, got {len(names)}"
            )
        try:
            return [proto.check_key(n) for n in names]
        except ProtocolError as exc:
            raise web.HTTPError(400, str(exc)) from None


def _request_token(handler: web.RequestHandler) -> str | None:
    header = handler.request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    return handler.get_argument("token", None) or handler.get_cookie(TOKEN_COOKIE)


class EventsHandler(SignalsHandler):
    """``GET EVENTS_PATH``: the SSE stream of docs/protocol.md.

    Push delivery: the hub calls :meth:`_deliver` in its wake-up callback, which
    takes what is pending and hands it to the socket at once, so one loop turn
    serves every subscriber. Once the response headers are out the handler detaches
    the connection and writes through :class:`SSEWriter` (see there for why). While
    the socket has not taken the last write, nothing more is written: the backlog
    waits in the subscription's bounded buffer, which is what turns a slow reader
    into snapshots.

    The subscription is dropped as soon as the stream reports the peer gone (it
    listens for EOF while idle; a peer that vanishes without a FIN is found by the
    next write or keep-alive).
    """

    keepalive: float
    _subscription: Subscription | None = None
    _writer: SSEWriter | None = None
    _ticker: asyncio.TimerHandle | None = None

    def initialize(
        self,
        hub: SignalHub,
        token: str | None = None,
        publish_secret: str | None = None,
        keepalive: float = 15.0,
        **_: Any,
    ) -> None:
        super().initialize(hub, token, publish_secret)
        self.keepalive = keepalive

    async def get(self) -> None:
        await self.check_subscriber()
        names = self.signal_names()
        cursor = self.request.headers.get("Last-Event-ID") or self.get_argument("lastEventId", None)
        streams: set[EventsHandler] = self.application.settings.setdefault(OPEN_STREAMS, set())
        try:
            sub = self.hub.subscribe(names, cursor or None)
        except (CursorError, ProtocolError) as exc:
            raise web.HTTPError(400, str(exc)) from None
        except UnknownSignalError as exc:
            raise web.HTTPError(404, str(exc)) from None
        except LimitError as exc:  # too many subscribers: try again later
            raise web.HTTPError(503, str(exc)) from None
        self._subscription = sub
        loop = asyncio.get_running_loop()
        self._ended: asyncio.Future[None] = loop.create_future()
        try:
            self.set_header("Content-Type", "text/event-stream; charset=utf-8")
            self.set_header("Cache-Control", "no-cache")
            self.set_header("X-Accel-Buffering", "no")
            # The body goes straight to the socket (SSEWriter), so no output transform
            # may encode it: gzip would announce an encoding our chunks do not have.
            self._transforms = []
            try:
                await self.flush()  # the headers alone
            except StreamClosedError:
                return
            # Tornado wrote the framing it chose into our headers: follow it.
            chunked = self._headers.get("Transfer-Encoding") == "chunked"
            self._writer = SSEWriter(
                self.detach(), chunked=chunked, on_drained=self._deliver, on_closed=self._end
            )
            streams.add(self)  # so a server that stops can end us (see end_stream)
            self._retry = proto.retry_field(RETRY_MS)  # rides on the first event
            self._wrote_at = loop.time()
            self._ticker = loop.call_later(self.keepalive, self._keep_alive)
            sub.on_ready(self._deliver)
            self._deliver()  # the first batch (snapshots or replay) is already waiting
            await self._ended
        finally:
            streams.discard(self)
            if self._ticker is not None:
                self._ticker.cancel()
            sub.close()
            if self._writer is not None:
                self._writer.close()
                # A detached request never reaches finish(), which logs it.
                self.application.log_request(self)

    def end_stream(self) -> None:
        """End this response now (the server is stopping); the client may reconnect."""
        if self._writer is not None:
            self._writer.close()
        self._end()

    def _deliver(self) -> None:
        sub, writer = self._subscription, self._writer
        if sub is None or writer is None or writer.closed:
            return
        if sub.closed:
            writer.close()
        elif not writer.busy:
            chunk = sub.take()
            if chunk:
                if self._retry:
                    chunk, self._retry = self._retry + chunk, b""
                self._wrote_at = self._ended.get_loop().time()
                writer.send(chunk)

    def _keep_alive(self) -> None:
        loop = self._ended.get_loop()
        idle = loop.time() - self._wrote_at
        writer = self._writer
        if idle >= self.keepalive and writer is not None and not writer.busy:
            self._wrote_at = loop.time()
            writer.send(proto.KEEP_ALIVE)
            idle = 0.0
        self._ticker = loop.call_later(max(0.01, self.keepalive - idle), self._keep_alive)

    def _end(self) -> None:
        if not self._ended.done():
            self._ended.set_result(None)

    def on_connection_close(self) -> None:
        # Before the headers are out (afterwards the writer watches the stream).
        if self._subscription is not None:
            self._subscription.close()
        super().on_connection_close()


class SnapshotHandler(SignalsHandler):
    """``GET SNAPSHOT_PATH``: a JSON array of snapshot messages, to resync one signal."""

    async def get(self) -> None:
        await self.check_subscriber()
        names = self.signal_names()
        try:
            datas = self.hub.snapshots(names)
        except UnknownSignalError as exc:
            raise web.HTTPError(404, str(exc)) from None
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(b"[" + b",".join(datas) + b"]")


def signal_handlers(
    hub: SignalHub,
    prefix: str = "/",
    *,
    token: str | None = None,
    publish_secret: str | None = None,
    keepalive: float = 15.0,
    orphan_grace: float = 10.0,
) -> list[tuple[str, type[web.RequestHandler], dict[str, Any]]]:
    """Routes for any Tornado application: ``web.Application(signal_handlers(hub, "/x/"))``.

    ``token`` guards the subscriber endpoints (``None``: open, for apps that
    authenticate in front). The publish endpoint is mounted only with a
    ``publish_secret``; signals a publisher's WebSocket declared are closed
    ``orphan_grace`` seconds after it drops, unless another publisher takes
    them over.
    """
    base = prefix.rstrip("/") + "/"
    common = {"hub": hub, "token": token, "publish_secret": publish_secret}
    routes: list[tuple[str, type[web.RequestHandler], dict[str, Any]]] = [
        (base + EVENTS_PATH, EventsHandler, {**common, "keepalive": keepalive}),
        (base + SNAPSHOT_PATH, SnapshotHandler, common),
    ]
    if publish_secret is not None:
        publish = {"hub": hub, "secret": publish_secret, "orphan_grace": orphan_grace}
        routes.append((base + PUBLISH_PATH, PublishHandler, publish))
    return routes


signal_handlers.__module__ = "nb_sse_signals"  # its public name (imported on first use)
