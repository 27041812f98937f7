"""The endpoints as an ASGI application, to mount in FastAPI or Starlette.

``app.mount("/signals", asgi_app(hub, token=...))`` serves the paths, protocol,
credentials, limits and error bodies of the Tornado handlers (docs/protocol.md):
both are thin adapters around ``_endpoints``. Needs the ``asgi`` extra (Starlette).
One hub may serve Tornado and ASGI viewers at once, on one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import _endpoints as ep
from ._asgi_stream import StreamSender
from ._hub import SignalHub
from ._protocol import (
    EVENTS_PATH,
    MAX_MESSAGE_HEADER,
    PUBLISH_PATH,
    SECRET_HEADER,
    SNAPSHOT_PATH,
    token_cookie,
)

__all__ = ["SignalsApp", "asgi_app"]

log = logging.getLogger("nb_sse_signals")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SignalsApp:
    """The ASGI app :func:`asgi_app` returns. ``hub`` is the hub it serves.

    ASGI servers wait for open responses before they stop, and an event stream
    never ends by itself: call :meth:`end_streams` first (uvicorn: or set its
    ``timeout_graceful_shutdown``). Clients then reconnect with ``Last-Event-ID``.
    """

    def __init__(
        self,
        hub: SignalHub,
        *,
        token: str | None,
        publish_secret: str | None,
        keepalive: float,
        orphan_grace: float,
        keep_orphan: Callable[[str], bool] | None,
    ) -> None:
        self.hub = hub
        self.token = token
        self.publish_secret = publish_secret
        self.keepalive = keepalive
        self.orphan_grace = orphan_grace
        self.keep_orphan = keep_orphan
        self._streams: set[StreamSender] = set()
        self._publishers: set[WebSocket] = set()
        self._closing: set[asyncio.Future[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # run alone (not mounted): nothing to start
            await _lifespan(receive, send)
            return
        path = _route_path(scope)
        if scope["type"] == "websocket":
            if path == "/" + PUBLISH_PATH and self.publish_secret is not None:
                await self._publish_socket(WebSocket(scope, receive, send))
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        request = Request(scope, receive)
        method = request.method
        try:
            if path == "/" + EVENTS_PATH and method == "GET":
                await self._events(request, send)
            elif path == "/" + SNAPSHOT_PATH and method in ("GET", "HEAD"):
                await self._snapshot(request, send)
            elif path == "/" + PUBLISH_PATH and self.publish_secret is not None:
                if method == "GET":  # an HTTP scope: no WebSocket upgrade
                    if not self._has_secret(request.headers):
                        raise ep.publisher_rejected()
                    raise ep.plain_get_rejected()
                if method != "POST":
                    raise ep.Rejection(405, f"expected POST or a WebSocket, got {method}")
                await self._publish_post(request, send)
            elif path in ("/" + EVENTS_PATH, "/" + SNAPSHOT_PATH):
                raise ep.Rejection(405, f"expected GET, got {method}")
            else:
                raise ep.Rejection(404, f"expected a path of nb_sse_signals, got {path!r}")
        except ep.Rejection as rejection:
            # A rejected request's body is never read: close rather than read it as the
            # next request.
            close = method not in ("GET", "HEAD")
            cors = path != "/" + PUBLISH_PATH
            await self._answer(send, rejection.status, rejection.body(), cors=cors, close=close)

    # -- subscribers -------------------------------------------------------------------

    def _check_subscriber(self, request: Request) -> None:
        given = ep.request_token(
            request.headers.get("authorization", ""),
            request.query_params.get("token"),
            # As the standalone server's demo page names it: after the port it serves on.
            request.cookies.get(token_cookie(request.url.port or 0)),
        )
        secret = request.headers.get(SECRET_HEADER, "")
        if not ep.may_subscribe(self.token, self.publish_secret, given, secret):
            raise ep.subscriber_rejected()

    def _cors(self) -> list[tuple[bytes, bytes]]:
        # As the Tornado handlers: with a token, the token is the credential, so a page
        # on another origin may read (EventSource sends no cookies cross-origin).
        return [(b"access-control-allow-origin", b"*")] if self.token is not None else []

    async def _answer(
        self, send: Send, status: int, body: bytes, *, cors: bool, close: bool = False
    ) -> None:
        headers = [
            (b"content-type", ep.JSON_TYPE.encode()),
            (b"cache-control", b"no-cache"),
            (b"content-length", str(len(body)).encode()),
        ]
        if cors:
            headers += self._cors()
        if close:  # a body we did not read must not be taken for the next request
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _snapshot(self, request: Request, send: Send) -> None:
        self._check_subscriber(request)
        names = ep.signal_names(request.query_params.getlist("signal"), self.hub.limits)
        if request.method == "HEAD":  # the status a GET would answer, and nothing else
            ep.snapshot_status(self.hub, names)
            await self._answer(send, 200, b"", cors=True)
            return
        await self._answer(send, 200, ep.snapshot_body(self.hub, names), cors=True)

    async def _events(self, request: Request, send: Send) -> None:
        self._check_subscriber(request)
        query = request.query_params
        names = ep.signal_names(query.getlist("signal"), self.hub.limits)
        fmt = ep.stream_format(query.get("format"))
        cursor = request.headers.get("last-event-id") or query.get("lastEventId")
        sub = ep.subscribe(self.hub, names, cursor)
        done = asyncio.get_running_loop().create_future()
        sender: StreamSender | None = None
        gone: asyncio.Future[None] | None = None
        try:
            headers = [(k.lower().encode(), v.encode()) for k, v in ep.STREAM_HEADERS]
            start = {"type": "http.response.start", "status": 200, "headers": headers}
            await send({**start, "headers": headers + self._cors()})
            body = ep.EventStream(sub, self.keepalive, fmt, done.get_loop().time)
            sender = StreamSender(
                body,
                send,
                lambda: _resolve(done),
                write_timeout=self.hub.limits.write_timeout,
            )
            self._streams.add(sender)  # so end_streams() can end it
            # The client going away is a message on receive(): watch for it all along,
            # so the subscription is dropped at once, not at the next write.
            gone = asyncio.ensure_future(_disconnected(request.receive))
            gone.add_done_callback(lambda _: sender.close() if sender else None)
            sender.start()
            await done
        finally:
            if gone is not None:
                gone.cancel()
            if sender is not None:
                self._streams.discard(sender)
                sender.close()
            sub.close()

    def end_streams(self) -> None:
        """End every open event stream and publish WebSocket now (on the hub's loop)."""
        for stream in list(self._streams):
            stream.end()
        for socket in list(self._publishers):
            task = asyncio.ensure_future(_close_quietly(socket))
            self._closing.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._closing.discard)

    # -- publishers --------------------------------------------------------------------

    def _has_secret(self, headers: Any) -> bool:
        return ep.same_secret(headers.get(SECRET_HEADER, ""), self.publish_secret)

    async def _publish_post(self, request: Request, send: Send) -> None:
        # The secret, then the declared length, before a byte of the body is read.
        if not self._has_secret(request.headers):
            raise ep.publisher_rejected()
        limits = self.hub.limits
        too_big = ep.declared_length_rejection(request.headers.get("content-length"), limits)
        if too_big is not None:
            await self._answer(send, too_big.status, too_big.body(), cors=False, close=True)
            return
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.message_bytes:  # chunked, with no length announced
                rejection = ep.Rejection(
                    413, limits.rejection("message_bytes", f"more than {size:,}")
                )
                await self._answer(send, 413, rejection.body(), cors=False, close=True)
                return
            chunks.append(chunk)
        status, body = await ep.publish_post(self.hub, b"".join(chunks))
        await self._answer(send, status, body, cors=False)

    async def _publish_socket(self, socket: WebSocket) -> None:
        if not self._has_secret(socket.headers):
            rejection = ep.publisher_rejected()
            await _deny(socket, rejection.status, rejection.body())
            return
        limit = self.hub.limits.message_bytes
        # Sent with the handshake reply: a publisher that knows the limit never sends a
        # frame we would have to close the connection over (1009).
        await socket.accept(headers=[(MAX_MESSAGE_HEADER.lower().encode(), str(limit).encode())])
        self._publishers.add(socket)
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text: str | None = message.get("text")
                frame: str | bytes = text if text is not None else message.get("bytes") or b""
                if len(frame) > limit:
                    await socket.close(1009, "message too big")
                    break
                # This connection owns what it declares (ep.reap_when_gone).
                reply = await ep.reply_to_frame(self.hub, frame, socket)
                assert reply is not None  # (given no early send, it returns the reply)
                if text is not None:
                    await socket.send({"type": "websocket.send", "text": reply.decode()})
                else:
                    await socket.send({"type": "websocket.send", "bytes": reply})
                # Let the event streams run before the next frame, so a fast publisher
                # cannot fill a fast subscriber's buffer.
                await asyncio.sleep(0)
        except (WebSocketDisconnect, OSError):
            pass  # the publisher left while we answered
        finally:
            self._publishers.discard(socket)
            ep.reap_when_gone(self.hub, socket, self.orphan_grace, self.keep_orphan)


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _deny(socket: WebSocket, status: int, body: bytes) -> None:
    """Reject a WebSocket handshake with an HTTP answer where the server can send one
    (the ASGI denial-response extension), else with a close before accepting."""
    if "websocket.http.response" in socket.scope.get("extensions", {}):
        headers = [(b"content-type", ep.JSON_TYPE.encode())]
        await socket.send(
            {"type": "websocket.http.response.start", "status": status, "headers": headers}
        )
        await socket.send({"type": "websocket.http.response.body", "body": body})
    else:
        await socket.close(1008)


async def _close_quietly(socket: WebSocket) -> None:
    with contextlib.suppress(RuntimeError, OSError):  # already closing
        await socket.close(1001)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _route_path(scope: Scope) -> str:
    # Mounted (Starlette's Mount, or a server's --root-path), the path still starts
    # with the mount point, given as root_path.
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path


def asgi_app(
    hub: SignalHub | None = None,
    *,
    token: str | None,
    publish_secret: str | None = None,
    keepalive: float = 15.0,
    orphan_grace: float = 10.0,
    keep_orphan: Callable[[str], bool] | None = None,
) -> SignalsApp:
    """An ASGI app serving ``hub`` (a new one if None) at ``nb-sse-signals/events``,
    ``/snapshot`` and ``/publish`` under wherever it is mounted.

    ``token`` guards the subscriber endpoints, as on the standalone server (a header
    ``Authorization: token T``, ``?token=T`` or its cookie); ``None`` serves them
    open, for apps that authenticate in front. The publish endpoint (POST and
    WebSocket) is served only with a ``publish_secret``. ``keepalive``,
    ``orphan_grace`` and ``keep_orphan`` are those of :func:`signal_handlers`.
    """
    return SignalsApp(
        hub or SignalHub(),
        token=token,
        publish_secret=publish_secret,
        keepalive=keepalive,
        orphan_grace=orphan_grace,
        keep_orphan=keep_orphan,
    )


asgi_app.__module__ = "nb_sse_signals"  # its public name, as for the eager ones
