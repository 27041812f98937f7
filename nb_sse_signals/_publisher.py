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
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from . import _codec
from ._errors import SignalsError
from ._outbox import Outbox, Parcel
from ._protocol import EVENTS_PATH
from ._transport import TOO_BIG, HubTransport, SocketTransport, Transport, TransportError

if TYPE_CHECKING:
    from ._hub import SignalHub

log = logging.getLogger("nb_sse_signals")
T = TypeVar("T")


class Outgoing(Protocol):
    """A signal as the readers of ``Publisher.signals`` see it (``%signals``,
    ``%unload_ext``); ``ServerSignal`` is the one there is. What the publisher sends
    comes from the signal's :class:`Outbox`, given with it to :meth:`Publisher.declare`.
    """

    key: str
    name: str

    # For readers of ``Publisher.signals`` (``%signals``, ``%unload_ext``):
    @property
    def url(self) -> str: ...

    @property
    def served(self) -> bool: ...

    def close(self) -> None: ...


class Publisher:
    """Owns a hub connection and the thread that feeds it. Thread-safe; see module docs.

    Build one with :meth:`for_hub` or :meth:`connect`; ``Server.publisher`` is the
    one for a standalone server, and ``default_publisher()`` (``_default``) picks
    for a kernel. Whoever builds a publisher shuts it down.
    """

    def __init__(
        self, transport: Transport, *, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """``loop``: run on this (running) loop instead of a thread of our own, for
        Pythons without threads (Pyodide, in JupyterLite). Only an in-process hub can be
        published to then: waiting for a network reply would need the thread."""
        self._thread: threading.Thread | None = None
        if loop is None:
            # The thread makes its loop, so that where no thread can start (RuntimeError)
            # nothing else (a loop's self-pipe socket) was made first.
            made: list[asyncio.AbstractEventLoop] = []
            ready = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(made, ready), name="nb_sse_signals-publisher", daemon=True
            )
            self._thread.start()
            ready.wait()
            self._loop = made[0]
        else:
            self._loop = loop
        self.transport = transport
        self._signals: dict[str, Outgoing] = {}
        self._outboxes: dict[str, Outbox] = {}  # the signals' own, by the same keys
        self._due: dict[str, Outbox] = {}
        self._sending: asyncio.Task[None] | None = None
        self._closed = False

    def _run(self, made: list[asyncio.AbstractEventLoop], ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        made.append(loop)
        ready.set()
        loop.run_forever()

    # -- construction -------------------------------------------------------------------

    @classmethod
    def for_hub(
        cls,
        hub: SignalHub,
        events_url: str = "",
        token: str | None = None,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Publisher:
        """Publish straight into a :class:`SignalHub` in this process."""
        return cls(HubTransport(hub, events_url, token), loop=loop)

    @classmethod
    def connect(
        cls, url: str, secret: str, events_url: str | None = None, timeout: float = 10.0
    ) -> Publisher:
        """Publish over the WebSocket of a hub in another process (``url``: its base URL)."""
        events = events_url or url.rstrip("/") + "/" + EVENTS_PATH
        transport = SocketTransport(url, secret, events, connect_timeout=timeout)
        publisher = cls(transport)
        transport.on_reconnect = publisher._redeclare_all
        try:
            publisher.run(transport._connect(), timeout + 1)
        except BaseException:
            publisher.shutdown()
            raise
        return publisher

    # -- signals (any thread) -----------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coro`` on the publisher's loop and wait for it (not from that loop).

        Without a thread of our own, ``coro`` runs at once, here, and must finish
        without waiting for anything (an in-process hub's requests do).
        """
        if self._thread is None:
            return _run_now(coro)
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the signals hub did not answer within {timeout} s") from None

    def declare(self, signal: Outgoing, outbox: Outbox, timeout: float = 10.0) -> int:
        """Create ``signal`` on the hub with its current value and wait for the hub's
        answer, so viewers can subscribe; from then on, send what its ``outbox`` holds.

        A signal of this process with the same key (the cell that made it ran again)
        is superseded: it stops publishing, and the new one takes over its viewers.
        """
        old = self._outboxes.get(signal.key)
        if old is not None and old is not outbox:
            old.supersede()
        (reply,) = self.run(self.transport.request([outbox.whole()]), timeout)
        if not reply.get("ok"):
            raise SignalsError(f"the hub rejected signal {signal.key!r}: {reply.get('error')}")
        self._signals[signal.key] = signal
        self._outboxes[signal.key] = outbox
        return int(reply["rev"])

    def schedule(self, outbox: Outbox) -> None:
        """Ask for what ``outbox`` holds to be sent (when its rate limit allows)."""
        if not self._closed:
            self._loop.call_soon_threadsafe(self._schedule, outbox)

    def _schedule(self, outbox: Outbox) -> None:
        delay = outbox.next_send - self._loop.time()
        if delay > 0:
            self._loop.call_later(delay, self._mark_due, outbox)
        else:
            self._mark_due(outbox)

    def _mark_due(self, outbox: Outbox) -> None:
        if self._closed:
            return  # shutting down: no new work on a loop about to stop
        self._due[outbox.key] = outbox
        if self._sending is None or self._sending.done():
            self._sending = self._loop.create_task(self._send_due())

    async def _send_due(self) -> None:
        if self._thread is not None:
            await asyncio.sleep(0)  # let everything due in this loop turn join the batch
        while self._due:
            due, self._due = list(self._due.values()), {}
            now = self._loop.time()
            batch: list[tuple[Outbox, Parcel]] = []
            for outbox in due:
                parcel = outbox.take(now)
                if parcel is not None:
                    batch.append((outbox, parcel))
            if batch:
                await self._send(batch)

    async def _send(self, batch: list[tuple[Outbox, Parcel]]) -> None:
        try:
            replies = await self.transport.request([parcel.message for _, parcel in batch])
        except TransportError as exc:
            log.warning("nb_sse_signals: %s; will resend the whole values", exc)
            replies = [{"ok": False, "error": str(exc)}] * len(batch)
        for (outbox, parcel), reply in zip(batch, replies, strict=True):
            if reply.get("ok"):
                try:
                    parcel.sent(int(reply.get("rev", 0)))
                except Exception:  # a user's observer must not stop the publisher
                    log.exception("nb_sse_signals: an observer of %s failed", outbox.key)
                if outbox.backlog():
                    self._due[outbox.key] = outbox
            elif reply.get("unsent") == TOO_BIG:
                # Never sent. A whole value that does not fit waits for the next change
                # (resending it could only fail again, as often as we tried).
                if outbox.mark_too_big(parcel):
                    self._due[outbox.key] = outbox  # in this same round (and flush)
                    continue
                log.error(
                    "nb_sse_signals: %s: %s; viewers keep its last value until a change fits",
                    outbox.key,
                    reply.get("error"),
                )
            else:
                # The hub's copy and ours disagree (hub restarted, a lost message):
                # send the whole value next time, the hub sends viewers the difference.
                log.warning(
                    "nb_sse_signals: %s: %s; resending its value", outbox.key, reply.get("error")
                )
                outbox.resend_whole()
                self._loop.call_later(0.5, self._mark_due, outbox)

    async def _redeclare_all(self) -> None:
        for outbox in list(self._outboxes.values()):
            outbox.resend_whole()
            self._mark_due(outbox)

    def flush(self, timeout: float = 10.0) -> None:
        """Send every pending change now, ignoring rate limits, and wait until the hub has it."""

        async def flush_all() -> None:
            for outbox in list(self._outboxes.values()):
                outbox.lift_rate_limit()
                self._due[outbox.key] = outbox
            if self._thread is not None and self._sending is not None and not self._sending.done():
                await self._sending
            await self._send_due()

        self.run(flush_all(), timeout)

    def close_signal(self, signal: Outgoing, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self._signals.pop(signal.key, None)
        self._outboxes.pop(signal.key, None)
        message = _codec.dumps({"op": "close", "name": signal.key})
        try:
            self.run(self.transport.request([message]), timeout)
        except (TransportError, TimeoutError) as exc:
            log.warning("nb_sse_signals: could not tell the hub %s closed: %s", signal.key, exc)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The publisher's own event loop (its thread runs it; async drivers run there)."""
        return self._loop

    @property
    def signals(self) -> list[Outgoing]:
        return list(self._signals.values())

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the thread. Signals are not closed."""
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            sending = self._sending
            if sending is not None and not sending.done():
                sending.cancel()  # a task left pending would be destroyed with the loop
                if self._thread is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await sending
            await self.transport.close()

        thread = self._thread
        try:
            self.run(stop(), timeout)
        finally:
            if thread is not None:  # else the loop is the caller's, not ours to stop
                self._loop.call_soon_threadsafe(self._loop.stop)
                thread.join(timeout)
                if not thread.is_alive():
                    self._loop.close()


def _run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, here (publishers without a thread)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise SignalsError(
        "this publisher has no thread of its own, so it can only publish into a hub in "
        "this process (the request would have to wait for the network)"
    )
