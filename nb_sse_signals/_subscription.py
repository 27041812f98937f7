"""Subscription: one subscriber's bounded buffer of SSE frames, and how it is woken.

Used on the hub's event loop only. Frames are pushed under the hub's lock (from
any thread); a subscriber that falls behind its bound drops the backlog and is
sent snapshots instead (state, not events). The buffer holds the hub's own frames
(one ``bytes`` per change, shared by every subscriber and the history), never a
copy: :meth:`take_frames` hands them on as they are.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = ["Subscription"]


class Hub(Protocol):
    """What a subscription needs of its hub (``SignalHub``)."""

    buffer_bytes: int  # bounds of one subscriber's backlog before it gets snapshots
    buffer_events: int
    _lock: threading.Lock

    def _snapshot_batch(self, keys: Sequence[str]) -> bytes: ...

    def _snapshot_frames(self, keys: Sequence[str]) -> list[bytes]: ...

    def _replay_frames(self, sub: Subscription) -> list[bytes]: ...

    def _unsubscribe(self, sub: Subscription) -> None: ...


class Subscription:
    """One subscriber's view of the hub: a bounded buffer of frames and a wake-up event.

    Use from the hub's event loop only. ``await next_batch(timeout)`` returns the
    bytes to write (possibly several events at once), ``b""`` when the timeout
    passed with nothing to send (time for a keep-alive), and ``None`` once the
    subscription is closed.
    """

    def __init__(self, hub: Hub, names: tuple[str, ...]) -> None:
        self.names = names
        self._hub = hub
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._resync = False
        # A replay still to send, read from the hub's history as it goes (never copied
        # here): (after, until, stale) — the frames after seq `after` up to `until`, then
        # snapshots of the `stale` keys, whose history no longer reached the cursor.
        self._replay: tuple[int, int, tuple[str, ...]] | None = None
        self._closed = False
        self._waiter: asyncio.Future[bool] | None = None
        self._listener: Callable[[], None] | None = None
        self.resyncs = 0  # how many times this subscriber fell behind

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @property
    def closed(self) -> bool:
        return self._closed

    def _push(self, frame: bytes) -> bool:
        """Queue a frame (hub lock held); return True if the subscriber needs waking."""
        if self._resync:
            return False
        # Once per change per subscriber: each attribute and len() read once.
        hub, pending = self._hub, self._pending
        size = self._pending_bytes + len(frame)
        count = len(pending)
        if size > hub.buffer_bytes or count >= hub.buffer_events:
            # Fell behind: drop the backlog, send the state instead (state, not events).
            pending.clear()
            self._pending_bytes = 0
            self._resync = True
            self.resyncs += 1
            return True
        pending.append(frame)
        self._pending_bytes = size
        return not count

    def _take(self) -> bytes:
        """Everything there is to send now (hub lock held)."""
        return b"".join(self._take_frames())

    def _take_frames(self) -> list[bytes]:
        """What there is to send now, the hub's own frames (hub lock held): snapshots
        after falling behind, else the next part of a replay, else the backlog."""
        if self._resync:
            self._resync = False
            self._replay = None
            return self._hub._snapshot_frames(self.names)
        if self._replay is not None:
            # Live frames wait in the backlog (bounded as ever) until the replay is out.
            frames = self._hub._replay_frames(self)
            if frames or self._replay is not None:
                return frames
        frames, self._pending = self._pending, []
        self._pending_bytes = 0
        return frames

    async def next_batch(self, timeout: float | None = None) -> bytes | None:
        while True:
            if self._closed:
                return None
            with self._hub._lock:
                out = self._take()
                if out:
                    return out
                # A bare future and a timer, not asyncio.wait_for: that makes a task
                # per wait, which at 1,000 subscribers is most of a fan-out's cost.
                waiter = self._waiter = asyncio.get_running_loop().create_future()
            timer = None
            if timeout is not None:
                timer = waiter.get_loop().call_later(timeout, _resolve, waiter, False)
            try:
                woken = await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if not woken:
                return b""

    def _wake(self) -> None:
        """Wake a waiting ``next_batch``, or call the push listener (on the hub's loop)."""
        if self._listener is not None:
            self._listener()
            return
        waiter = self._waiter
        if waiter is not None:
            _resolve(waiter, True)

    def resend_snapshot(self) -> None:
        """Send snapshots of every signal next instead of what is pending (any thread)."""
        with self._hub._lock:
            self._pending.clear()
            self._pending_bytes = 0
            self._resync = True

    def take(self) -> bytes:
        """What there is to send now (``b""``: nothing). For push consumers."""
        with self._hub._lock:
            return self._take()

    def take_frames(self) -> list[bytes]:
        """What there is to send now, as the hub's own frames (shared, never joined or
        copied; ``[]``: nothing): for a writer that sends them by reference."""
        with self._hub._lock:
            return self._take_frames()

    def on_ready(self, listener: Callable[[], None]) -> None:
        """Push mode: call ``listener()`` on the hub's loop whenever there may be data to
        :meth:`take`, and once when the subscription closes; ``next_batch`` is not used.

        The listener runs inside the hub's wake-up callback, so a server can write to
        all its subscribers in one loop turn instead of resuming one coroutine each.
        """
        self._listener = listener

    def close(self) -> None:
        """Leave the hub now: no more frames, subscriber counts drop at once. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._hub._unsubscribe(self)
        self._wake()


def _resolve(waiter: asyncio.Future[bool], woken: bool) -> None:
    if not waiter.done():
        waiter.set_result(woken)
