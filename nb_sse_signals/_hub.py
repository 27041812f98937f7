"""SignalHub: the transport-agnostic core. Named JSON values, revisions, history, fan-out.

Threads: every publisher method (``declare``, ``set``, ``patch``, ``close``) may
be called from any thread; each hands the change to the hub's backplane, which
commits it (the in-memory default at once, under one lock; Redis after a round
trip), serialises it once into an SSE frame, and hands the same bytes to every
subscriber. Subscribers live on one asyncio loop (the first one that subscribes):
waking them is batched into one callback per loop turn, however many changes and
subscribers there are.

Errors leave the hub as it was: a rejected value or patch changes no revision,
no history and no subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from . import _protocol as proto
from ._backplane import Backplane
from ._depth import check_depth
from ._errors import (
    BackplaneError,
    LimitError,
    PatchError,
    SignalClosedError,
    UnknownSignalError,
)
from ._json import normalise
from ._limits import Limits
from ._memory import MemoryBackplane
from ._patch import copy_json
from ._store import UNKNOWN, Entry, SignalStore
from ._subscription import Subscription
from ._types import JSON

__all__ = ["SignalHub", "SignalInfo", "Subscription"]

_EPOCH_ALPHABET = string.ascii_lowercase + string.digits
_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True)
class SignalInfo:
    """A signal's state as the hub sees it, for dashboards and magics."""

    name: str
    rev: int
    subscribers: int
    closed: bool
    changes: int
    rate: float  # changes per second over the last few seconds


class SignalHub:
    """Named JSON signals with contiguous revisions, bounded history, and fan-out.

    ``limits`` bound what publishers and subscribers can make it hold (signals,
    subscribers, history per signal in events and bytes, ops per patch, nesting):
    see :class:`Limits`. A request over a limit raises :class:`LimitError` and
    changes nothing. ``history`` (older spelling): ``limits.history_events``.
    ``buffer_bytes``/``buffer_events``: a subscriber's backlog bound; past it, the
    subscriber is sent snapshots instead. ``closed_memory``: how many closed
    signals are remembered (so late subscribers learn they closed, not 404).
    ``quota_scope(name)``: the scope whose signals share one ``signals_per_publisher``
    quota, whichever connection declared them, gone ones' kept orphans included (the
    server extension: a living kernel's ``k-<id>``), or None: the declaring
    connection's own quota.
    """

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        history: int | None = None,
        buffer_bytes: int = 4 << 20,
        buffer_events: int = 8192,
        closed_memory: int = 1024,
        epoch: str | None = None,
        quota_scope: Callable[[str], str | None] | None = None,
    ) -> None:
        limits = limits or Limits()
        if history is not None:
            limits = dataclasses.replace(limits, history_events=history)
        self.limits = limits
        self.buffer_bytes = buffer_bytes
        self.buffer_events = buffer_events
        # The signals, their history and subscribers: what a backplane commits into.
        self.store = SignalStore(
            limits,
            closed_memory=closed_memory,
            epoch=epoch or "".join(secrets.choice(_EPOCH_ALPHABET) for _ in range(10)),
            quota_scope=quota_scope,
        )
        self._lock = self.store.lock  # (what a Subscription holds while it reads)
        self._backplane: Backplane = MemoryBackplane(self.store)
        self._subscriptions = 0

    @property
    def epoch(self) -> str:
        """The first half of every cursor (a shared backplane's, once attached)."""
        return self.store.epoch

    @property
    def backplane(self) -> Backplane:
        """What changes are committed through: the in-memory default, or a shared one."""
        return self._backplane

    def attach_backplane(self, backplane: Backplane) -> None:
        """Commit every later change through ``backplane`` (``RedisBackplane.start``
        calls this; it feeds changes back through ``_remote.Mirror(hub.store, ...)``)."""
        self._backplane = backplane

    @property
    def commit_executor(self) -> Executor | None:
        """Threads to commit in from an event loop, or None: commits never wait (the
        in-memory backplane), and may run on the loop."""
        return self._backplane.executor if self._backplane.waits else None

    # -- publishing (any thread) --------------------------------------------------------

    def declare(
        self, name: str, value: object, owner: object = None, *, parsed: bool = False
    ) -> int:
        """Create ``name`` with ``value``; if it exists, set it; if it was closed, reopen it.

        ``owner`` (any object, e.g. a publisher's connection) takes the signal over:
        :meth:`close_orphaned` later closes what its owner left behind. ``parsed``: as
        for :meth:`set`. A signal taken over (its owner is gone, or another owner had
        it) gets a whole-value replace even if equal: every viewer sees it is live.
        """
        proto.check_key(name)
        if parsed:
            doc = cast(JSON, value)
            check_depth(doc)
        else:
            doc = normalise(value)
        return self._backplane.declare(name, doc, owner)

    def set(self, name: str, value: object, *, parsed: bool = False) -> int:
        """Replace the value; the hub sends the difference (nothing if equal). Returns the rev.

        ``parsed=True`` says ``value`` was just parsed from JSON text by orjson (which
        rejects NaN and infinities) and nobody else holds it: it is JSON already, and
        becomes the hub's own without a copy (the publish endpoint's path). Otherwise
        the value is checked and copied in the same walk as the diff, under the hub's
        lock: conversions it makes (a pydantic ``model_dump``, a numpy ``tolist``) run
        there too, and must not call back into the hub.
        """
        return self._backplane.set(name, value, parsed)

    def patch(
        self,
        name: str,
        ops: Sequence[dict[str, Any]],
        base: int | None = None,
        *,
        parsed: bool = False,
    ) -> int:
        """Apply an RFC 6902 patch atomically; ``base`` guards against a publisher's outdated view.

        ``parsed=True`` says ``ops`` was just parsed from JSON text and nobody else
        holds it, so it is plain JSON already and need not be checked and copied
        (the publish endpoint's hot path).
        """
        if parsed and type(ops) is list:
            clean: list[Any] = ops
        elif isinstance(ops, (list, tuple)):  # a tuple: no Union built per call
            clean = cast(list[Any], normalise(list(ops)))
        else:
            raise PatchError(f"expected a list of operations, got {type(ops).__name__}")
        if len(clean) > self.limits.ops_per_patch:
            raise LimitError(self.limits.rejection("ops_per_patch", f"{len(clean):,}"))
        return self._backplane.patch(name, clean, base)

    def close(self, name: str) -> int:
        """Close ``name``: subscribers get a ``closed`` event; later subscribers too.
        Returns its last revision (the one the ``closed`` event names)."""
        rev = self._backplane.close(name)
        assert rev is not None  # (only a conditional close says no)
        return rev

    def batched(self, run: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
        """``[run(item) for item in items]``; the changes they make are committed together
        where the backplane can (one round trip to Redis for a publisher's frame), with
        the same outcome and order as one by one."""
        return self._backplane.batched(run, items)

    async def batched_on_loop(
        self,
        run: Callable[[_T], _R],
        items: Sequence[_T],
        early: Callable[[list[_R]], None] | None = None,
    ) -> list[_R] | None:
        """:meth:`batched` on the calling event loop, which it never blocks (a frame's one
        round trip to Redis is awaited); None if the backplane needs :meth:`batched` in
        :attr:`commit_executor` for this frame (nothing was changed). ``early(replies)``
        may be called once they are committed, just before this hub applies them in
        the same turn of the loop (so the reply travels meanwhile)."""
        return await self._backplane.batched_on_loop(run, items, early)

    # -- owners: publishers that come and go (any thread) -------------------------------

    def mark_orphaned(self, owner: object) -> list[str]:
        """``owner`` is gone (its connection dropped): mark every open signal it declared,
        and nobody took over since, orphaned (viewers show stale); return them.

        Each subscriber of one gets a per-signal ``stale`` event at once, and later ones
        get it after its snapshot, until the signal is declared again (which sends a
        whole-value replace) or closed. Nothing else changes: no revision, no history.
        Other hubs on a shared backplane are told too.
        """
        if owner is None:
            return []  # signals nobody owns are nobody's orphans
        store = self.store
        with store.lock:
            names = []
            told = []
            for name, sig in store.entries.items():
                if sig.owner is owner and not sig.closed and not sig.orphaned:
                    names.append(name)
                    if store.mark_orphaned(sig):
                        told.append((name, sig.rev))
        for name, rev in told:  # and to the viewers of every other hub
            self._backplane.orphaned(name, rev)
        return names

    def owned_by(self, owner: object) -> list[str]:
        """The open signals ``owner`` declared and nobody took over since."""
        with self.store.lock:
            return [n for n, s in self.store.entries.items() if s.owner is owner and not s.closed]

    def orphaned_by(self, owner: object) -> list[str]:
        """The open signals ``owner`` declared that are still orphaned: nobody took them
        over or changed them since it was gone (what :meth:`close_orphaned` would close)."""
        store = self.store
        with store.lock:
            return [n for n in store.entries if store.is_orphan_of(n, owner)]

    def close_orphaned(self, owner: object, keep: Callable[[str], bool] | None = None) -> list[str]:
        """Close every signal ``owner`` left orphaned (see :meth:`orphaned_by`), except those
        ``keep(name)`` says to keep (they stay orphaned); return the names closed.

        For publishers that vanished (a kernel that died): viewers learn the value
        is no longer live instead of watching it stand still. A signal declared (taken
        over) or changed by anyone meanwhile, even while ``keep`` runs, is left open.
        """
        names = [n for n in self.orphaned_by(owner) if keep is None or not keep(n)]
        return [name for name in names if self.close_if_orphaned(name, owner)]

    def close_if_orphaned(self, name: str, owner: object) -> bool:
        """Close ``name`` if it is still ``owner``'s and orphaned, checked under the lock
        (with a shared backplane: on every attempt of the commit); whether it closed."""
        with contextlib.suppress(SignalClosedError, UnknownSignalError):
            when = lambda: self.store.is_orphan_of(name, owner)  # noqa: E731
            return self._backplane.close(name, when) is not None
        return False

    # -- reading (any thread) -------------------------------------------------------------

    def get(self, name: str) -> tuple[int, JSON]:
        """(rev, a private copy of the value) of an open signal.

        Raises :class:`BackplaneError` for a signal whose value this hub could not read
        from its backplane (it has no value to give, and never makes one up)."""
        with self.store.lock:
            sig = self.store.open(name)
            if sig.value is UNKNOWN:
                raise BackplaneError(
                    f"expected a value of {name!r} this hub can read, but the backplane's"
                    f" value at revision {sig.rev} is refused here: {sig.refused}"
                )
            return sig.rev, copy_json(sig.value)

    def names(self) -> list[str]:
        with self.store.lock:
            return [name for name, sig in self.store.entries.items() if not sig.closed]

    def info(self, name: str | None = None) -> list[SignalInfo]:
        """Every signal's info, or only ``name``'s (a direct lookup; [] if unknown)."""
        now = time.monotonic()
        with self.store.lock:
            if name is not None:
                sig = self.store.entries.get(name)
                return [] if sig is None else [_info(sig, now)]
            return [_info(sig, now) for sig in self.store.entries.values()]

    def subscriber_count(self, name: str | None = None) -> int:
        """Live subscribers of ``name``, or of the whole hub (each subscription once)."""
        with self.store.lock:
            if name is not None:
                sig = self.store.entries.get(name)
                return 0 if sig is None else len(sig.subscribers)
            return len(self.store.subscribers())

    def snapshots(self, names: Iterable[str]) -> list[bytes]:
        """The ``data`` of a snapshot message per name, for the snapshot endpoint.

        Served from the frame the hub already built for the signal's revision (the one
        every new subscriber gets): serialised once per revision, never per request,
        and the data is cut out of it after the lock is released."""
        keys = [proto.check_key(n) for n in names]
        store = self.store
        with store.lock:
            store.check_known(keys)
            built = []
            for key in keys:
                sig = store.entries[key]
                # (closed or refused ones are not shown orphaned)
                built.append((store.snapshot_frame(sig), sig.shows_orphaned))
        out = []
        for frame, orphaned in built:
            data = proto.frame_data(frame)
            out.append(proto.marked_orphaned(data) if orphaned else data)
        return out

    # -- subscribing (the hub's event loop) -------------------------------------------

    def subscribe(self, names: Iterable[str], cursor: str | None = None) -> Subscription:
        """Subscribe to ``names``; the first batch is a snapshot, or a replay after ``cursor``.

        Raises :class:`UnknownSignalError` naming every unknown key, or
        :class:`~nb_sse_signals.CursorError` for a malformed cursor; nothing
        changes then.
        """
        keys = tuple(dict.fromkeys(proto.check_key(n) for n in names))
        if not keys:
            raise UnknownSignalError("expected at least one signal name, got none")
        parsed = proto.parse_cursor(cursor) if cursor else None
        loop = asyncio.get_running_loop()
        store = self.store
        with store.lock:
            store.check_known(keys)
            if store.loop is None or store.loop.is_closed():
                store.loop, store.loop_thread = loop, threading.get_ident()
            elif store.loop is not loop:
                raise RuntimeError("a SignalHub serves subscribers on one event loop only")
            limits = self.limits
            if self._subscriptions >= limits.subscribers:
                raise LimitError(limits.rejection("subscribers", "one more on this hub"))
            for key in keys:
                if len(store.entries[key].subscribers) >= limits.subscribers_per_signal:
                    raise LimitError(
                        limits.rejection("subscribers_per_signal", f"one more of {key!r}")
                    )
            self._subscriptions += 1
            sub = Subscription(self, keys)
            # The hub's own frames (history, cached snapshots), not a copy: a thousand
            # subscribers resuming from one cursor share one history.
            sub._replay = store.resume(keys, parsed, self.buffer_bytes, self.buffer_events)
            if sub._replay is None:  # snapshots: the signals' cached frames (shared)
                sub._pending = store.snapshot_frames(keys)
                sub._pending_bytes = sum(map(len, sub._pending))
            for key in keys:
                store.entries[key].subscribers.add(sub)
            return sub

    # What a Subscription reads of its hub (``_subscription.Hub``; lock held).

    def _snapshot_batch(self, keys: Sequence[str]) -> bytes:
        return b"".join(self.store.snapshot_frames(keys))

    def _snapshot_frames(self, keys: Sequence[str]) -> list[bytes]:
        return self.store.snapshot_frames(keys)

    def _replay_frames(self, sub: Subscription) -> list[bytes]:
        return self.store.replay_frames(sub)

    def _unsubscribe(self, sub: Subscription) -> None:
        with self.store.lock:
            self._subscriptions -= 1
            for key in sub.names:
                sig = self.store.entries.get(key)
                if sig is not None:
                    sig.subscribers.discard(sub)
            self.store.dirty.discard(sub)


def _info(sig: Entry, now: float) -> SignalInfo:
    recent = [t for t in sig.times if now - t <= 5.0]
    return SignalInfo(
        name=sig.name,
        rev=sig.rev,
        subscribers=len(sig.subscribers),
        closed=sig.closed,
        changes=sig.changes,
        rate=len(recent) / 5.0,
    )
