"""The comm transport: a signal's events over its widget's own comm, for kernels whose
browser cannot reach any signals server (VS Code, Colab, JupyterLite, Voila behind a
proxy, a Jupyter server without the extension).

The events are the SSE stream's, unchanged (docs/protocol.md, "Over a widget's
comm"): a relay subscribes to the kernel's own hub and sends each channel what its
subscription yields, as ``{"type": "events", "events": [[event, data], ...]}``, where
``event`` is ``"message"``, ``"closed"``, ``"stale"`` or ``"refused"`` and ``data`` the
SSE event's data. The browser's ``Signal`` applies them with the same client rules as over SSE; a
snapshot it asks for (``{"type": "snapshot"}``) is answered with ``{"type":
"snapshot", "data": ...}``, at the channel's next flush, within the shared budget
(requests that arrive meanwhile get that one answer: a view that asks in a loop
cannot make the kernel flood iopub). A view that says ``{"type": "hello"}`` (a page that just
loaded the widget) gets the current snapshot on the stream.

Messages sent before the browser has set up the widget are lost (anywidget #436),
and a view's ``hello`` waits while the kernel's main thread runs a cell. So until
some view has said ``hello``, the relay repeats the snapshot on the stream a few
times (0.5, 1, 2, 4 and 8 s after it started): a widget displayed by a cell that
then keeps the kernel busy still gets its base value and follows the changes.

Jupyter drops iopub messages past ``iopub_msg_rate_limit`` (1,000/s) and
``iopub_data_rate_limit`` (1 MB/s) per kernel. So the relay sends each channel at
most one message per flush, and spaces flushes by a budget shared by every channel
of the kernel (``max_messages`` and ``max_bytes`` per second, well under both).
What cannot go yet waits in the channel's bounded subscription buffer; a channel
that falls behind is sent snapshots instead (state, not events: the latest value is
never skipped).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ._hub import SignalHub
from ._protocol import SSEDecoder
from ._subscription import Subscription

log = logging.getLogger("nb_sse_signals")

Send = Callable[[dict[str, Any]], None]

__all__ = ["CommRelay"]


GREETING_DELAYS = (0.5, 0.5, 1.0, 2.0, 4.0)  # between repeated snapshots, until a hello


class _Channel:
    __slots__ = ("asked", "greeted", "name", "send", "sub", "timer")

    def __init__(self, name: str, send: Send) -> None:
        self.name = name
        self.send = send
        self.sub: Subscription | None = None
        self.greeted = False
        self.asked = False  # a view asked for a snapshot, not yet answered
        self.timer: asyncio.TimerHandle | None = None


class CommRelay:
    """Relays ``hub``'s events to comm channels, on ``loop`` (the hub's subscriber loop).

    :meth:`attach` and :meth:`handle` may be called from any thread; everything else
    runs on ``loop``. ``send`` callbacks run there too, so they must be thread-safe
    (ipykernel's ``Comm.send`` is: it goes through the iopub thread).
    """

    def __init__(
        self,
        hub: SignalHub,
        loop: asyncio.AbstractEventLoop,
        *,
        max_messages: float = 200.0,
        max_bytes: float = 400_000.0,
        min_interval: float = 1 / 60,
    ) -> None:
        if max_messages <= 0 or max_bytes <= 0:
            raise ValueError(
                f"expected positive message and byte budgets, got {max_messages}, {max_bytes}"
            )
        self.hub = hub
        self.loop = loop
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.min_interval = min_interval
        self.messages_sent = 0
        self.bytes_sent = 0
        self._dirty: dict[_Channel, None] = {}  # ordered: fair, oldest first
        self._flush: asyncio.TimerHandle | asyncio.Handle | None = None
        self._next_flush = 0.0  # loop time before which the budget allows no flush

    # -- any thread ----------------------------------------------------------------------

    def attach(self, name: str, send: Send) -> Channel:
        """Relay signal ``name`` to ``send`` (any thread); see :class:`Channel`."""
        channel = _Channel(name, send)
        self._call(self._subscribe, channel)
        return Channel(self, channel)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        if self.loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    # -- the loop ------------------------------------------------------------------------

    def _subscribe(self, channel: _Channel) -> None:
        try:
            sub = self.hub.subscribe([channel.name])
        except Exception as exc:  # an unknown or closed signal: tell the view, not the kernel
            log.warning("nb_sse_signals: cannot relay %s: %s", channel.name, exc)
            return
        channel.sub = sub
        sub.on_ready(lambda: self._ready(channel))
        self._ready(channel)  # the first batch (a snapshot) is already pending
        self._greet(channel, 0)

    def _unsubscribe(self, channel: _Channel) -> None:
        sub, channel.sub = channel.sub, None
        self._dirty.pop(channel, None)
        if channel.timer is not None:
            channel.timer.cancel()
        if sub is not None:
            sub.close()

    def _greet(self, channel: _Channel, step: int) -> None:
        channel.timer = None
        if channel.greeted or channel.sub is None:
            return
        if step > 0 and channel.sub is not None:  # the first is the subscription's own
            channel.sub.resend_snapshot()
            self._ready(channel)  # within the shared budget, like any other message
        if step < len(GREETING_DELAYS):
            channel.timer = self.loop.call_later(
                GREETING_DELAYS[step], self._greet, channel, step + 1
            )

    def _ready(self, channel: _Channel) -> None:
        if channel.sub is None and not channel.asked:
            return
        self._dirty[channel] = None
        if self._flush is None:
            delay = max(0.0, self._next_flush - self.loop.time())
            self._flush = (
                self.loop.call_later(delay, self._send_dirty)
                if delay
                else self.loop.call_soon(self._send_dirty)
            )

    def _send_dirty(self) -> None:
        self._flush = None
        dirty, self._dirty = self._dirty, {}
        sent = size = 0
        for channel in dirty:
            if channel.asked:
                channel.asked = False
                answer = self._snapshot_answer(channel)
                size += len(answer.get("data", "")) + len(answer.get("error", ""))
                sent += 1
                _deliver(channel.send, answer, channel.name)
            sub = channel.sub
            if sub is None:
                continue
            frames = sub.take()
            if not frames:
                continue
            events = _events(frames)
            if not events:
                continue
            size += sum(len(data) for _, data in events)
            sent += 1
            _deliver(channel.send, {"type": "events", "events": events}, channel.name)
        self.messages_sent += sent
        self.bytes_sent += size
        # The next flush waits until this one's share of the budget has passed.
        spacing = max(self.min_interval, sent / self.max_messages, size / self.max_bytes)
        self._next_flush = self.loop.time() + spacing

    def _answer(self, channel: _Channel, kind: str) -> None:
        """Answer a view's ``hello`` (the snapshot on the stream, as a new SSE
        subscriber gets it) or ``snapshot`` (a snapshot message), both at the next
        flush, within the shared budget."""
        channel.greeted = True  # a view is there and listening
        if kind == "hello":
            if channel.sub is not None:
                channel.sub.resend_snapshot()
                self._ready(channel)
            return
        channel.asked = True
        self._ready(channel)

    def _snapshot_answer(self, channel: _Channel) -> dict[str, Any]:
        try:
            (data,) = self.hub.snapshots([channel.name])
        except Exception as exc:  # the signal is gone from the hub
            return {"type": "error", "error": str(exc)}
        return {"type": "snapshot", "data": data.decode()}


class Channel:
    """One widget's relay: :meth:`receive` takes the view's messages, :meth:`detach`
    ends it. Both from any thread."""

    def __init__(self, relay: CommRelay, channel: _Channel) -> None:
        self._relay = relay
        self._channel = channel

    def receive(self, message: object) -> None:
        """A message from a view: ``hello`` or ``snapshot`` (anything else is logged)."""
        kind = message.get("type") if isinstance(message, dict) else None
        if kind in ("hello", "snapshot"):
            self._relay._call(self._relay._answer, self._channel, kind)
        else:
            log.warning("nb_sse_signals: ignoring a comm message of no known type: %.200r", message)

    def detach(self) -> None:
        """Stop relaying (idempotent)."""
        self._relay._call(self._relay._unsubscribe, self._channel)


def _events(frames: bytes) -> list[list[str]]:
    """``[[event, data], ...]`` of the SSE events in ``frames`` (complete ones only)."""
    decoder = SSEDecoder()
    return [[e.event, e.data] for e in decoder.decode(frames.decode())]


def _deliver(send: Send, message: dict[str, Any], name: str) -> None:
    try:
        send(message)
    except Exception:  # a comm that closed under us must not stop the others
        log.exception("nb_sse_signals: could not send %s over its comm", name)
