"""What a hub on a shared backplane applies from its feed: the rules of a shared engine.

``Mirror`` implements ``_backplane.BackplaneEvents``: a shared engine
(``_redis.RedisBackplane``) commits every change in Redis, reads every hub's changes
back in order, and calls a hub's mirror with them. Nothing here does I/O; the rules
that exist only because other hubs and other writers share the state live here:

- values are read from outside this hub's checks: every one is checked as a
  publisher's would be, and one that cannot be served is refused (its viewers get a
  ``refused`` event), never served, never made up (``UNKNOWN``);
- signals known only from other hubs do not count against ``limits.signals`` but
  against their own bounds (``backplane_signals``, ``backplane_value_bytes``);
- another hub's orphan is orphaned here too (viewers show stale), and owned by
  nobody here (that hub's reaper decides);
- when the engine is lost, every viewer is told its value may be behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar, cast

from . import _codec
from . import _protocol as proto
from ._depth import check_depth
from ._errors import NotJSONError, PatchError
from ._limits import Limits
from ._patch import apply_patch
from ._store import UNKNOWN, Entry, SignalStore, log_refused
from ._types import JSON

__all__ = ["Loaded", "Mirror", "Unreadable"]

log = logging.getLogger("nb_sse_signals")

_REPLACE = b'[{"op":"replace","path":"","value":'
R = TypeVar("R")


@dataclass(frozen=True)
class Unreadable:
    """A value the backplane holds that could not even be parsed (``reason`` says why)."""

    reason: str


# One signal as the backplane holds it: name, rev, closed, value, and whether its
# publisher is gone (orphaned, as a hub's own orphans are).
Loaded = tuple[str, int, bool, JSON | Unreadable, bool]


class Mirror:
    """A hub's state, as a shared engine changes it (see the module). Any thread; each
    method takes the store's lock once."""

    def __init__(self, store: SignalStore, limits: Limits) -> None:
        self._store = store
        self.limits = limits
        self._declaring: dict[str, int] = {}  # names being declared through this hub

    @property
    def epoch(self) -> str:
        return self._store.epoch

    # -- what the engine asks before and after a commit -------------------------------

    def planned(self, name: str, make: Callable[[Entry | None], R]) -> tuple[R, str]:
        """``make(the signal as this hub has it, or None)`` under the store's lock (so
        that nothing changes it meanwhile), and the epoch it was planned in. The signal
        is read-only to ``make``: ``rev``, ``closed``, ``value``, ``owner``, ``orphaned``."""
        with self._store.lock:
            return make(self._store.entries.get(name)), self._store.epoch

    @contextmanager
    def declaring(self, name: str, owner: object) -> Iterator[None]:
        """Around the commit of a declare of ``name`` by ``owner`` through this hub: its
        limits are checked first (this hub's ``signals``, the owner's quota), the feed
        counts it as this hub's own while it runs, and ``owner`` owns it after."""
        store = self._store
        with store.lock:
            store.admit(name, owner)
            self._declaring[name] = self._declaring.get(name, 0) + 1
        try:
            yield
        finally:
            with store.lock:
                left = self._declaring.pop(name) - 1
                if left:
                    self._declaring[name] = left
        # Taken over (an orphan of this hub, or a new owner here: maybe another hub's
        # orphan), it was committed as a whole-value replace at a new revision even
        # when equal: the change that ends a stale on whichever hub showed it.
        with store.lock:
            sig = store.entries.get(name)
            if sig is not None:
                sig.local = True
                store.set_owner(sig, owner)

    def kept(self) -> list[tuple[str, int, bool, JSON, bool]]:
        """``(name, rev, closed, value, orphaned)`` of every signal this hub can serve, to
        put back into a backplane that lost them (not those it refused: they cannot be
        written, and the backplane has them anyway)."""
        with self._store.lock:
            return [
                (n, s.rev, s.closed, s.value, s.orphaned)
                for n, s in self._store.entries.items()
                if s.refused is None
            ]

    def applied(
        self,
        epoch: str,
        changes: Sequence[tuple[str, int, int, bytes]],
        values: Mapping[str, JSON],
        ready: Callable[[], None] | None = None,
    ) -> bool:
        """This hub's own changes, just committed in ``epoch`` (``(name, rev, seq,
        patch JSON)`` each, in order, sequence numbers contiguous), applied as planned
        without waiting for the feed to bring them back; ``values``: each signal's
        value after its last change, the caller's to give. Only if this hub has applied
        everything before the first (else the feed applies them, in Redis's order:
        False); those the feed applied meanwhile are skipped, and the feed then skips
        the rest (their sequence numbers are behind the hub's)."""
        store = self._store
        with store.lock:
            if store.epoch != epoch or store.seq < changes[0][2] - 1:
                return False
            todo = [change for change in changes if change[2] > store.seq]
            revs: dict[str, int] = {}
            for name, rev, _, _ in todo:
                sig = store.entries.get(name)
                if sig is None or sig.closed or sig.refused is not None or name not in values:
                    return False
                if rev != revs.get(name, sig.rev) + 1:
                    return False
                revs[name] = rev
            if ready is not None:
                # (sure to apply now; nothing reads the store before the lock is free)
                ready()
            for name, _, seq, payload in todo:
                store.seq = seq - 1
                store.record(store.entries[name], payload)  # (encoded by the planner)
            for name in revs:
                store.entries[name].value = values[name]
            return True

    # -- the feed ---------------------------------------------------------------------

    def apply(self, seq: int, name: str, rev: int, kind: str, payload: bytes) -> bool:
        """Apply the backplane's change number ``seq``, in its order; False: it does not
        follow from what this hub has (the caller then reloads the state with :meth:`load`).

        ``kind``: ``"c"`` a change (``payload``: the patch's JSON), ``"n"`` a whole value
        at ``rev`` (a new or reopened signal; ``payload``: the value's JSON), ``"x"``
        closed at ``rev``, ``"s"`` its publisher, at ``rev``, is gone (another hub's
        orphan: no new revision).
        """
        store = self._store
        with store.lock:
            if seq <= store.seq:
                return True  # already in the state this hub loaded
            sig = store.entries.get(name)
            if kind == "s":
                store.seq = seq
                # Said of a revision: one that changed since is live again.
                if sig is not None and sig.rev == rev and not sig.closed and not sig.orphaned:
                    # Another hub's orphan (this hub's own are marked already): whoever
                    # owned it here took it over from nobody there, and must not have
                    # its reaper close it (that hub's decides, with its keep_orphan).
                    store.set_owner(sig, None)
                    store.mark_orphaned(sig)
                return True
            local = name in self._declaring
            if sig is None and not local and not self._room_for_remote():
                store.seq = seq  # another hub's, beyond backplane_signals: not served here
                return True
            if kind == "n":
                return self._apply_whole(sig, seq, name, rev, payload, local)
            if sig is None or sig.closed:
                return False
            if kind == "x":
                if rev != sig.rev:
                    return False
                store.seq = seq - 1
                store.close(sig)
                return True
            if rev != sig.rev + 1:
                return False
            return self._apply_change(sig, seq, rev, payload)

    def _apply_whole(
        self, sig: Entry | None, seq: int, name: str, rev: int, payload: bytes, local: bool
    ) -> bool:
        store = self._store
        # Written by another hub, another version, or anyone with access to Redis:
        # checked as this hub's own publishers are, and refused, not served, if it
        # cannot be (orjson reads 1,024 levels but writes 254).
        doc, reason = _readable(payload, self.limits.backplane_value_bytes)
        if sig is None:
            sig = store.entries[name] = Entry(name, doc, seq)
            sig.local = local
            sig.rev, store.seq = rev, seq
            if reason is not None:
                store.refuse(sig, seq, reason)
            return True
        if rev <= sig.rev:
            return False
        if sig.closed:
            store.reopen(sig)
        if reason is not None:
            sig.value, sig.rev, store.seq = doc, rev, seq
            sig.changes += 1
            sig.orphaned = False  # someone declared it: refused, no longer orphaned
            store.refuse(sig, seq, reason)
            return True
        sig.refused = None
        sig.value, sig.rev, store.seq = doc, rev - 1, seq - 1
        # Re-encoded, never Redis's bytes as they are: nothing written there can
        # split an SSE event (a newline between two tokens would).
        store.record(sig, _REPLACE + _codec.dumps(doc) + b"}]")
        return True

    def _apply_change(self, sig: Entry, seq: int, rev: int, payload: bytes) -> bool:
        """Apply the backplane's change ``seq`` (a patch at ``rev``, the next revision) to
        ``sig`` (lock held); False: it does not apply to what this hub has (reload)."""
        store = self._store
        bound = self.limits.backplane_value_bytes
        try:
            if len(payload) > bound:
                raise ValueError(self.limits.rejection("backplane_value_bytes", len(payload)))
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
            store.seq = seq - 1
            store.record(sig, patch_json)
            return True
        sig.value, sig.rev, store.seq = UNKNOWN, rev, seq
        sig.changes += 1
        sig.orphaned = False  # refused, not orphaned: it changed
        if sig.refused is None:
            store.refuse(sig, seq, reason)
        else:
            sig.refused = reason
            store.restart_history(sig, seq)
        return True

    def skip(self, seq: int, name: str, reason: str) -> None:
        """The backplane's change ``seq`` cannot even be read (``reason``): past it, and
        ``name``'s signal (if this hub has it open) refused until a whole value comes."""
        store = self._store
        with store.lock:
            if seq <= store.seq:
                return
            store.seq = seq
            sig = store.entries.get(name)
            if sig is None or sig.closed:
                log.warning("nb_sse_signals: %s", reason)
                return
            sig.value = UNKNOWN
            sig.changes += 1
            store.refuse(sig, seq, reason)

    def _room_for_remote(self) -> bool:
        """Whether one more signal known only from the backplane fits (lock held)."""
        remote = sum(1 for s in self._store.entries.values() if not s.local)
        return remote < self.limits.backplane_signals

    def load(self, epoch: str, seq: int, states: Iterable[Loaded]) -> None:
        """Take the backplane's state (``(name, rev, closed, value, orphaned)`` per signal)
        at ``seq`` of ``epoch``: after start-up, an outage or lost data. Every subscriber
        is then sent snapshots at the new cursor (which also ends a ``stale``). A value
        this hub cannot serve (too deep; :class:`Unreadable`: not even parsed) is
        refused, logged with its name, and its subscribers get a ``refused`` event."""
        proto.check_epoch(epoch)
        store = self._store
        with store.lock:
            renewed = epoch != store.epoch
            store.set_epoch(epoch)
            bound = self.limits.backplane_value_bytes
            remote = sum(1 for s in store.entries.values() if not s.local)
            skipped = 0
            for name, rev, closed, loaded, orphaned in states:
                sig = store.entries.get(name)
                known = sig is not None
                if sig is None:
                    local = name in self._declaring
                    if not local and remote >= self.limits.backplane_signals:
                        skipped += 1  # other hubs', beyond what this hub serves of them
                        continue
                    remote += not local
                    sig = store.entries[name] = Entry(name, None, seq)
                    sig.local = local
                # An orphan of this hub stays one, and its own, at the same revision
                # (Redis may have lost the mark with its data, and the reaper closes only
                # orphans); one another hub said is orphaned is nobody's here (see "s" in
                # apply).
                mine = sig.orphaned and sig.rev == rev and not closed
                if orphaned and not mine:
                    store.set_owner(sig, None)
                sig.orphaned = orphaned or mine
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
                value, reason = (None, None) if closed else _checked(loaded, bound)
                sig.value, sig.rev, sig.closed, sig.snapshot = value, rev, closed, None
                sig.refused = reason
                if reason is not None:
                    log_refused(name, rev, reason)
                store.restart_history(sig, seq)
                if closed:
                    store.closed_order[name] = None
                else:
                    store.closed_order.pop(name, None)
            if skipped:
                log.warning(
                    "nb_sse_signals: %d signals of other hubs are not served here: more than"
                    " backplane_signals (%d)",
                    skipped,
                    self.limits.backplane_signals,
                )
            if renewed:  # cursors of the old epoch mean nothing now
                for sig in store.entries.values():
                    sig.history.clear()
                    sig.floor_seq = seq
            store.seq = seq
            store.resync_all()

    def lost(self) -> None:
        """The engine is unreachable: every subscriber is told what it shows may be behind."""
        with self._store.lock:
            self._store.push_all(proto.BACKPLANE_LOST_FRAME)


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
