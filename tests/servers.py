"""The two servers the protocol suite runs against: the standalone Tornado ``Server`` and
the ASGI app under a real uvicorn, each on loopback in a thread of its own, stopped by
its own shutdown. Both expose what the tests use: ``url``, ``port``, ``hub``,
``token``, ``publish_secret``, ``_loop``, ``start()`` and ``stop()``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Self

import uvicorn

from nb_sse_signals import SignalHub, asgi_app
from nb_sse_signals._server import Server

KINDS = ("tornado", "asgi")


class AsgiServer:
    """``asgi_app(hub, ...)`` mounted in a Starlette app at ``mount``, under uvicorn
    (httptools and websockets, as ``uvicorn[standard]`` runs it) on 127.0.0.1."""

    def __init__(
        self,
        hub: SignalHub | None = None,
        *,
        token: str,
        publish_secret: str,
        keepalive: float = 15.0,
        orphan_grace: float = 10.0,
        port: int = 0,
        mount: str = "/signals",
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        from starlette.applications import Starlette
        from starlette.routing import Mount

        self.app = asgi_app(
            hub,
            token=token,
            publish_secret=publish_secret,
            keepalive=keepalive,
            orphan_grace=orphan_grace,
        )
        self.hub = self.app.hub
        self.token = token
        self.publish_secret = publish_secret
        self.mount = mount
        self.port = port
        self._shared_loop = loop  # serve on another server's loop (one hub, two servers)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._served: concurrent.futures.Future[Any] | None = None
        self._failure: BaseException | None = None
        self.outer = Starlette(routes=[Mount(mount, app=self.app)])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.mount}/"

    def start(self, timeout: float = 10.0) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.outer,
            http="httptools",
            ws="websockets-sansio",
            lifespan="off",
            log_level="warning",
            access_log=False,
        )
        self._uvicorn = server = uvicorn.Server(config)
        if self._shared_loop is not None:
            self._loop = self._shared_loop
            self._served = asyncio.run_coroutine_threadsafe(
                server.serve(sockets=[sock]), self._shared_loop
            )
        else:
            ready = threading.Event()

            def run() -> None:
                loop = asyncio.new_event_loop()
                self._loop = loop
                ready.set()
                try:
                    loop.run_until_complete(server.serve(sockets=[sock]))
                except BaseException as exc:  # reported by start(), not lost in the thread
                    self._failure = exc
                finally:
                    loop.close()

            self._thread = threading.Thread(target=run, name="test-uvicorn", daemon=True)
            self._thread.start()
            ready.wait(timeout)
        _wait_started(server, timeout, lambda: self._failure)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """End the open streams (uvicorn waits for open responses), then uvicorn's own
        shutdown; wait until it has stopped."""
        server, loop = self._uvicorn, self._loop
        if server is None or loop is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(self.app.end_streams)
        server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "uvicorn did not stop"
        elif self._served is not None:
            self._served.result(timeout)
        self._uvicorn = None


def _wait_started(
    server: uvicorn.Server, timeout: float, failure: Callable[[], BaseException | None]
) -> None:
    deadline = time.monotonic() + timeout
    while not server.started:
        error = failure()
        if error is not None:
            raise RuntimeError("uvicorn failed to start") from error
        if time.monotonic() > deadline:
            raise TimeoutError(f"uvicorn did not start within {timeout} s")
        time.sleep(0.01)


def start_server(kind: str, hub: SignalHub | None = None, **kwargs: Any) -> Any:
    """A started server of ``kind`` ("tornado" or "asgi") with the Server's keywords."""
    if kind == "tornado":
        return Server(hub, **{"port": 0, **kwargs}).start()
    return AsgiServer(hub, **kwargs).start()
