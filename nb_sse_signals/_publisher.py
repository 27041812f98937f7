"""The publisher: a background thread that carries signal changes to a hub, rate-limited.

Why a thread of its own: the kernel's main thread (and the asyncio loop on it)
stalls while a cell runs, and publishing must keep flowing then. Signals record
their changes as serialised ops under their own lock (any thread), and ask the
publisher to send; the publisher sends each signal at most ``max_rate`` times a
second, everything due in one loop turn as one request. The last change always
goes out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
import warnings
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from ._errors import SignalsError
from ._transport import HubTransport, SocketTransport, Transport, TransportError

if TYPE_CHECKING:
    from ._hub import SignalHub
    from ._server import Server
    from ._signal import ServerSignal

log = logging.getLogger("nb_sse_signals")
T = TypeVar("T")

ENV_URL = "NB_SSE_SIGNALS_URL"  # the Jupyter server, as kernels reach it (loopback)
ENV_SECRET = "NB_SSE_SIGNALS_PUBLISH_SECRET"
ENV_BASE_URL = "NB_SSE_SIGNALS_BASE_URL"  # the server's base_url, for paths browsers use


class Publisher:
    """Owns a hub connection and the thread that feeds it. Thread-safe; see module docs.

    Build one with :meth:`for_hub`, :meth:`for_server`, :meth:`connect`, or let
    :func:`default_publisher` pick (server extension, else a standalone server).
    """

    def __init__(self, transport: Transport | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, name="nb_sse_signals-publisher", daemon=True
        )
        self._thread.start()
        self.transport: Transport = transport if transport is not None else _NoTransport()
        self.server: Server | None = None
        self._owns_server = False  # a server on this publisher's own loop, stopped with it
        self._signals: dict[str, ServerSignal] = {}
        self._due: dict[str, ServerSignal] = {}
        self._sending: asyncio.Task[None] | None = None
        self._closed = False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    # -- construction -------------------------------------------------------------------

    @classmethod
    def for_hub(cls, hub: SignalHub, events_url: str = "", token: str | None = None) -> Publisher:
        """Publish straight into a :class:`SignalHub` in this process."""
        return cls(HubTransport(hub, events_url, token))

    @classmethod
    def for_server(cls, server: Server) -> Publisher:
        """Publish into a standalone :class:`Server` running in this process."""
        publisher = cls.for_hub(server.hub, server.url + "nb-sse-signals/events", server.token)
        publisher.server = server
        return publisher

    @classmethod
    def connect(
        cls, url: str, secret: str, events_url: str | None = None, timeout: float = 10.0
    ) -> Publisher:
        """Publish over the WebSocket of a hub in another process (``url``: its base URL)."""
        events = events_url or url.rstrip("/") + "/nb-sse-signals/events"
        transport = SocketTransport(url, secret, events, connect_timeout=timeout)
        publisher = cls(transport)
        transport.on_reconnect = publisher._redeclare_all
        try:
            publisher.run(transport._connect(), timeout + 1)
        except BaseException:
            publisher.shutdown()
            raise
        return publisher

    @classmethod
    def standalone(cls, **server_options: Any) -> Publisher:
        """Start a standalone server on this publisher's own thread, and publish into it."""
        from ._server import Server

        publisher = cls()
        server = Server(**server_options)
        publisher.run(server.start_async(), 10)
        publisher.transport = HubTransport(
            server.hub, server.url + "nb-sse-signals/events", server.token
        )
        publisher.server = server
        publisher._owns_server = True
        return publisher

    # -- signals (any thread) -----------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coro`` on the publisher's loop and wait for it (not from that loop)."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the signals hub did not answer within {timeout} s") from None

    def declare(self, signal: ServerSignal, message: bytes, timeout: float = 10.0) -> int:
        """Create ``signal`` on the hub and wait for the hub's answer, so viewers can subscribe.

        A signal of this process with the same key (the cell that made it ran again)
        is superseded: it stops publishing, and the new one takes over its viewers.
        """
        old = self._signals.get(signal.key)
        if old is not None and old is not signal:
            old._supersede()
        (reply,) = self.run(self.transport.request([message]), timeout)
        if not reply.get("ok"):
            raise SignalsError(f"the hub refused signal {signal.key!r}: {reply.get('error')}")
        self._signals[signal.key] = signal
        return int(reply["rev"])

    def schedule(self, signal: ServerSignal) -> None:
        """Ask for ``signal``'s pending changes to be sent (when its rate limit allows)."""
        if not self._closed:
            self._loop.call_soon_threadsafe(self._schedule, signal)

    def _schedule(self, signal: ServerSignal) -> None:
        delay = signal._next_send - self._loop.time()
        if delay > 0:
            self._loop.call_later(delay, self._mark_due, signal)
        else:
            self._mark_due(signal)

    def _mark_due(self, signal: ServerSignal) -> None:
        if self._closed:
            return  # shutting down: no new work on a loop about to stop
        self._due[signal.key] = signal
        if self._sending is None or self._sending.done():
            self._sending = self._loop.create_task(self._send_due())

    async def _send_due(self) -> None:
        await asyncio.sleep(0)  # let everything due in this loop turn join the batch
        while self._due:
            due, self._due = list(self._due.values()), {}
            now = self._loop.time()
            batch: list[tuple[ServerSignal, bytes, Callable[[int], None]]] = []
            for signal in due:
                taken = signal._take(now)
                if taken is not None:
                    batch.append((signal, *taken))
            if batch:
                await self._send(batch)

    async def _send(self, batch: list[tuple[ServerSignal, bytes, Callable[[int], None]]]) -> None:
        try:
            replies = await self.transport.request([message for _, message, _ in batch])
        except TransportError as exc:
            log.warning("nb_sse_signals: %s; will resend the whole values", exc)
            replies = [{"ok": False, "error": str(exc)}] * len(batch)
        for (signal, _, sent), reply in zip(batch, replies, strict=True):
            if reply.get("ok"):
                try:
                    sent(int(reply.get("rev", 0)))
                except Exception:  # a user's observer must not stop the publisher
                    log.exception("nb_sse_signals: an observer of %s failed", signal.key)
            else:
                # The hub's copy and ours disagree (hub restarted, a lost message):
                # send the whole value next time, the hub sends viewers the difference.
                log.warning(
                    "nb_sse_signals: %s: %s; resending its value", signal.key, reply.get("error")
                )
                signal._needs_declare = True
                self._loop.call_later(0.5, self._mark_due, signal)

    async def _redeclare_all(self) -> None:
        for signal in list(self._signals.values()):
            signal._needs_declare = True
            self._mark_due(signal)

    def flush(self, timeout: float = 10.0) -> None:
        """Send every pending change now, ignoring rate limits, and wait until the hub has it."""

        async def flush_all() -> None:
            for signal in list(self._signals.values()):
                signal._next_send = 0.0
                self._due[signal.key] = signal
            if self._sending is not None and not self._sending.done():
                await self._sending
            await self._send_due()

        self.run(flush_all(), timeout)

    def close_signal(self, signal: ServerSignal, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self._signals.pop(signal.key, None)
        message = orjson.dumps({"op": "close", "name": signal.key})
        try:
            self.run(self.transport.request([message]), timeout)
        except (TransportError, TimeoutError) as exc:
            log.warning("nb_sse_signals: could not tell the hub %s closed: %s", signal.key, exc)

    @property
    def signals(self) -> list[ServerSignal]:
        return list(self._signals.values())

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the thread (and a standalone server it runs). Signals are not closed."""
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            sending = self._sending
            if sending is not None and not sending.done():
                sending.cancel()  # a task left pending would be destroyed with the loop
                with contextlib.suppress(asyncio.CancelledError):
                    await sending
            await self.transport.close()
            if self.server is not None and self._owns_server:
                await self.server.stop_async()

        try:
            self.run(stop(), timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._loop.close()


class _NoTransport:
    """Stands in until a constructor sets the real transport."""

    events_url: str = ""
    token: str | None = None

    async def request(self, messages: list[bytes]) -> list[dict[str, Any]]:
        raise TransportError("this publisher has no hub yet")

    async def close(self) -> None:
        return None


_default: Publisher | None = None
_default_lock = threading.Lock()


def default_publisher() -> Publisher:
    """The process's publisher: the Jupyter server extension if reachable, else a standalone server.

    Kernels started by a Jupyter server with the extension inherit its address and
    publish secret in their environment; anything else gets an in-process server.
    """
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            _default = _discover()
        return _default


def existing_default_publisher() -> Publisher | None:
    """The process's publisher if one was started (never starts one)."""
    return _default


def reset_default_publisher() -> None:
    """Shut the default publisher down (``%unload_ext`` and tests); the next use starts anew."""
    global _default
    with _default_lock:
        publisher, _default = _default, None
    if publisher is not None:
        publisher.shutdown()


def _discover() -> Publisher:
    url, secret = os.environ.get(ENV_URL), os.environ.get(ENV_SECRET)
    if url and secret:
        base = os.environ.get(ENV_BASE_URL, "/")
        try:
            return Publisher.connect(
                url, secret, events_url=base.rstrip("/") + "/nb-sse-signals/events", timeout=5
            )
        except (TransportError, TimeoutError) as exc:
            reason = f"the Jupyter server extension at {url} is unreachable ({exc})"
    else:
        reason = "no nb_sse_signals server extension is running"
    publisher = Publisher.standalone()
    assert publisher.server is not None
    if os.environ.get("JPY_PARENT_PID") or url:
        # In a kernel of a Jupyter server without our extension: the browser may be on
        # another machine, where 127.0.0.1 is not this one.
        warnings.warn(
            f"nb_sse_signals: {reason}; serving signals from {publisher.server.url}, which a "
            "browser on another machine cannot reach. Install nb_sse_signals in the Jupyter "
            "server's environment to stream through it.",
            RuntimeWarning,
            stacklevel=3,
        )
    else:
        log.info("nb_sse_signals: %s; serving signals at %s", reason, publisher.server.url)
    return publisher
