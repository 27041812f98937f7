"""The standalone server: a hub and its handlers in a Tornado app, nothing else to start.

``Server(...).start()`` runs it in a background thread (scripts, kernels without
a Jupyter server extension); ``await server.start_async()`` runs it on the
current asyncio loop (the console script). Binds loopback unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import ipaddress
import logging
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any, Self

import orjson
from tornado import httpserver, httputil, web
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream

from ._comm import CommRelay
from ._handlers import OPEN_STREAMS, SignalsHandler, signal_handlers
from ._http_guard import RejectingDelegate, room
from ._hub import SignalHub
from ._limits import Limits
from ._protocol import EVENTS_PATH, token_cookie
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
        if (
            query_token is not None
            and self.subscriber_token is not None
            and hmac.compare_digest(query_token.encode(), self.subscriber_token.encode())
        ):
            # Only a token that is the server's own becomes the cookie.
            # Named after the port: cookies ignore ports, and another server on this
            # host must not overwrite ours (nor we its).
            self.set_cookie(self.token_cookie, query_token, httponly=True, samesite="Strict")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(resources.files("nb_sse_signals").joinpath("demo.html").read_bytes())


class _NotFoundHandler(web.RequestHandler):
    """Any other path: a JSON 404, as every endpoint of the protocol answers."""

    def prepare(self) -> None:
        self.set_status(404)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        path = self.request.path
        self.finish(orjson.dumps({"error": f"expected a path this server serves, got {path!r}"}))


class Server:
    """A standalone signals server. ``url`` includes no token; ``token`` is what subscribers need.

    ``port=0`` picks a free port. ``token=None`` makes a random one; serving with no
    token at all needs ``no_auth=True``, which logs a warning and rejects any host
    but loopback. ``publish_secret=None`` makes a random one for out-of-process
    publishers. ``limits`` bound connections, requests and what the hub holds
    (:class:`Limits`; given with ``hub``, the hub keeps its own).
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
        no_auth: bool = False,
        limits: Limits | None = None,
        redis: str | None = None,
        backplane: RedisBackplane | None = None,
    ) -> None:
        if token == "" and not no_auth:
            raise ValueError(
                "expected a non-empty subscriber token; to serve with none, pass no_auth=True "
                "(loopback only)"
            )
        if no_auth:
            if not _is_loopback(host):
                raise ValueError(
                    f"expected a loopback host with no_auth (anyone who can connect could "
                    f"read every signal), got {host!r}"
                )
            log.warning(
                "nb_sse_signals: serving WITHOUT a subscriber token: any process on this "
                "machine can read every signal"
            )
            token = ""
        self.hub = hub or SignalHub(limits=limits)
        self.limits = self.hub.limits
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
                cookie=token_cookie(self.port),
            ),
            (
                r"/",
                _PageHandler,
                {"hub": self.hub, "token": token, "cookie": token_cookie(self.port)},
            ),
            # The built front end, for the demo page's client.
            (r"/static/(.*)", web.StaticFileHandler, {"path": str(static)}),
        ]
        return web.Application(routes, default_handler_class=_NotFoundHandler)

    async def start_async(self) -> Self:
        """Listen on the current loop; with ``demo``, start the demo publisher too."""
        if self.backplane is not None:
            # Before listening: the first subscriber already gets what Redis has.
            self.backplane.start(self.hub)
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._app = self.make_app()
        limits = self.limits
        self._http = _BoundedHTTPServer(
            self._app,
            max_connections=_connection_cap(limits.connections),
            # Tornado's header timeout: a client that has not sent its request headers
            # by then is cut off (slow-loris); also the keep-alive idle limit.
            idle_connection_timeout=limits.header_timeout,
            body_timeout=limits.idle_timeout,
            # Tornado's own limits sit above ours, so a request over ours gets the
            # JSON answer of _http_guard; far beyond, Tornado cuts the connection.
            max_body_size=room(limits.message_bytes),
            # Headers are buffered whole for every open connection: a small margin,
            # or 10,000 connections could pin 10 GB (room() is for bodies, read once).
            max_header_size=limits.header_bytes + 16 * 1024,
            xheaders=False,
            limits=limits,
        )
        self._http.add_sockets([sock])
        self._loop = asyncio.get_running_loop()
        if self.demo:
            from ._demo import run_demo

            self._demo_task = asyncio.create_task(run_demo(self.hub))
        log.debug("nb_sse_signals: serving at %s", self.url)
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
            # (on this loop: its connection of this loop closes before the loop does)
            await self.backplane.stop_async()

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

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops, for a script that only serves: its last line.

        Ctrl-C (SIGINT), or SIGTERM in the main thread, stops the server cleanly (its
        streams end, so viewers reconnect elsewhere) and returns, as
        ``nb-sse-signals serve`` does. Another thread may :meth:`stop` it. Returns
        whether it stopped (False: ``timeout`` seconds passed first).
        """
        thread = self._thread
        if thread is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        restore = _sigterm_as_interrupt()
        try:
            # Short joins: the main thread takes Ctrl-C between them.
            while thread.is_alive():
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                thread.join(0.2)
        except KeyboardInterrupt:
            self.stop()
        finally:
            restore()
        return True

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _BoundedHTTPServer(httpserver.HTTPServer):
    """Rejects connections past ``max_connections`` at once, and backs off (instead of
    spinning at 100% CPU, as a plain accept loop does) when the process is out of file
    descriptors. Requests over a limit get JSON, not Tornado's bare 400 (_http_guard)."""

    def initialize(
        self, *args: Any, max_connections: int = 10_000, limits: Limits | None = None, **kwargs: Any
    ) -> None:
        super().initialize(*args, **kwargs)
        self.max_connections = max_connections
        self.limits = limits or Limits()
        self.rejected = 0

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        inner = super().start_request(server_conn, request_conn)
        return RejectingDelegate(inner, request_conn, self.limits)

    def add_sockets(self, sockets: Any) -> None:
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = _accept_with_backoff(sock, self._handle_connection)

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        if len(self._connections) >= self.max_connections:
            self.rejected += 1
            if self.rejected == 1 or self.rejected % 1000 == 0:
                log.warning(
                    "nb_sse_signals: rejecting connections past %d open at once (%d so far)",
                    self.max_connections,
                    self.rejected,
                )
            stream.close()
            return
        super().handle_stream(stream, address)


def _accept_with_backoff(
    sock: socket.socket, callback: Any, pause: float = 0.5
) -> Callable[[], None]:
    """``tornado.netutil.add_accept_handler``, but on EMFILE/ENFILE (no file descriptor
    left) it stops accepting for ``pause`` seconds and logs once, instead of retrying
    at once forever with a traceback each time."""
    loop = IOLoop.current()
    removed = False
    paused = False

    def accept(fd: Any, events: int) -> None:
        nonlocal paused
        for _ in range(128):  # as tornado does: at most a listen backlog per wake-up
            if removed:
                return
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE):
                    raise
                if not paused:
                    log.warning("nb_sse_signals: out of file descriptors (%s); pausing accept", exc)
                paused = True
                loop.remove_handler(sock)
                loop.call_later(pause, resume)
                return
            paused = False
            callback(connection, address)

    def resume() -> None:
        if not removed:
            loop.add_handler(sock, accept, IOLoop.READ)

    def remove() -> None:
        nonlocal removed
        if not removed:
            removed = True
            with contextlib.suppress(KeyError, ValueError):
                loop.remove_handler(sock)

    loop.add_handler(sock, accept, IOLoop.READ)
    return remove


def _connection_cap(wanted: int) -> int:
    """``wanted``, kept under the process's open-file limit (with room for the rest)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return wanted
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(16, min(wanted, soft - 64))


def _sigterm_as_interrupt() -> Callable[[], None]:
    """In the main thread, SIGTERM raises KeyboardInterrupt (as Ctrl-C) until the
    returned function puts the previous handler back; elsewhere, nothing."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


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


# Their public names (nb_sse_signals imports this module on first use, so it cannot).
Server.__module__ = serve.__module__ = "nb_sse_signals"
