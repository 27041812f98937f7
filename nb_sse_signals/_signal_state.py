"""One followed signal's client state: the client rules of docs/protocol.md, no I/O.

The Python twin of ``js/src/signal.js``; ``tests/vectors/client_rules.json`` holds the
two together (the same event sequences, the same values shown). A change applies
only on top of the revision before it; a duplicate is ignored; a gap or a patch that
does not apply asks for a snapshot (:attr:`wants_snapshot`) while the last good value
stays shown, and changes that arrive meanwhile are kept and replayed on top of the
snapshot. A value the publisher never had is never shown.
"""

from __future__ import annotations

from ._errors import PatchError
from ._patch import apply_patch, json_equal
from ._protocol import Change, Refused
from ._types import JSON

__all__ = ["SignalState"]

# Changes kept while a snapshot is on its way; past this the oldest would be useless
# anyway (the snapshot would leave a gap, and we would resync again). As signal.js.
MAX_BUFFERED = 10_000


class SignalState:
    """``value`` at ``rev`` (``-1``: none yet), ``closed``, and what to fetch, if anything.

    Not thread-safe: one reader (the follower's thread) drives it.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.value: JSON = None
        self.rev = -1
        self.closed = False
        self.wants_snapshot: str | None = None  # why a snapshot is needed, while it is
        self.orphaned = False  # the hub said its publisher is gone (a per-signal ``stale``)
        self._orphaned_rev = -1  # the revision the latest ``stale`` named
        self.refused: str | None = None  # the hub cannot serve it (a ``refused`` event)
        self._buffer: dict[int, Change] = {}

    @property
    def state(self) -> str:
        """``empty``, ``live``, ``resync``, ``orphaned``, ``refused`` or ``closed``, as
        ``Signal.state`` in JS."""
        if self.closed:
            return "closed"
        if self.refused is not None:
            return "refused"
        if self.wants_snapshot is not None:
            return "resync"
        if self.orphaned:
            return "orphaned"
        return "empty" if self.rev < 0 else "live"

    def receive(self, change: Change) -> bool:
        """Take one message from the stream; True if the value or revision changed."""
        if change.is_snapshot:
            # The stream is ordered: what it sent before a snapshot is superseded.
            self._buffer.clear()
            return self.snapshot(change, reopens=True)
        if change.rev <= self.rev:
            return False  # a duplicate, e.g. replayed after a reconnect
        if self.wants_snapshot is not None:
            self._keep(change)
            return False
        if self.rev < 0 or change.rev != self.rev + 1:
            self._keep(change)
            self._resync(f"expected revision {self.rev + 1}, got {change.rev}")
            return False
        return self._apply(change)

    def close(self, rev: int) -> None:
        """A ``closed`` event: the value stays; if the publisher got further, fetch once."""
        self.closed = True
        if rev > self.rev:
            self._resync(f"closed at revision {rev}, we have {self.rev}")

    def mark_orphaned(self, rev: int) -> None:
        """A per-signal ``stale`` event: its publisher is gone (orphaned); the value stays
        and shows stale until the next snapshot or change of it. Behind ``rev``: fetch, as after
        ``closed``."""
        self.orphaned = True
        self._orphaned_rev = rev
        if rev > self.rev:
            self._resync(f"stale at revision {rev}, we have {self.rev}")

    def refuse(self, refused: Refused) -> None:
        """A ``refused`` event (or such an answer to a fetch): the hub cannot serve the
        value. Keep the last good value, show ``error``, fetch nothing: the hub sends a
        snapshot on the stream once it can serve it again."""
        self.refused = refused.error
        self.wants_snapshot = None
        self._buffer.clear()

    def answer(self, found: Change | Refused) -> bool:
        """The snapshot endpoint's answer to a fetch: a snapshot, or a refusal."""
        if isinstance(found, Refused):
            self.refuse(found)
            return False
        return self.snapshot(found)

    def resync(self, reason: str) -> None:
        """Ask for a snapshot because something arrived that could not even be parsed."""
        self._resync(reason)

    def snapshot(self, change: Change, *, reopens: bool = False) -> bool:
        """A snapshot: replaces the value whatever our revision (the hub may have
        restarted), then replays what was kept. One on the stream ``reopens`` a closed
        signal (it was declared again); one fetched after ``closed`` is its last value,
        and it stays closed. True if the value or revision changed."""
        value = change.patch[0]["value"]
        changed = change.rev != self.rev or not json_equal(value, self.value)
        if changed:
            self.value = value
        self.rev = change.rev
        if reopens:
            self.closed = False
            self.orphaned = False  # on the stream: declared again, or not orphaned at all
        elif not change.orphaned and change.rev > self._orphaned_rev:
            # Fetched, unmarked, past the stale's revision: declared again (that takes a
            # revision, whose copy on the stream we would ignore as a duplicate). At
            # that very revision it may predate the stale: keep it.
            self.orphaned = False
        if change.orphaned:
            self.orphaned = True  # fetched while its publisher is gone
        self.refused = None
        self.wants_snapshot = None
        for rev in [r for r in self._buffer if r <= self.rev]:
            del self._buffer[rev]
        while (nxt := self._buffer.pop(self.rev + 1, None)) is not None:
            if not self._apply(nxt):
                break
            changed = True
        if self.wants_snapshot is None and self._buffer:
            self._resync(f"revisions after {self.rev} are missing")
        return changed

    def fetch_failed(self) -> None:
        """The snapshot could not be had: a closed signal shows what it has; else ask again."""
        if self.closed:
            self.wants_snapshot = None  # it may be gone from the hub

    def _keep(self, change: Change) -> None:
        if len(self._buffer) >= MAX_BUFFERED:
            self._buffer.clear()
        self._buffer[change.rev] = change

    def _apply(self, change: Change) -> bool:
        try:
            # apply_patch is atomic: on failure self.value is untouched.
            self.value = apply_patch(self.value, change.patch)
        except PatchError as exc:
            self._resync(f"revision {change.rev} does not apply ({exc})")
            return False
        self.rev = change.rev
        self.closed = False  # a closed signal can be declared again
        self.orphaned = False  # someone publishes it again
        self.refused = None
        return True

    def _resync(self, reason: str) -> None:
        if self.wants_snapshot is None:
            self.wants_snapshot = reason
