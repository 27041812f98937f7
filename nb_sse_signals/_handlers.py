"""Tornado handlers for subscribers: the SSE stream and snapshots; see :func:`signal_handlers`.

Authentication is one overridable method, :meth:`SignalsHandler.authorize`:
a token on the standalone server, Jupyter's own auth in the server extension
(see ``_serverext``). Every rejection is a JSON body ``{"error": ...}``.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_right
from itertools import accumulate
from typing import Any

import orjson
from tornado import web
from tornado.iostream import StreamClosedError

from . import _endpoints as ep
from . import _protocol as proto
from ._hub import SignalHub, Subscription
from ._protocol import EVENTS_PATH, PUBLISH_PATH, SECRET_HEADER, SNAPSHOT_PATH, TOKEN_COOKIE
from ._publish_endpoint import PublishHandler
from ._sse_writer import SSEWriter

log = logging.getLogger("nb_sse_signals")

OPEN_STREAMS = "nb_sse_signals.open_streams"  # app setting: live EventsHandlers
RETRY_MS = ep.RETRY_MS
WINDOW = 32 * 1024  # bytes of frames handed to a stream's writer at a time


class SignalsHandler(web.RequestHandler):
    """Shared plumbing: the hub, the subscriber check, JSON errors."""

    hub: SignalHub
    subscriber_token: str | None
    publish_secret: str | None
    token_cookie: str

    def initialize(
        self,
        hub: SignalHub,
        token: str | None = None,
        publish_secret: str | None = None,
        cookie: str = TOKEN_COOKIE,
        **_: Any,
    ) -> None:
        """``cookie``: the name of the cookie that may carry the token (the demo page's)."""
        self.hub = hub
        self.subscriber_token = token
        self.publish_secret = publish_secret
        self.token_cookie = cookie
        self._allow_cross_origin()

    async def authorize(self) -> bool:
        """True if the request may read signals. Default: the standalone server's token.

        A holder of the publish secret may read too (a kernel following a signal
        it does not publish); the reverse is never true.
        """
        given = ep.request_token(
            self.request.headers.get("Authorization", ""),
            self.get_argument("token", None),
            self.get_cookie(self.token_cookie),
        )
        return ep.may_subscribe(
            self.subscriber_token,
            self.publish_secret,
            given,
            self.request.headers.get(SECRET_HEADER, ""),
        )

    def has_publish_secret(self) -> bool:
        return ep.same_secret(self.request.headers.get(SECRET_HEADER, ""), self.publish_secret)

    async def check_subscriber(self) -> None:
        if not await self.authorize():
            raise _http_error(ep.subscriber_rejected())

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
        # What tornado logs for every request and rejection: never the token.
        uri = proto.scrub_uri(self.request.uri or "")
        return f"{self.request.method} {uri} ({self.request.remote_ip})"

    def signal_names(self) -> list[str]:
        try:
            return ep.signal_names(self.get_arguments("signal"), self.hub.limits)
        except ep.Rejection as rejection:
            raise _http_error(rejection) from None


def _http_error(rejection: ep.Rejection) -> web.HTTPError:
    return web.HTTPError(rejection.status, rejection.message)


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
    _stream: ep.EventStream | None = None
    _writer: SSEWriter | None = None
    _ticker: asyncio.TimerHandle | None = None

    def initialize(
        self,
        hub: SignalHub,
        token: str | None = None,
        publish_secret: str | None = None,
        cookie: str = TOKEN_COOKIE,
        keepalive: float = 15.0,
        **_: Any,
    ) -> None:
        super().initialize(hub, token, publish_secret, cookie)
        self.keepalive = keepalive
        # Frames taken from the subscription, not yet handed to the writer: the hub's
        # own bytes (the list take_frames gave, references), from _queued on, fed
        # WINDOW bytes at a time as the socket takes them.
        self._queue: list[bytes] = []
        self._queued = 0

    async def get(self) -> None:
        await self.check_subscriber()
        names = self.signal_names()
        cursor = self.request.headers.get("Last-Event-ID") or self.get_argument("lastEventId", None)
        streams: set[EventsHandler] = self.application.settings.setdefault(OPEN_STREAMS, set())
        try:
            fmt = ep.stream_format(self.get_argument("format", None))
            sub = ep.subscribe(self.hub, names, cursor)
        except ep.Rejection as rejection:
            raise _http_error(rejection) from None
        self._subscription = sub
        loop = asyncio.get_running_loop()
        self._ended: asyncio.Future[None] = loop.create_future()
        try:
            for header, value in ep.STREAM_HEADERS:
                self.set_header(header, value)
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
                self.detach(),
                chunked=chunked,
                on_drained=self._deliver,
                on_closed=self._end,
                write_timeout=self.hub.limits.write_timeout,
            )
            streams.add(self)  # so a server that stops can end us (see end_stream)
            self._stream = ep.EventStream(sub, self.keepalive, fmt, loop.time)
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
        stream, writer = self._stream, self._writer
        if stream is None or writer is None or writer.closed:
            return
        if stream.sub.closed:
            writer.close()
        else:
            # Streamed: a window of the hub's own frames at a time (references, never a
            # copy per subscriber), the next once the socket took it; a replay comes a
            # part at a time from history. A reader that stops holds a window in the
            # writer and a part here, whatever it asked for.
            while not writer.busy and not writer.closed:
                if self._queued >= len(self._queue):
                    self._queue, self._queued = stream.take_frames(), 0
                    if not self._queue:
                        break
                part = self._queue[self._queued :] if self._queued else self._queue
                size = sum(map(len, part))  # at C speed: no walk per frame
                if size > WINDOW:  # as many as fit in a window, at least one
                    ends = list(accumulate(map(len, part)))
                    fit = max(1, bisect_right(ends, WINDOW))
                    part, size = part[:fit], ends[fit - 1]
                self._queued += len(part)
                writer.send_frames(part, size)
            if self._queued >= len(self._queue):
                self._queue, self._queued = [], 0  # let the references go

    def _keep_alive(self) -> None:
        stream, writer = self._stream, self._writer
        again = self.keepalive
        if stream is not None and writer is not None and not writer.busy:
            comment, again = stream.keep_alive()
            writer.send(comment)
        self._ticker = self._ended.get_loop().call_later(again, self._keep_alive)

    def _end(self) -> None:
        if not self._ended.done():
            self._ended.set_result(None)

    def on_connection_close(self) -> None:
        # Before the headers are out (afterwards the writer watches the stream).
        if self._subscription is not None:
            self._subscription.close()
        super().on_connection_close()


class SnapshotHandler(SignalsHandler):
    """``GET SNAPSHOT_PATH``: a JSON array of snapshot messages, to resync one signal.
    ``HEAD``: the status a ``GET`` would answer, and nothing else."""

    async def head(self) -> None:
        # The browser's failure probe asks only this (why did the stream fail?): the
        # same checks, a direct lookup per name, no snapshot built, no body sent.
        await self.check_subscriber()
        try:
            ep.snapshot_status(self.hub, self.signal_names())
        except ep.Rejection as rejection:
            raise _http_error(rejection) from None
        self.set_header("Cache-Control", "no-cache")
        self.finish()

    async def get(self) -> None:
        await self.check_subscriber()
        names = self.signal_names()
        try:
            body = ep.snapshot_body(self.hub, names)
        except ep.Rejection as rejection:
            raise _http_error(rejection) from None
        self.set_header("Content-Type", ep.JSON_TYPE)
        self.set_header("Cache-Control", "no-cache")
        self.finish(body)


def signal_handlers(
    hub: SignalHub,
    prefix: str = "/",
    *,
    token: str | None = None,
    publish_secret: str | None = None,
    keepalive: float = 15.0,
    orphan_grace: float = 10.0,
    cookie: str = TOKEN_COOKIE,
) -> list[tuple[str, type[web.RequestHandler], dict[str, Any]]]:
    """Routes for any Tornado application: ``web.Application(signal_handlers(hub, "/x/"))``.

    ``token`` guards the subscriber endpoints (``None``: open, for apps that
    authenticate in front). The publish endpoint is mounted only with a
    ``publish_secret``; signals a publisher's WebSocket declared are closed
    ``orphan_grace`` seconds after it drops, unless another publisher takes
    them over. ``cookie``: the cookie that may carry the token (the standalone server
    names it after its port, :func:`token_cookie`).
    """
    base = prefix.rstrip("/") + "/"
    common = {"hub": hub, "token": token, "publish_secret": publish_secret, "cookie": cookie}
    routes: list[tuple[str, type[web.RequestHandler], dict[str, Any]]] = [
        (base + EVENTS_PATH, EventsHandler, {**common, "keepalive": keepalive}),
        (base + SNAPSHOT_PATH, SnapshotHandler, common),
    ]
    if publish_secret is not None:
        publish = {"hub": hub, "secret": publish_secret, "orphan_grace": orphan_grace}
        routes.append((base + PUBLISH_PATH, PublishHandler, publish))
    return routes


signal_handlers.__module__ = "nb_sse_signals"  # its public name (imported on first use)
