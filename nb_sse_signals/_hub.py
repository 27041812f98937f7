"""SignalHub: the transport-agnostic core. Named JSON values, revisions, history, fan-out.

Threads: every publisher method (``declare``, ``set``, ``patch``, ``close``) may
be called from any thread; they take one lock, change the value, serialise the
change once into an SSE frame, and hand the same bytes to every subscriber.
Subscribers live on one asyncio loop (the first one that subscribes): waking
them is batched into one callback per loop turn, however many changes and
subscribers there are.

Errors leave the hub as it was: a refused value or patch changes no revision,
no history and no subscriber.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import itertools
import logging
import secrets
import string
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from . import _codec
from . import _protocol as proto
from ._backplane import Backplane
from ._depth import check_depth
from ._diff import diff
from ._errors import (
    BackplaneError,
    LimitError,
    NotJSONError,
    PatchError,
    SignalClosedError,
    UnknownSignalError,
)
from ._json import normalise
from ._limits import Limits
from ._patch import apply_patch, copy_json
from ._refresh import refresh
from ._subscription import Subscription
from ._types import JSON

__all__ = ["SignalHub", "SignalInfo", "Subscription", "Unreadable"]

log = logging.getLogger("nb_sse_signals")

_EPOCH_ALPHABET = string.ascii_lowercase + string.digits
_REPLACE = b'[{"op":"replace","path":"","value":'
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


class _Signal:
    __slots__ = (
        "changes",
        "closed",
        "floor_seq",
        "history",
        "history_bytes",
        "local",
        "name",
        "name_json",
        "orphaned",
        "owner",
        "quota",
        "refused",
        "rev",
        "snapshot",
        "subscribers",
        "times",
        "value",
    )

    def __init__(self, name: str, value: JSON, seq: int) -> None:
        self.name = name
        self.name_json = _codec.dumps(name)
        self.value = value
        self.owner: object = None  # the publisher connection that declared it last, if any
        # Declared through this hub (counted in ``limits.signals``); False: known only
        # from the backplane (counted in ``limits.backplane_signals``).
        self.local = True
        self.quota: object = None  # what it is counted against while owned (_set_owner)
        self.rev = 0
        self.closed = False
        # Its owner's connection dropped and nobody declared it since: viewers show stale.
        self.orphaned = False
        # Why this hub cannot serve the value (None: it can). Only a value that came from
        # outside this hub's checks (the backplane) can get here: see SignalHub._refuse.
        self.refused: str | None = None
        # Events with seq <= floor_seq are no longer in history: a cursor older than
        # that cannot be resumed from history for this signal.
        self.floor_seq = seq
        self.history: deque[tuple[int, bytes]] = deque()
        self.history_bytes = 0
        self.snapshot: tuple[int, bytes] | None = None
        self.subscribers: set[Subscription] = set()
        self.changes = 0
        self.times: deque[float] = deque(maxlen=256)

    def refused_frame(self, event_id: str | None = None) -> bytes:
        data = proto.refused_data(self.name, self.rev, self.refused or "")
        return proto.encode_event(data, event_id=event_id, event=proto.REFUSED_EVENT)


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
        self.history = limits.history_events
        self.buffer_bytes = buffer_bytes
        self.buffer_events = buffer_events
        self.closed_memory = closed_memory
        self.epoch = proto.check_epoch(
            epoch or "".join(secrets.choice(_EPOCH_ALPHABET) for _ in range(10))
        )
        self._epoch_bytes = self.epoch.encode()
        self._lock = threading.Lock()
        self._signals: dict[str, _Signal] = {}
        self._closed_order: OrderedDict[str, None] = OrderedDict()
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._dirty: set[Subscription] = set()
        self._wake_scheduled = False
        # A quota (id(owner), or a shared scope's) -> the open signals counted against it.
        self._owned: dict[object, int] = {}
        self._quota_scope = quota_scope
        self._subscriptions = 0
        # With a backplane, changes are committed there and applied here in its order
        # (see "backplane hooks" below); None: this hub is the only one.
        self._backplane: Backplane | None = None
        self._declaring: dict[str, int] = {}  # names being declared here, through it

    # -- publishing (any thread) --------------------------------------------------------

    def declare(
        self, name: str, value: object, owner: object = None, *, parsed: bool = False
    ) -> int:
        """Create ``name`` with ``value``; if it exists, set it; if it was closed, reopen it.

        ``owner`` (any object, e.g. a publisher's connection) takes the signal over:
        :meth:`close_owned` later closes what its owner left behind. ``parsed``: as
        for :meth:`set`.
        """
        proto.check_key(name)
        if parsed:
            doc = cast(JSON, value)
            check_depth(doc)
        else:
            doc = normalise(value)
        if self._backplane is not None:
            # Committed through the backplane, which feeds it back (limits of signals
            # apply to what is declared here; what other hubs declare is theirs).
            with self._lock:
                known = self._signals.get(name)
                if known is None or known.closed:
                    self._check_room()
                self._check_owner(owner, name, known)
                # Its feed must know it is this hub's own, not another hub's.
                self._declaring[name] = self._declaring.get(name, 0) + 1
            try:
                rev = self._backplane.declare(name, doc, owner)
            finally:
                with self._lock:
                    left = self._declaring.pop(name) - 1
                    if left:
                        self._declaring[name] = left
            # Taken over (an orphan of this hub, or a new owner here: maybe another hub's
            # orphan), it is committed as a whole-value replace at a new revision even
            # when equal: the change that ends a stale on whichever hub showed it, in
            # every hub's history, so a viewer resuming then gets it too.
            with self._lock:
                sig = self._signals.get(name)
                if sig is not None:
                    sig.local = True
                    self._set_owner(sig, owner)
            return rev
        with self._lock:
            sig = self._signals.get(name)
            if sig is None:
                self._check_room()
                self._check_owner(owner, name)
                sig = _Signal(name, doc, self._seq + 1)
                # What cannot be sent is never stored (an integer beyond 64 bits).
                value_json = _encodable(lambda: _codec.dumps(doc), name)
                sig.snapshot = (0, proto.encode_event(proto.snapshot_data(name, 0, value_json)))
                self._seq += 1
                self._signals[name] = sig
                self._set_owner(sig, owner)
                return 0
            self._check_owner(owner, name, sig)
            if sig.closed:
                self._check_room()
                self._closed_order.pop(name, None)
                sig.closed = False
                self._set_owner(sig, owner)
                sig.value = None  # the reopening event is a whole-value replace
                return self._commit(sig, doc, [{"op": "replace", "path": "", "value": doc}])
            self._set_owner(sig, owner)
            if sig.orphaned:
                # A new publisher (a restarted kernel re-running its cell) took it over,
                # maybe with the very value it had: a whole-value replace, so every viewer
                # (and every one that resumes from history later) sees it is live again.
                return self._commit(sig, doc, [{"op": "replace", "path": "", "value": doc}])
            return self._set_locked(sig, doc)

    def _check_room(self) -> None:
        # Open signals: every signal kept, less the closed ones remembered (all of them);
        # with a backplane, only those declared here (other hubs' have their own bound).
        if self._backplane is None:
            open_now = len(self._signals) - len(self._closed_order)
        else:
            open_now = sum(1 for s in self._signals.values() if s.local and not s.closed)
        if open_now >= self.limits.signals:
            raise LimitError(self.limits.refusal("signals", f"one more than {open_now:,}"))

    def _quota(self, owner: object, name: str) -> object:
        """What ``owner``'s declare of ``name`` counts against (lock held): a shared
        scope's quota if ``quota_scope`` names one, else the owner's own."""
        scope = self._quota_scope(name) if self._quota_scope is not None else None
        return id(owner) if scope is None else ("scope", scope)

    def _check_owner(self, owner: object, name: str, sig: _Signal | None = None) -> None:
        """Refuse a declare over ``signals_per_publisher`` (lock held). Taking ``sig`` over
        within the quota it is already counted against (its own owner again, a restarted
        kernel re-declaring its scope's signal) adds nothing, so it is never refused."""
        if owner is None or (sig is not None and sig.owner is owner and not sig.closed):
            return
        quota = self._quota(owner, name)
        if sig is not None and sig.owner is not None and not sig.closed and sig.quota == quota:
            return
        if self._owned.get(quota, 0) >= self.limits.signals_per_publisher:
            where = "in this scope" if isinstance(quota, tuple) else "over this connection"
            raise LimitError(self.limits.refusal("signals_per_publisher", f"one more {where}"))

    def _set_owner(self, sig: _Signal, owner: object) -> None:
        """Who declared ``sig`` last (lock held), counted against its quota (``_quota``,
        fixed when it is taken over) while ``sig`` is open."""
        if sig.owner is owner and not sig.closed:
            return  # declared again by its owner: counted already
        if sig.owner is not None and not sig.closed:
            key = sig.quota
            left = self._owned.get(key, 0) - 1
            if left > 0:
                self._owned[key] = left
            else:
                self._owned.pop(key, None)
        sig.owner, sig.quota = owner, None
        if owner is not None:
            sig.quota = self._quota(owner, sig.name)
            self._owned[sig.quota] = self._owned.get(sig.quota, 0) + 1

    def orphan(self, owner: object) -> list[str]:
        """``owner`` is gone (its connection dropped): mark every open signal it declared,
        and nobody took over since, stale; return them.

        Each subscriber of one gets a per-signal ``stale`` event at once, and later ones
        get it after its snapshot, until the signal is declared again (which sends a
        whole-value replace) or closed. Nothing else changes: no revision, no history.
        """
        if owner is None:
            return []  # signals nobody owns are nobody's orphans
        with self._lock:
            names = []
            told = []
            for name, sig in self._signals.items():
                if sig.owner is owner and not sig.closed and not sig.orphaned:
                    sig.orphaned = True
                    names.append(name)
                    if sig.refused is None:  # (refused says more: its viewers show error)
                        self._push(sig, proto.stale_frame(name, sig.rev))
                        told.append((name, sig.rev))
        if self._backplane is not None:
            for name, rev in told:  # and to the viewers of every other hub
                self._backplane.stale(name, rev)
        return names

    def owned(self, owner: object) -> list[str]:
        """The open signals ``owner`` declared and nobody took over since."""
        with self._lock:
            return [n for n, s in self._signals.items() if s.owner is owner and not s.closed]

    def orphans(self, owner: object) -> list[str]:
        """The open signals ``owner`` declared that are still orphaned: nobody took them
        over or changed them since it was gone (what :meth:`close_owned` would close)."""
        with self._lock:
            return [n for n in self._signals if self._orphaned(n, owner)]

    def _orphaned(self, name: str, owner: object) -> bool:
        """Whether ``name`` is open, ``owner``'s and orphaned (lock held)."""
        sig = self._signals.get(name)
        return sig is not None and sig.owner is owner and sig.orphaned and not sig.closed

    def close_owned(self, owner: object, keep: Callable[[str], bool] | None = None) -> list[str]:
        """Close every signal ``owner`` left orphaned (see :meth:`orphans`), except those
        ``keep(name)`` says to keep (they stay stale); return the names closed.

        For publishers that vanished (a kernel that died): viewers learn the value
        is no longer live instead of watching it stand still. A signal declared (taken
        over) or changed by anyone meanwhile, even while ``keep`` runs, is left open.
        """
        names = [n for n in self.orphans(owner) if keep is None or not keep(n)]
        return [name for name in names if self.close_if_owned(name, owner)]

    def close_if_owned(self, name: str, owner: object) -> bool:
        """Close ``name`` if it is still ``owner``'s and orphaned, checked under the lock
        (with a backplane: on every attempt of the commit); whether it closed."""
        if self._backplane is not None:
            with contextlib.suppress(SignalClosedError, UnknownSignalError):
                return self._backplane.close(name, lambda: self._orphaned(name, owner))
            return False
        with self._lock:
            if not self._orphaned(name, owner):
                return False
            self._close_locked(self._signals[name])
            return True

    def set(self, name: str, value: object, *, parsed: bool = False) -> int:
        """Replace the value; the hub sends the difference (nothing if equal). Returns the rev.

        ``parsed=True`` says ``value`` was just parsed from JSON text by orjson (which
        refuses NaN and infinities) and nobody else holds it: it is JSON already, and
        becomes the hub's own without a copy (the publish endpoint's path). Otherwise
        the value is checked and copied in the same walk as the diff, under the hub's
        lock: conversions it makes (a pydantic ``model_dump``, a numpy ``tolist``) run
        there too, and must not call back into the hub.
        """
        if self._backplane is not None:
            return self._backplane.set(name, value, parsed)
        with self._lock:
            sig = self._open(name)
            if parsed:
                check_depth(cast(JSON, value))
                return self._set_locked(sig, cast(JSON, value))
            doc, ops = refresh(sig.value, value)
            return self._commit(sig, doc, ops) if ops else sig.rev

    def patch(
        self,
        name: str,
        ops: Sequence[dict[str, Any]],
        base: int | None = None,
        *,
        parsed: bool = False,
    ) -> int:
        """Apply an RFC 6902 patch atomically; ``base`` guards against a publisher's stale view.

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
            raise LimitError(self.limits.refusal("ops_per_patch", f"{len(clean):,}"))
        if self._backplane is not None:
            return self._backplane.patch(name, clean, base)
        with self._lock:
            sig = self._open(name)
            if base is not None and base != sig.rev:
                raise PatchError(
                    f"expected a patch of {name!r} at revision {sig.rev}, got one made at {base}"
                )
            if not clean:
                return sig.rev
            # Serialised first: what cannot be sent (an op nested too deep to encode)
            # must be refused before it changes anything.
            try:
                patch_json = _codec.dumps(clean)
            except _codec.EncodeError as exc:
                raise PatchError(f"expected a patch that can be sent as JSON: {exc}") from None
            # apply_patch is atomic and copies inserted values, so the ops list stays ours.
            sig.value = apply_patch(sig.value, clean)
            return self._record(sig, patch_json)

    def close(self, name: str) -> int:
        """Close ``name``: subscribers get a ``closed`` event; later subscribers too.
        Returns its last revision (the one the ``closed`` event names)."""
        if self._backplane is not None:
            self._backplane.close(name)
            # Returned once this hub applied the close (the backplane's contract).
            with self._lock:
                sig = self._signals.get(name)
                # (gone only if a racing close pushed it out of closed_memory at once)
                return sig.rev if sig is not None else -1
        with self._lock:
            sig = self._open(name)
            self._close_locked(sig)
            return sig.rev

    def _close_locked(self, sig: _Signal) -> None:
        name = sig.name
        self._set_owner(sig, None)
        sig.closed = True
        sig.orphaned = False
        sig.refused = None
        sig.value = None
        sig.snapshot = None
        self._seq += 1
        frame = proto.encode_event(
            proto.closed_data(name, sig.rev),
            event_id=proto.format_cursor(self.epoch, self._seq),
            event="closed",
        )
        self._append(sig, self._seq, frame)
        self._closed_order[name] = None
        while len(self._closed_order) > self.closed_memory:
            old, _ = self._closed_order.popitem(last=False)
            # Its subscribers already had the closed event; they keep the name, harmlessly.
            self._signals.pop(old).subscribers.clear()

    def _open(self, name: str) -> _Signal:
        sig = self._signals.get(name)
        if sig is None:
            raise UnknownSignalError(f"expected the name of a declared signal, got {name!r}")
        if sig.closed:
            raise SignalClosedError(f"signal {name!r} is closed; declare it again to reopen it")
        return sig

    def _set_locked(self, sig: _Signal, doc: JSON) -> int:
        ops = diff(sig.value, doc)
        if not ops:
            return sig.rev
        return self._commit(sig, doc, ops)

    def _commit(self, sig: _Signal, doc: JSON, ops: list[dict[str, JSON]]) -> int:
        # ops may share containers with doc (see _diff): serialise before anything else runs.
        patch_json = _encodable(lambda: _codec.dumps(ops), sig.name)
        sig.value = doc
        return self._record(sig, patch_json)

    def _record(self, sig: _Signal, patch_json: bytes) -> int:
        sig.rev += 1
        sig.changes += 1
        sig.times.append(time.monotonic())
        sig.orphaned = False  # someone publishes it again; the change ends viewers' stale
        self._seq += 1
        seq = self._seq
        if sig.refused is not None:
            self._recheck(sig, seq)
            return sig.rev
        frame = proto.change_frame(sig.name_json, sig.rev, patch_json, self._epoch_bytes, seq)
        self._append(sig, seq, frame)
        return sig.rev

    def _refuse(self, sig: _Signal, seq: int, reason: str) -> None:
        """``sig``'s value, at change ``seq``, cannot be served (lock held): its viewers get
        a ``refused`` event instead of it, and nothing more until it can be (``_recheck``).

        Its history restarts here: what came before no longer leads to its value, so a
        client resuming from an older cursor is sent the ``refused`` event (as a snapshot
        would be) rather than changes that end nowhere.
        """
        _log_refusal(sig.name, sig.rev, reason)
        sig.refused, sig.snapshot = reason, None
        self._restart_history(sig, seq)
        self._push(sig, sig.refused_frame(proto.format_cursor(self.epoch, seq)))

    def _snapshot_frame(self, sig: _Signal) -> bytes:
        """``sig``'s id-less snapshot event at its revision, serialised once per revision
        (lock held); a ``refused`` event instead if the value cannot be written (never an
        exception: one signal must not break a stream or a batch of others)."""
        cached = sig.snapshot
        if cached is not None and cached[0] == sig.rev:
            return cached[1]
        if sig.closed:
            frame = proto.encode_event(proto.closed_data(sig.name, sig.rev), event="closed")
        else:
            value_json = self._value_json(sig)
            if value_json is None:
                frame = sig.refused_frame()
            else:
                frame = proto.encode_event(proto.snapshot_data(sig.name, sig.rev, value_json))
        sig.snapshot = (sig.rev, frame)
        return frame

    def _value_json(self, sig: _Signal) -> bytes | None:
        """``sig``'s value as JSON, or None if it is refused (lock held).

        The last line of defence, for a value no check caught on its way in: if orjson
        cannot write it, it is refused here as :meth:`_refuse` does, so the subscribers
        it already has get the ``refused`` event too, and its history restarts.
        """
        if sig.refused is not None:
            return None
        try:
            return _codec.dumps(sig.value)
        except _codec.EncodeError as exc:
            self._refuse(sig, self._seq, f"cannot be sent as JSON: {exc}")
            return None

    def _recheck(self, sig: _Signal, seq: int) -> None:
        """A refused signal changed (at ``seq``, lock held): serve it again, with a snapshot
        (its viewers do not have the base of the change), if its value now can be."""
        if sig.value is UNKNOWN:  # still unknown (the change left the root alone)
            self._restart_history(sig, seq)
            return
        try:
            check_depth(sig.value)
            value_json = _codec.dumps(sig.value)
        except (NotJSONError, _codec.EncodeError) as exc:
            sig.refused = str(exc)
            self._restart_history(sig, seq)
            return
        log.info("nb_sse_signals: serving %r again at revision %d", sig.name, sig.rev)
        sig.refused, sig.snapshot = None, None
        self._restart_history(sig, seq)
        data = proto.snapshot_data(sig.name, sig.rev, value_json)
        self._push(sig, proto.encode_event(data, event_id=proto.format_cursor(self.epoch, seq)))

    def _restart_history(self, sig: _Signal, seq: int) -> None:
        sig.history.clear()
        sig.history_bytes = 0
        sig.floor_seq = seq

    def _push(self, sig: _Signal, frame: bytes) -> None:
        """Send ``frame`` to ``sig``'s subscribers only, not into its history (lock held)."""
        wake = [sub for sub in sig.subscribers if sub._push(frame)]
        if wake:
            self._dirty.update(wake)
            self._schedule_wake()

    def _append(self, sig: _Signal, seq: int, frame: bytes) -> None:
        sig.history.append((seq, frame))
        sig.history_bytes += len(frame)
        # A count and a byte budget: 1,024 changes of a 1 MB value would be 1 GB.
        budget = self.limits.history_bytes
        while len(sig.history) > self.history or (sig.history_bytes > budget and sig.history):
            old_seq, old = sig.history.popleft()
            sig.floor_seq = old_seq
            sig.history_bytes -= len(old)
        self._push(sig, frame)

    def _schedule_wake(self) -> None:
        loop = self._loop
        if loop is None or self._wake_scheduled or loop.is_closed():
            return
        self._wake_scheduled = True
        if threading.get_ident() == self._loop_thread:
            loop.call_soon(self._wake_dirty)
        else:
            loop.call_soon_threadsafe(self._wake_dirty)

    def _wake_dirty(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            self._wake_scheduled = False
        for sub in dirty:
            try:
                sub._wake()
            except Exception:  # one broken subscriber must not starve the others
                log.exception("nb_sse_signals: waking a subscriber failed; dropping it")
                with contextlib.suppress(Exception):  # logged just above
                    sub.close()

    # -- backplane hooks (the engine's feed, one thread; see _backplane.py) -------------

    @property
    def backplane(self) -> Backplane | None:
        """The backplane changes are committed through, or None. With one, a change
        waits for the engine (Redis): callers on an event loop run it in a thread."""
        return self._backplane

    def batched(self, run: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
        """``[run(item) for item in items]``; with a backplane, the changes they make are
        committed together (one round trip for a publisher's frame), with the same
        outcome and order as one by one."""
        if self._backplane is None:
            return [run(item) for item in items]
        return self._backplane.batched(run, items)

    # -- what a backplane's engine calls (``_backplane.BackplaneEvents``; any thread) ---

    def planned(self, name: str, make: Callable[[Any], _R]) -> tuple[_R, str]:
        """``make(the signal as this hub has it, or None)`` under the hub's lock (so that
        nothing changes it meanwhile), and the epoch it was planned in. The signal is
        read-only to ``make``: ``rev``, ``closed``, ``value``, ``owner``, ``orphaned``."""
        with self._lock:
            return make(self._signals.get(name)), self.epoch

    def kept(self) -> list[tuple[str, int, bool, JSON, bool]]:
        """``(name, rev, closed, value, orphaned)`` of every signal this hub can serve, to
        put back into a backplane that lost them (not those it refused: they cannot be
        written, and the backplane has them anyway)."""
        with self._lock:
            return [
                (n, s.rev, s.closed, s.value, s.orphaned)
                for n, s in self._signals.items()
                if s.refused is None
            ]

    def attach_backplane(self, backplane: Backplane) -> None:
        """Commit every later change through ``backplane`` (``_redis.RedisBackplane``
        calls this), which then feeds them back with the methods below."""
        self._backplane = backplane

    def apply_remote(self, seq: int, name: str, rev: int, kind: str, payload: bytes) -> bool:
        """Apply the backplane's change number ``seq``, in its order; False: it does not
        follow from what this hub has (the caller then reloads the state with ``load_remote``).

        ``kind``: ``"c"`` a change (``payload``: the patch's JSON, framed as it is, so
        every hub sends the same bytes), ``"n"`` a whole value at ``rev`` (a new or
        reopened signal; ``payload``: the value's JSON), ``"x"`` closed at ``rev``, ``"s"``
        its publisher, at ``rev``, is gone (another hub's orphan: no new revision).
        """
        with self._lock:
            if seq <= self._seq:
                return True  # already in the state this hub loaded
            sig = self._signals.get(name)
            if kind == "s":
                self._seq = seq
                # Said of a revision: one that changed since is live again.
                if sig is not None and sig.rev == rev and not sig.closed and not sig.orphaned:
                    sig.orphaned = True
                    # Another hub's orphan (this hub's own are marked already): whoever
                    # owned it here took it over from nobody there, and must not have
                    # its reaper close it (that hub's decides, with its keep_orphan).
                    self._set_owner(sig, None)
                    if sig.refused is None:
                        self._push(sig, proto.stale_frame(name, rev))
                return True
            local = name in self._declaring
            if sig is None and not local and not self._room_for_remote():
                self._seq = seq  # another hub's, beyond backplane_signals: not served here
                return True
            if kind == "n":
                # Written by another hub, another version, or anyone with access to Redis:
                # checked as this hub's own publishers are, and refused, not served, if it
                # cannot be (orjson reads 1,024 levels but writes 254).
                doc, refusal = _readable(payload, self.limits.backplane_value_bytes)
                if sig is None:
                    sig = self._signals[name] = _Signal(name, doc, seq)
                    sig.local = local
                    sig.rev, self._seq = rev, seq
                    if refusal is not None:
                        self._refuse(sig, seq, refusal)
                    return True
                if rev <= sig.rev:
                    return False
                if sig.closed:
                    self._closed_order.pop(name, None)
                    sig.closed = False
                if refusal is not None:
                    sig.value, sig.rev, self._seq = doc, rev, seq
                    sig.changes += 1
                    sig.orphaned = False  # someone declared it: refused, no longer stale
                    self._refuse(sig, seq, refusal)
                    return True
                sig.refused = None
                sig.value, sig.rev, self._seq = doc, rev - 1, seq - 1
                # Re-encoded, never Redis's bytes as they are: nothing written there can
                # split an SSE event (a newline between two tokens would).
                self._record(sig, _REPLACE + _codec.dumps(doc) + b"}]")
                return True
            if sig is None or sig.closed:
                return False
            if kind == "x":
                if rev != sig.rev:
                    return False
                self._seq = seq - 1
                self._close_locked(sig)
                return True
            if rev != sig.rev + 1:
                return False
            return self._apply_change(sig, seq, rev, payload)

    def _apply_change(self, sig: _Signal, seq: int, rev: int, payload: bytes) -> bool:
        """Apply the backplane's change ``seq`` (a patch at ``rev``, the next revision) to
        ``sig`` (lock held); False: it does not apply to what this hub has (reload)."""
        bound = self.limits.backplane_value_bytes
        try:
            if len(payload) > bound:
                raise ValueError(self.limits.refusal("backplane_value_bytes", len(payload)))
            ops = _codec.loads(payload)  # (a JSONDecodeError is a ValueError)
            value = apply_patch(sig.value, ops)  # atomic: all of it or nothing
            # Re-encoded, never Redis's bytes as they are: nothing written there can
            # split an SSE event. (A patch too deep to write again is refused.)
            patch_json = _codec.dumps(ops)
        except PatchError as exc:
            if sig.value is not UNKNOWN:
                return False  # on a value it has, a change that does not apply: reload
            reason = f"a change does not apply: {exc}"
        except (ValueError, _codec.EncodeError) as exc:
            # One it cannot read at all: refused until a whole value comes (a root
            # replace, a declare). No reload: Redis would give the same.
            reason = f"a change in Redis cannot be read: {exc}"
        else:
            sig.value = value
            self._seq = seq - 1
            self._record(sig, patch_json)
            return True
        sig.value, sig.rev, self._seq = UNKNOWN, rev, seq
        sig.changes += 1
        sig.orphaned = False  # refused, not stale: it changed
        if sig.refused is None:
            self._refuse(sig, seq, reason)
        else:
            sig.refused = reason
            self._restart_history(sig, seq)
        return True

    def skip_remote(self, seq: int, name: str, reason: str) -> None:
        """The backplane's change ``seq`` cannot even be read (``reason``): past it, and
        ``name``'s signal (if this hub has it open) refused until a whole value comes."""
        with self._lock:
            if seq <= self._seq:
                return
            self._seq = seq
            sig = self._signals.get(name)
            if sig is None or sig.closed:
                log.warning("nb_sse_signals: %s", reason)
                return
            sig.value = UNKNOWN
            sig.changes += 1
            self._refuse(sig, seq, reason)

    def _room_for_remote(self) -> bool:
        """Whether one more signal known only from the backplane fits (lock held)."""
        remote = sum(1 for s in self._signals.values() if not s.local)
        return remote < self.limits.backplane_signals

    def load_remote(self, epoch: str, seq: int, states: Iterable[Loaded]) -> None:
        """Take the backplane's state (``(name, rev, closed, value, stale)`` per signal) at ``seq``
        of ``epoch``: after start-up, an outage or lost data. Every subscriber is then
        sent snapshots at the new cursor (which also ends a ``stale``). A value this hub
        cannot serve (too deep; :class:`Unreadable`: not even parsed) is refused, logged
        with its name, and its subscribers get a ``refused`` event instead."""
        proto.check_epoch(epoch)
        with self._lock:
            renewed = epoch != self.epoch
            self.epoch, self._epoch_bytes = epoch, epoch.encode()
            bound = self.limits.backplane_value_bytes
            remote = sum(1 for s in self._signals.values() if not s.local)
            skipped = 0
            for name, rev, closed, loaded, stale in states:
                sig = self._signals.get(name)
                known = sig is not None
                if sig is None:
                    local = name in self._declaring
                    if not local and remote >= self.limits.backplane_signals:
                        skipped += 1  # other hubs', beyond what this hub serves of them
                        continue
                    remote += not local
                    sig = self._signals[name] = _Signal(name, None, seq)
                    sig.local = local
                # An orphan of this hub stays one, and its own, at the same revision
                # (Redis may have lost the mark with its data, and the reaper closes only
                # orphans); one another hub said is stale is nobody's here (see "s" in
                # apply_remote).
                mine = sig.orphaned and sig.rev == rev and not closed
                if stale and not mine:
                    self._set_owner(sig, None)
                sig.orphaned = stale or mine
                if (
                    known
                    and not renewed
                    and sig.rev == rev
                    and sig.closed == closed
                    and not sig.refused
                ):
                    # One revision in one epoch is one value; but what this hub refused is
                    # read again (it may not have had that value, or had a wrong one).
                    continue
                value, refusal = (None, None) if closed else _checked(loaded, bound)
                sig.value, sig.rev, sig.closed, sig.snapshot = value, rev, closed, None
                sig.refused = refusal
                if refusal is not None:
                    _log_refusal(name, rev, refusal)
                sig.history.clear()
                sig.history_bytes = 0
                sig.floor_seq = seq
                if closed:
                    self._closed_order[name] = None
                else:
                    self._closed_order.pop(name, None)
            if skipped:
                log.warning(
                    "nb_sse_signals: %d signals of other hubs are not served here: more than"
                    " backplane_signals (%d)",
                    skipped,
                    self.limits.backplane_signals,
                )
            if renewed:  # cursors of the old epoch mean nothing now
                for sig in self._signals.values():
                    sig.history.clear()
                    sig.floor_seq = seq
            self._seq = seq
            subs = self._all_subscribers()
            for sub in subs:
                sub._pending.clear()
                sub._pending_bytes = 0
                sub._resync = True
            self._dirty.update(subs)
            self._schedule_wake()

    def backplane_lost(self) -> None:
        """Tell every subscriber the backplane is gone: what it shows may be behind."""
        with self._lock:
            wake = [sub for sub in self._all_subscribers() if sub._push(proto.STALE_FRAME)]
            if wake:
                self._dirty.update(wake)
                self._schedule_wake()

    def _all_subscribers(self) -> list[Subscription]:
        subs: set[Subscription] = set()
        for sig in self._signals.values():
            subs |= sig.subscribers
        return list(subs)

    # -- reading (any thread) -------------------------------------------------------------

    def get(self, name: str) -> tuple[int, JSON]:
        """(rev, a private copy of the value) of an open signal.

        Raises :class:`BackplaneError` for a signal whose value this hub could not read
        from its backplane (it has no value to give, and never makes one up)."""
        with self._lock:
            sig = self._open(name)
            if sig.value is UNKNOWN:
                raise BackplaneError(
                    f"expected a value of {name!r} this hub can read, but the backplane's"
                    f" value at revision {sig.rev} is refused here: {sig.refused}"
                )
            return sig.rev, copy_json(sig.value)

    def names(self) -> list[str]:
        with self._lock:
            return [name for name, sig in self._signals.items() if not sig.closed]

    def info(self, name: str | None = None) -> list[SignalInfo]:
        """Every signal's info, or only ``name``'s (a direct lookup; [] if unknown)."""
        now = time.monotonic()
        with self._lock:
            if name is not None:
                sig = self._signals.get(name)
                return [] if sig is None else [_info(sig, now)]
            return [_info(sig, now) for sig in self._signals.values()]

    def subscriber_count(self, name: str | None = None) -> int:
        """Live subscribers of ``name``, or of the whole hub (each subscription once)."""
        with self._lock:
            if name is not None:
                sig = self._signals.get(name)
                return 0 if sig is None else len(sig.subscribers)
            subs: set[Subscription] = set()
            for sig in self._signals.values():
                subs |= sig.subscribers
            return len(subs)

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
        with self._lock:
            self._check_known(keys)
            if self._loop is None or self._loop.is_closed():
                self._loop, self._loop_thread = loop, threading.get_ident()
            elif self._loop is not loop:
                raise RuntimeError("a SignalHub serves subscribers on one event loop only")
            limits = self.limits
            if self._subscriptions >= limits.subscribers:
                raise LimitError(limits.refusal("subscribers", "one more on this hub"))
            for key in keys:
                if len(self._signals[key].subscribers) >= limits.subscribers_per_signal:
                    raise LimitError(
                        limits.refusal("subscribers_per_signal", f"one more of {key!r}")
                    )
            self._subscriptions += 1
            sub = Subscription(self, keys)
            # The hub's own frames (history, cached snapshots), not a copy: a thousand
            # subscribers resuming from one cursor share one history.
            sub._replay = self._resume(keys, parsed)
            if sub._replay is None:  # snapshots: the signals' cached frames (shared)
                sub._pending = self._snapshot_frames(keys)
                sub._pending_bytes = sum(map(len, sub._pending))
            for key in keys:
                self._signals[key].subscribers.add(sub)
            return sub

    def _resume(
        self, keys: tuple[str, ...], cursor: tuple[str, int] | None
    ) -> tuple[int, int, tuple[str, ...]] | None:
        """Where a subscriber resuming from ``cursor`` starts (lock held): a replay
        ``(after, until, stale)`` for :meth:`_replay_frames`, or None for snapshots.

        The replay is read from history as it is sent, a part at a time, so a thousand
        subscribers replaying one history hold a cursor each, not the history. One
        bigger than a subscriber's buffer (``buffer_bytes``/``buffer_events``) is sent as
        snapshots instead, as for a subscriber that falls behind.
        """
        if cursor is None or cursor[0] != self.epoch or cursor[1] > self._seq:
            return None
        after = cursor[1]
        size = count = 0
        stale = []
        for key in keys:
            sig = self._signals[key]
            if sig.floor_seq > after:
                stale.append(key)
                continue
            start = bisect.bisect_right(sig.history, after, key=_seq_of)
            size += sum(len(frame) for _, frame in itertools.islice(sig.history, start, None))
            count += len(sig.history) - start
            if size > self.buffer_bytes or count > self.buffer_events:
                return None
        return after, self._seq, tuple(stale)

    def _replay_frames(self, sub: Subscription) -> list[bytes]:
        """The next part of ``sub``'s replay, from history, in sequence order (lock held);
        the last part ends with snapshots of its stale keys. If history moved past the
        replay meanwhile, snapshots of every key instead (state, not events)."""
        assert sub._replay is not None
        after, until, stale = sub._replay
        parts: list[tuple[int, bytes]] = []
        for key in sub.names:
            if key in stale:
                continue
            sig = self._signals.get(key)
            if sig is None or sig.floor_seq > after:  # evicted under the replay
                sub._replay = None
                sub._pending.clear()
                sub._pending_bytes = 0
                return self._snapshot_frames(sub.names)
            history = sig.history
            start = bisect.bisect_right(history, after, key=_seq_of)
            for item in itertools.islice(history, start, start + _REPLAY_PART):
                if item[0] > until:
                    break
                parts.append(item)
        parts.sort(key=_seq_of)
        del parts[_REPLAY_PART:]
        if len(parts) == _REPLAY_PART:
            sub._replay = parts[-1][0], until, stale
            return [frame for _, frame in parts]
        sub._replay = None
        frames = [frame for _, frame in parts]
        frames += self._snapshot_frames(stale, orphans=False)
        stale_frames = self._stale_frames(sub.names)
        if stale_frames:
            frames.append(stale_frames)
        return frames

    def _snapshot_batch(self, keys: Sequence[str], *, orphans: bool = True) -> bytes:
        """Snapshots of ``keys``, as one body (see :meth:`_snapshot_frames`)."""
        return b"".join(self._snapshot_frames(keys, orphans=orphans))

    def _snapshot_frames(self, keys: Sequence[str], *, orphans: bool = True) -> list[bytes]:
        """Snapshots of ``keys``, each the signal's cached frame (shared); only the last
        carries the cursor at which all were taken (a copy of that one frame). Then
        (``orphans``) a ``stale`` event for each whose publisher is gone."""
        frames = [self._snapshot_frame(self._signals[k]) for k in keys if k in self._signals]
        if not frames:
            return []
        frames[-1] = proto.with_id(frames[-1], proto.format_cursor(self.epoch, self._seq))
        stale = self._stale_frames(keys) if orphans else b""
        return [*frames, stale] if stale else frames

    def _stale_frames(self, keys: Sequence[str]) -> bytes:
        out = b""
        for key in keys:
            sig = self._signals.get(key)
            if sig is not None and sig.orphaned and not sig.closed and sig.refused is None:
                out += proto.stale_frame(key, sig.rev)
        return out

    def snapshots(self, names: Iterable[str]) -> list[bytes]:
        """The ``data`` of a snapshot message per name, for the snapshot endpoint.

        Served from the frame the hub already built for the signal's revision (the one
        every new subscriber gets): serialised once per revision, never per request,
        and the data is cut out of it after the lock is released."""
        keys = [proto.check_key(n) for n in names]
        with self._lock:
            self._check_known(keys)
            built = []
            for key in keys:
                sig = self._signals[key]
                frame = self._snapshot_frame(sig)  # a closed or refused event if it is one
                stale = sig.orphaned and not sig.closed and sig.refused is None
                built.append((frame, stale))
        out = []
        for frame, stale in built:
            data = proto.frame_data(frame)
            out.append(proto.with_stale(data) if stale else data)
        return out

    def _check_known(self, keys: Iterable[str]) -> None:
        """Raise naming every key the hub never had (lock held)."""
        unknown = [k for k in keys if k not in self._signals]
        if unknown:
            raise UnknownSignalError(
                "expected names of declared signals, got unknown "
                + ", ".join(repr(k) for k in unknown)
            )

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subscriptions -= 1
            for key in sub.names:
                sig = self._signals.get(key)
                if sig is not None:
                    sig.subscribers.discard(sub)
            self._dirty.discard(sub)


# Frames of a replay read from history at a time: a part is what a stream's writer
# holds for a reader that stops (references), bounded.
_REPLAY_PART = 64


def _seq_of(item: tuple[int, bytes]) -> int:
    return item[0]


def _info(sig: _Signal, now: float) -> SignalInfo:
    recent = [t for t in sig.times if now - t <= 5.0]
    return SignalInfo(
        name=sig.name,
        rev=sig.rev,
        subscribers=len(sig.subscribers),
        closed=sig.closed,
        changes=sig.changes,
        rate=len(recent) / 5.0,
    )


def _log_refusal(name: str, rev: int, reason: str) -> None:
    log.warning("nb_sse_signals: refusing to serve %r at revision %d: %s", name, rev, reason)


@dataclass(frozen=True)
class Unreadable:
    """A value the backplane holds that could not even be parsed (``reason`` says why)."""

    reason: str


class _Unknown:
    """The value of a signal this hub could not read from its backplane: never served
    (the signal is refused), never returned by ``get``, never diffed against."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unknown value>"


# Typed as JSON so that it fits where values go; everything that reads a value of a
# refused signal checks for it by identity (``value is UNKNOWN``).
UNKNOWN: JSON = cast(JSON, _Unknown())

# One signal as the backplane holds it: name, rev, closed, value, and whether its
# publisher is gone (stale, as a hub's orphans are).
Loaded = tuple[str, int, bool, JSON | Unreadable, bool]


def _checked(value: JSON | Unreadable, bound: int | None) -> tuple[JSON, str | None]:
    """``(value, None)`` if this hub can serve ``value``, else ``(what it has, why not)``;
    one bigger than ``bound`` bytes as JSON (None: checked already) is never kept."""
    if isinstance(value, Unreadable):
        return UNKNOWN, value.reason
    try:
        size = 0 if bound is None else len(_codec.dumps(value))
    except _codec.EncodeError:
        size = 0  # (too deep to write: check_depth below says so)
    if bound is not None and size > bound:
        return UNKNOWN, f"expected a value of at most {bound:,} bytes, got {size:,}"
    try:
        check_depth(value)
    except NotJSONError as exc:
        return value, str(exc)
    return value, None


def _readable(payload: bytes, bound: int) -> tuple[JSON, str | None]:
    """A whole value from the backplane, parsed and checked as :func:`_checked` does,
    and no bigger than ``bound`` bytes."""
    if len(payload) > bound:
        return UNKNOWN, f"expected a value of at most {bound:,} bytes, got {len(payload):,}"
    try:
        return _checked(cast(JSON, _codec.loads(payload)), None)  # (its length is checked)
    except _codec.DecodeError as exc:
        return UNKNOWN, f"cannot be read as JSON: {exc}"


def _encodable(encode: Callable[[], bytes], name: str) -> bytes:
    """``encode()``, or :class:`NotJSONError` if orjson cannot write the value (an
    integer beyond 64 bits): refused before it is stored, never a broken stream."""
    try:
        return encode()
    except _codec.EncodeError as exc:
        raise NotJSONError(f"expected a value of {name!r} JSON encoders can write: {exc}") from None
