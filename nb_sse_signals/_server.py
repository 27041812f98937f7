"""The standalone server: a hub and its handlers in a Tornado app, nothing else to start.

``Server(...).start()`` runs it in a background thread (scripts, kernels without
a Jupyter server extension); ``await server.start_async()`` runs it on the
current asyncio loop (the console script). Binds loopback unless told otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import threading
from importlib import resources
from typing import TYPE_CHECKING, Any, Self

from tornado import httpserver, web

from ._comm import CommRelay
from ._handlers import OPEN_STREAMS, SignalsHandler, signal_handlers
from ._hub import SignalHub
from ._protocol import EVENTS_PATH, TOKEN_COOKIE
from ._publish_endpoint import OPEN_PUBLISHERS
from ._publisher import Publisher

if TYPE_CHECKING:  # imported when used: the backplane needs the optional `redis` package
    from ._redis import RedisBackplane

log = logging.getLogger("nb_sse_signals")


class _PageHandler(SignalsHandler):
    """``/``: the demo page. ``/?token=T`` sets a cookie, so its EventSource needs no token."""

    async def get(self) -> None:
        query_token = self.get_argument("token", None)
        if not await self.authorize():
            self.set_status(403)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(
                "Forbidden: open the URL that `nb-sse-signals serve` printed (with ?token=)."
            )
            return
        if query_token is not None:
            self.set_cookie(TOKEN_COOKIE, query_token, httponly=True, samesite="Strict")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(resources.files("nb_sse_signals").joinpath("demo.html").read_bytes())


class Server:
    """A standalone signals server. ``url`` includes no token; ``token`` is what subscribers need.

    ``port=0`` picks a free port. ``token=None`` makes a random one (``token=""``
    disables it: only for apps that authenticate in front of us).
    ``publish_secret=None`` makes a random one for out-of-process publishers.
    ``redis="redis://host:port/db"`` (or a ``backplane=RedisBackplane(...)`` with
    options) shares the hub's signals with every other hub on that Redis.
    """

    def __init__(
        self,
        hub: SignalHub | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        publish_secret: str | None = None,
        keepalive: float = 15.0,
        orphan_grace: float = 10.0,
        demo: bool = False,
        redis: str | None = None,
        backplane: RedisBackplane | None = None,
    ) -> None:
        self.hub = hub or SignalHub()
        if redis is not None and backplane is None:
            from ._redis import RedisBackplane

            backplane = RedisBackplane(redis)
        self.backplane = backplane
        self.host = host
        self.port = port
        self.token = secrets.token_urlsafe(24) if token is None else token
        self.publish_secret = publish_secret or secrets.token_urlsafe(32)
        self.keepalive = keepalive
        self.orphan_grace = orphan_grace
        self.demo = demo
        self._http: httpserver.HTTPServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._demo_task: asyncio.Task[None] | None = None
        self._publisher: Publisher | None = None
        self._relay: CommRelay | None = None

    @property
    def publisher(self) -> Publisher:
        """The publisher for ``ServerSignal(..., server=this)``: made once, owned by the
        server, which sends what is pending and stops it when the server stops."""
        if self._publisher is None:
            self._publisher = Publisher.for_hub(self.hub, self.url + EVENTS_PATH, self.token)
        return self._publisher

    def comm_relay(self) -> CommRelay:
        """Relays this server's signals to widget comms (``transport="comm"``); made once."""
        if self._loop is None:
            raise RuntimeError("start the server before relaying its signals")
        if self._relay is None:
            self._relay = CommRelay(self.hub, self._loop)
        return self._relay

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def page_url(self) -> str:
        """The URL to open in a browser: the page, with the token that sets the cookie."""
        return f"{self.url}?token={self.token}" if self.token else self.url

    def make_app(self) -> web.Application:
        token = self.token or None
        static = resources.files("nb_sse_signals").joinpath("static")
        routes: list[Any] = [
            *signal_handlers(
                self.hub,
                "/",
                token=token,
                publish_secret=self.publish_secret,
                keepalive=self.keepalive,
                orphan_grace=self.orphan_grace,
            ),
            (r"/", _PageHandler, {"hub": self.hub, "token": token}),
            # The built front end, for the demo page's client.
            (r"/static/(.*)", web.StaticFileHandler, {"path": str(static)}),
        ]
        return web.Application(routes)

    async def start_async(self) -> Self:
        """Listen on the current loop; with ``demo``, start the demo publisher too."""
        if self.backplane is not None:
            # Before listening: the first subscriber already gets what Redis has.
            self.backplane.start(self.hub)
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._app = self.make_app()
        self._http = httpserver.HTTPServer(self._app)
        self._http.add_sockets([sock])
        self._loop = asyncio.get_running_loop()
        if self.demo:
            from ._demo import run_demo

            self._demo_task = asyncio.create_task(run_demo(self.hub))
        log.debug("serving at %s", self.url)
        return self

    async def stop_async(self) -> None:
        if self._demo_task is not None:
            self._demo_task.cancel()
            self._demo_task = None
        if self._http is not None:
            self._http.stop()
            self._end_detached()
            await self._http.close_all_connections()
            # A request that was still flushing its headers may have detached while
            # close_all_connections went round: end those too.
            self._end_detached()
            self._http = None
        if self.backplane is not None:
            self.backplane.stop()

    def _end_detached(self) -> None:
        # Publish WebSockets and event streams are detached from Tornado's HTTP
        # server, which therefore cannot close them: end each, so clients see the
        # end (browsers then reconnect).
        settings = self._app.settings
        for publisher in list(settings.get(OPEN_PUBLISHERS, ())):
            publisher.close()
        for stream in list(settings.get(OPEN_STREAMS, ())):
            stream.end_stream()

    def start(self, timeout: float = 10.0) -> Self:
        """Run in a daemon thread with its own event loop; returns once it listens. Idempotent."""
        if self._thread is not None and self._thread.is_alive():
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # report to the starting thread, then give up
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop_async())
                # Let the closed connections' handlers finish (as asyncio.run does),
                # rather than destroy their tasks pending with the loop.
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="nb_sse_signals-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"the signals server did not start within {timeout} s")
        if failure:
            raise failure[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a server started with :meth:`start`; closes every connection. Idempotent."""
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.flush(timeout)
            publisher.shutdown(timeout)
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def serve(**kwargs: Any) -> Server:
    """Start a standalone server in a background thread: ``serve(port=8765).hub.set(...)``."""
    return Server(**kwargs).start()
