"""A hub's signals as its subscribers see them: values, revisions, history, frames, fan-out.

The state under ``SignalHub`` and the two ways a change reaches it: committed here by
the in-memory backplane (``_memory.MemoryBackplane``), or applied from a shared
engine's feed (``_remote.Mirror``, for Redis). Neither decides anything here: this
module records a change once decided (a frame serialised once, appended to history,
pushed to every subscriber), and keeps who owns what (quotas).

Threads: every method that says "lock held" is called with :attr:`SignalStore.lock`
held, by whichever thread changes the state; subscribers are woken on the hub's one
event loop, in one callback per loop turn however many changes there are.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from typing import cast

from . import _codec
from . import _protocol as proto
from ._depth import check_depth
from ._diff import diff
from ._errors import LimitError, NotJSONError, SignalClosedError, UnknownSignalError
from ._limits import Limits
from ._subscription import Subscription
from ._types import JSON

__all__ = ["UNKNOWN", "Entry", "SignalStore", "encodable", "log_refused"]

log = logging.getLogger("nb_sse_signals")

# Frames of a replay read from history at a time: a part is what a stream's writer
# holds for a reader that stops (references), bounded.
_REPLAY_PART = 64


class _Unknown:
    """The value of a signal this hub could not read from its backplane: never served
    (the signal is refused), never returned by ``get``, never diffed against."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unknown value>"


# Typed as JSON so that it fits where values go; everything that reads a value of a
# refused signal checks for it by identity (``value is UNKNOWN``).
UNKNOWN: JSON = cast(JSON, _Unknown())


class Entry:
    """One signal in the store. Read-only outside this module and its two writers
    (``_memory``, ``_remote``), which change it with the lock held."""

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
        # from a shared backplane (counted in ``limits.backplane_signals``).
        self.local = True
        self.quota: object = None  # what it is counted against while owned (set_owner)
        self.rev = 0
        self.closed = False
        # Its owner's connection dropped and nobody declared it since: viewers show stale.
        self.orphaned = False
        # Why this hub cannot serve the value (None: it can). Only a value that came from
        # outside this hub's checks (a backplane) can get here: see SignalStore.refuse.
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

    @property
    def shows_orphaned(self) -> bool:
        """Whether viewers are told its publisher is gone (refused says more)."""
        return self.orphaned and not self.closed and self.refused is None


class SignalStore:
    """The signals of one hub, their history and their subscribers (see the module)."""

    def __init__(
        self,
        limits: Limits,
        *,
        closed_memory: int,
        epoch: str,
        quota_scope: Callable[[str], str | None] | None,
    ) -> None:
        self.limits = limits
        self.closed_memory = closed_memory
        self.epoch = proto.check_epoch(epoch)
        self.epoch_bytes = self.epoch.encode()
        self.lock = threading.Lock()
        self.entries: dict[str, Entry] = {}
        self.closed_order: OrderedDict[str, None] = OrderedDict()
        self.seq = 0  # the sequence number of the last change, of every signal
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread: int | None = None
        self.dirty: set[Subscription] = set()
        self._wake_scheduled = False
        # A quota (id(owner), or a shared scope's) -> the open signals counted against it.
        self._owned: dict[object, int] = {}
        self._quota_scope = quota_scope

    def set_epoch(self, epoch: str) -> None:
        self.epoch, self.epoch_bytes = epoch, epoch.encode()

    # -- lookups (lock held) ----------------------------------------------------------

    def open(self, name: str) -> Entry:
        sig = self.entries.get(name)
        if sig is None:
            raise UnknownSignalError(f"expected the name of a declared signal, got {name!r}")
        if sig.closed:
            raise SignalClosedError(f"signal {name!r} is closed; declare it again to reopen it")
        return sig

    def check_known(self, keys: Iterable[str]) -> None:
        """Raise naming every key the hub never had."""
        unknown = [k for k in keys if k not in self.entries]
        if unknown:
            raise UnknownSignalError(
                "expected names of declared signals, got unknown "
                + ", ".join(repr(k) for k in unknown)
            )

    def is_orphan_of(self, name: str, owner: object) -> bool:
        """Whether ``name`` is open, ``owner``'s and orphaned."""
        sig = self.entries.get(name)
        return sig is not None and sig.owner is owner and sig.orphaned and not sig.closed

    def subscribers(self) -> list[Subscription]:
        subs: set[Subscription] = set()
        for sig in self.entries.values():
            subs |= sig.subscribers
        return list(subs)

    # -- who may declare, and who owns what (lock held) ---------------------------------

    def admit(self, name: str, owner: object) -> Entry | None:
        """Reject a declare of ``name`` by ``owner`` over ``signals`` or
        ``signals_per_publisher`` (:class:`LimitError`); the signal, if known."""
        sig = self.entries.get(name)
        if sig is None or sig.closed:
            self._check_room()
        self._check_quota(owner, name, sig)
        return sig

    def _check_room(self) -> None:
        # Open signals declared here: signals known only from a shared backplane have
        # their own bound. (Counted only near the limit: the bound above is O(1).)
        open_now = len(self.entries) - len(self.closed_order)
        if open_now >= self.limits.signals:
            open_now = sum(1 for s in self.entries.values() if s.local and not s.closed)
            if open_now >= self.limits.signals:
                raise LimitError(self.limits.rejection("signals", f"one more than {open_now:,}"))

    def _quota_of(self, owner: object, name: str) -> object:
        """What ``owner``'s declare of ``name`` counts against: a shared scope's quota if
        ``quota_scope`` names one, else the owner's own."""
        scope = self._quota_scope(name) if self._quota_scope is not None else None
        return id(owner) if scope is None else ("scope", scope)

    def _check_quota(self, owner: object, name: str, sig: Entry | None) -> None:
        """Reject a declare over ``signals_per_publisher``. Taking ``sig`` over within the
        quota it is already counted against (its own owner again, a restarted kernel
        re-declaring its scope's signal) adds nothing, so it is never rejected."""
        if owner is None or (sig is not None and sig.owner is owner and not sig.closed):
            return
        quota = self._quota_of(owner, name)
        if sig is not None and sig.owner is not None and not sig.closed and sig.quota == quota:
            return
        if self._owned.get(quota, 0) >= self.limits.signals_per_publisher:
            where = "in this scope" if isinstance(quota, tuple) else "over this connection"
            raise LimitError(self.limits.rejection("signals_per_publisher", f"one more {where}"))

    def set_owner(self, sig: Entry, owner: object) -> None:
        """Who declared ``sig`` last, counted against its quota (fixed when it is taken
        over) while ``sig`` is open."""
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
            sig.quota = self._quota_of(owner, sig.name)
            self._owned[sig.quota] = self._owned.get(sig.quota, 0) + 1

    # -- recording a change that is decided (lock held) ---------------------------------

    def create(self, name: str, doc: JSON, rev: int = 0) -> Entry:
        """A new signal with ``doc`` at ``rev``, at the next sequence number."""
        self.seq += 1
        sig = self.entries[name] = Entry(name, doc, self.seq)
        sig.rev = rev
        return sig

    def reopen(self, sig: Entry) -> None:
        self.closed_order.pop(sig.name, None)
        sig.closed = False

    def commit(self, sig: Entry, doc: JSON, ops: list[dict[str, JSON]]) -> int:
        """``sig`` becomes ``doc``, sent as ``ops``; its new revision."""
        # ops may share containers with doc (see _diff): serialise before anything else runs.
        patch_json = encodable(lambda: _codec.dumps(ops), sig.name)
        sig.value = doc
        return self.record(sig, patch_json)

    def commit_value(self, sig: Entry, doc: JSON) -> int:
        """``sig`` becomes ``doc``, sent as its difference (nothing if equal)."""
        ops = diff(sig.value, doc)
        return self.commit(sig, doc, ops) if ops else sig.rev

    def record(self, sig: Entry, patch_json: bytes) -> int:
        """``sig``'s value changed by ``patch_json`` (its value already is the result):
        the next revision, at the next sequence number, sent to every subscriber."""
        sig.rev += 1
        sig.changes += 1
        sig.times.append(time.monotonic())
        sig.orphaned = False  # someone publishes it again: the change ends its stale
        self.seq += 1
        seq = self.seq
        if sig.refused is not None:
            self.recheck(sig, seq)
            return sig.rev
        frame = proto.change_frame(sig.name_json, sig.rev, patch_json, self.epoch_bytes, seq)
        self.append(sig, seq, frame)
        return sig.rev

    def close(self, sig: Entry) -> None:
        """Close ``sig`` at its revision, at the next sequence number."""
        name = sig.name
        self.set_owner(sig, None)
        sig.closed = True
        sig.orphaned = False
        sig.refused = None
        sig.value = None
        sig.snapshot = None
        self.seq += 1
        frame = proto.encode_event(
            proto.closed_data(name, sig.rev),
            event_id=proto.format_cursor(self.epoch, self.seq),
            event="closed",
        )
        self.append(sig, self.seq, frame)
        self.closed_order[name] = None
        while len(self.closed_order) > self.closed_memory:
            old, _ = self.closed_order.popitem(last=False)
            # Its subscribers already had the closed event; they keep the name, harmlessly.
            self.entries.pop(old).subscribers.clear()

    def mark_orphaned(self, sig: Entry) -> bool:
        """``sig``'s publisher is gone: its viewers are told (unless it is refused, which
        says more). Whether they were (False: refused)."""
        sig.orphaned = True
        if sig.refused is not None:
            return False
        self.push(sig, proto.orphaned_frame(sig.name, sig.rev))
        return True

    def refuse(self, sig: Entry, seq: int, reason: str) -> None:
        """``sig``'s value, at change ``seq``, cannot be served: its viewers get a
        ``refused`` event instead of it, and nothing more until it can be (``recheck``).

        Its history restarts here: what came before no longer leads to its value, so a
        client resuming from an older cursor is sent the ``refused`` event (as a snapshot
        would be) rather than changes that end nowhere.
        """
        log_refused(sig.name, sig.rev, reason)
        sig.refused, sig.snapshot = reason, None
        self.restart_history(sig, seq)
        self.push(sig, sig.refused_frame(proto.format_cursor(self.epoch, seq)))

    def recheck(self, sig: Entry, seq: int) -> None:
        """A refused signal changed (at ``seq``): serve it again, with a snapshot (its
        viewers do not have the base of the change), if its value now can be."""
        if sig.value is UNKNOWN:  # still unknown (the change left the root alone)
            self.restart_history(sig, seq)
            return
        try:
            check_depth(sig.value)
            value_json = _codec.dumps(sig.value)
        except (NotJSONError, _codec.EncodeError) as exc:
            sig.refused = str(exc)
            self.restart_history(sig, seq)
            return
        log.info("nb_sse_signals: serving %r again at revision %d", sig.name, sig.rev)
        sig.refused, sig.snapshot = None, None
        self.restart_history(sig, seq)
        data = proto.snapshot_data(sig.name, sig.rev, value_json)
        self.push(sig, proto.encode_event(data, event_id=proto.format_cursor(self.epoch, seq)))

    def restart_history(self, sig: Entry, seq: int) -> None:
        sig.history.clear()
        sig.history_bytes = 0
        sig.floor_seq = seq

    def append(self, sig: Entry, seq: int, frame: bytes) -> None:
        sig.history.append((seq, frame))
        sig.history_bytes += len(frame)
        # A count and a byte budget: 1,024 changes of a 1 MB value would be 1 GB.
        budget = self.limits.history_bytes
        keep = self.limits.history_events
        while len(sig.history) > keep or (sig.history_bytes > budget and sig.history):
            old_seq, old = sig.history.popleft()
            sig.floor_seq = old_seq
            sig.history_bytes -= len(old)
        self.push(sig, frame)

    # -- frames (lock held) ---------------------------------------------------------------

    def snapshot_frame(self, sig: Entry) -> bytes:
        """``sig``'s id-less snapshot event at its revision, serialised once per revision;
        a ``refused`` event instead if the value cannot be written (never an exception:
        one signal must not break a stream or a batch of others)."""
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

    def _value_json(self, sig: Entry) -> bytes | None:
        """``sig``'s value as JSON, or None if it is refused.

        The last line of defence, for a value no check caught on its way in: if orjson
        cannot write it, it is refused here as :meth:`refuse` does, so the subscribers
        it already has get the ``refused`` event too, and its history restarts.
        """
        if sig.refused is not None:
            return None
        try:
            return _codec.dumps(sig.value)
        except _codec.EncodeError as exc:
            self.refuse(sig, self.seq, f"cannot be sent as JSON: {exc}")
            return None

    def snapshot_frames(self, keys: Sequence[str], *, orphaned: bool = True) -> list[bytes]:
        """Snapshots of ``keys``, each the signal's cached frame (shared); only the last
        carries the cursor at which all were taken (a copy of that one frame). Then
        (``orphaned``) a ``stale`` event for each that is orphaned."""
        frames = [self.snapshot_frame(self.entries[k]) for k in keys if k in self.entries]
        if not frames:
            return []
        frames[-1] = proto.with_id(frames[-1], proto.format_cursor(self.epoch, self.seq))
        told = self._orphaned_frames(keys) if orphaned else b""
        return [*frames, told] if told else frames

    def _orphaned_frames(self, keys: Sequence[str]) -> bytes:
        out = b""
        for key in keys:
            sig = self.entries.get(key)
            if sig is not None and sig.shows_orphaned:
                out += proto.orphaned_frame(key, sig.rev)
        return out

    def resume(
        self, keys: tuple[str, ...], cursor: tuple[str, int] | None, max_bytes: int, max_events: int
    ) -> tuple[int, int, tuple[str, ...]] | None:
        """Where a subscriber resuming from ``cursor`` starts: a replay ``(after, until,
        trimmed)`` for :meth:`replay_frames`, or None for snapshots.

        The replay is read from history as it is sent, a part at a time, so a thousand
        subscribers replaying one history hold a cursor each, not the history. One
        bigger than a subscriber's buffer (``max_bytes``/``max_events``) is sent as
        snapshots instead, as for a subscriber that falls behind.
        """
        if cursor is None or cursor[0] != self.epoch or cursor[1] > self.seq:
            return None
        after = cursor[1]
        size = count = 0
        trimmed = []
        for key in keys:
            sig = self.entries[key]
            if sig.floor_seq > after:
                trimmed.append(key)
                continue
            start = bisect.bisect_right(sig.history, after, key=_seq_of)
            size += sum(len(frame) for _, frame in itertools.islice(sig.history, start, None))
            count += len(sig.history) - start
            if size > max_bytes or count > max_events:
                return None
        return after, self.seq, tuple(trimmed)

    def replay_frames(self, sub: Subscription) -> list[bytes]:
        """The next part of ``sub``'s replay, from history, in sequence order; the last
        part ends with snapshots of its trimmed keys (their history no longer reaches the
        cursor). If history moved past the replay meanwhile, snapshots of every key
        instead (state, not events)."""
        assert sub._replay is not None
        after, until, trimmed = sub._replay
        parts: list[tuple[int, bytes]] = []
        for key in sub.names:
            if key in trimmed:
                continue
            sig = self.entries.get(key)
            if sig is None or sig.floor_seq > after:  # evicted under the replay
                sub._replay = None
                sub._pending.clear()
                sub._pending_bytes = 0
                return self.snapshot_frames(sub.names)
            history = sig.history
            start = bisect.bisect_right(history, after, key=_seq_of)
            for item in itertools.islice(history, start, start + _REPLAY_PART):
                if item[0] > until:
                    break
                parts.append(item)
        parts.sort(key=_seq_of)
        del parts[_REPLAY_PART:]
        if len(parts) == _REPLAY_PART:
            sub._replay = parts[-1][0], until, trimmed
            return [frame for _, frame in parts]
        sub._replay = None
        frames = [frame for _, frame in parts]
        frames += self.snapshot_frames(trimmed, orphaned=False)
        orphaned_frames = self._orphaned_frames(sub.names)
        if orphaned_frames:
            frames.append(orphaned_frames)
        return frames

    # -- fan-out ----------------------------------------------------------------------

    def push(self, sig: Entry, frame: bytes) -> None:
        """Send ``frame`` to ``sig``'s subscribers only, not into its history (lock held)."""
        wake = [sub for sub in sig.subscribers if sub._push(frame)]
        if wake:
            self.dirty.update(wake)
            self.schedule_wake()

    def push_all(self, frame: bytes) -> None:
        """Send ``frame`` to every subscriber (lock held)."""
        wake = [sub for sub in self.subscribers() if sub._push(frame)]
        if wake:
            self.dirty.update(wake)
            self.schedule_wake()

    def resync_all(self) -> None:
        """Every subscriber drops what it has pending and is sent snapshots at the
        current cursor (lock held): the state was reloaded."""
        subs = self.subscribers()
        for sub in subs:
            sub._pending.clear()
            sub._pending_bytes = 0
            sub._resync = True
        self.dirty.update(subs)
        self.schedule_wake()

    def schedule_wake(self) -> None:
        loop = self.loop
        if loop is None or self._wake_scheduled or loop.is_closed():
            return
        self._wake_scheduled = True
        if threading.get_ident() == self.loop_thread:
            loop.call_soon(self._wake_dirty)
        else:
            loop.call_soon_threadsafe(self._wake_dirty)

    def _wake_dirty(self) -> None:
        with self.lock:
            dirty, self.dirty = self.dirty, set()
            self._wake_scheduled = False
        for sub in dirty:
            try:
                sub._wake()
            except Exception:  # one broken subscriber must not starve the others
                log.exception("nb_sse_signals: waking a subscriber failed; dropping it")
                with contextlib.suppress(Exception):  # logged just above
                    sub.close()


def _seq_of(item: tuple[int, bytes]) -> int:
    return item[0]


def log_refused(name: str, rev: int, reason: str) -> None:
    log.warning("nb_sse_signals: refusing to serve %r at revision %d: %s", name, rev, reason)


def encodable(encode: Callable[[], bytes], name: str) -> bytes:
    """``encode()``, or :class:`NotJSONError` if orjson cannot write the value (an
    integer beyond 64 bits): rejected before it is stored, never a broken stream."""
    try:
        return encode()
    except _codec.EncodeError as exc:
        raise NotJSONError(f"expected a value of {name!r} JSON encoders can write: {exc}") from None
