"""The outgoing queue of one signal: its changes from the moment they are recorded
until the publisher takes them, as one message, for the hub.

A ``ServerSignal`` records into its outbox in the caller's thread; the publisher's
thread takes from it. Every public method takes the lock the outbox was given: the
signal's own, so that a value and the queue of its changes move together.

Changes coalesce while the signal's rate limit holds them back (a replace makes
earlier replaces of the same path moot), but never past the hub's limit on one
message: what waits is then sealed as a message of its own, and leaves first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from . import _codec
from ._errors import LimitError
from ._types import JSON

__all__ = ["Entry", "Outbox", "Parcel"]

Entry = tuple[str, str, bytes]
"""One recorded op: ``(op, path, the op as JSON bytes)``."""

# A message travels in a JSON array of messages (a WebSocket frame, a POST body),
# whose brackets count against the hub's limit (_transport counts them the same way).
_FRAMING = len(b"[]")
_BASE = len(b',"base":')  # before the revision's digits


@dataclass(frozen=True, slots=True)
class Parcel:
    """A message taken from an outbox for the hub."""

    message: bytes
    whole: bool  # the whole value (a declare), not changes to it
    sent: Callable[[int], None]  # call with the hub's revision once the hub has it


class Outbox:
    """The changes of signal ``key`` that the hub does not have yet.

    ``value`` returns the signal's current value, ``revision`` the hub's revision of
    the value it last acknowledged, and ``observed`` what to call with the hub's
    revision of the current value once sent; each is called with the lock held.
    ``schedule`` asks the publisher to take from this outbox (once per send, not
    per change); ``limit`` is the hub's limit on one message, None for none.
    """

    def __init__(
        self,
        key: str,
        lock: threading.RLock,
        *,
        max_rate: float,
        limit: Callable[[], int | None],
        schedule: Callable[[Outbox], None],
        value: Callable[[], JSON],
        revision: Callable[[], int],
        observed: Callable[[], Callable[[int], None]],
    ) -> None:
        self.key = key
        self.max_rate = max_rate
        self._lock = lock
        self._limit = limit
        self._schedule = schedule
        self._value = value
        self._revision = revision
        self._observed = observed
        self._head = b'{"op":"patch","name":' + _codec.dumps(key) + b',"patch":['
        # What the layout adds to its ops, measured from a message built without any.
        self._layout_bytes = len(self._patch_message([]))
        self._pending: list[Entry] = []
        self._pending_bytes = 0  # their bytes, at most (pruned replaces are not taken off)
        self._sealed: list[bytes] = []  # patch messages that would not coalesce under the limit
        self._needs_declare = False  # send the whole value next (the hub lost track)
        self._too_big = False  # the whole value is too big for one message
        self._next_send = 0.0  # loop time before which the rate limit holds changes back
        self._scheduled = False  # the publisher has been asked to take; no need to ask again
        self._superseded = False

    # -- the signal's side (any thread) -----------------------------------------------

    def declaration(self, doc: JSON) -> bytes:
        """The message that carries ``doc`` whole, as this signal's value."""
        return _codec.dumps({"op": "declare", "name": self.key, "value": doc})

    def whole(self) -> bytes:
        """The message that carries the signal's current value whole."""
        with self._lock:
            return self.declaration(self._value())

    def record(self, entries: list[Entry], size: int, doc: JSON) -> None:
        """Queue a change: its ops (``size``: their bytes in all), which make the
        signal's value ``doc``. A replace drops the queued ops it makes moot.

        :class:`LimitError`, and nothing queued, for a change bigger than the hub reads
        in one message (sent, it would be rejected). Also while the hub lacks the value
        and the whole of it did not fit (it grew past the limit in small changes, then
        the hub lost it: a reconnect, a restart): the next message must carry ``doc``
        whole, so that is what must fit."""
        if not entries:
            return
        with self._lock:
            limit = self._limit()
            if limit is not None:
                self._check(limit, size, len(entries), doc)
            self._too_big = False  # a new value, and it fits
            pending = self._pending
            if (
                limit is not None
                and pending
                and self._size(self._pending_bytes + size, len(pending) + len(entries)) > limit
            ):
                # Coalesced with what waits, this change would not fit one message: what
                # waits leaves first, as a message of its own (each is a value this signal
                # had; cut anywhere else, viewers could see one it never had).
                self._sealed.append(self._take_pending())
            self._pending_bytes += size

            for entry in entries:
                kind, path = entry[0], entry[1]
                if kind == "replace" and path == "":
                    pending.clear()  # a whole new value makes every queued op moot
                    self._sealed.clear()
                    self._pending_bytes = len(entry[2])
                elif kind == "replace":
                    # Only a trailing run of replaces may be pruned: an add or remove in
                    # between could shift list indexes, so an earlier path would mean
                    # another element.
                    start = len(pending)
                    while start > 0 and pending[start - 1][0] == "replace":
                        start -= 1
                    prefix = path + "/"
                    pending[start:] = [
                        p for p in pending[start:] if p[1] != path and not p[1].startswith(prefix)
                    ]
                pending.append(entry)
            if self._scheduled:
                return
            # One wake-up of the publisher thread per send, not per change.
            self._scheduled = True
        self._schedule(self)

    @property
    def superseded(self) -> bool:
        """Whether another signal of this process took the key over (see :meth:`supersede`)."""
        with self._lock:
            return self._superseded

    # -- the publisher's side (its thread) ----------------------------------------------

    @property
    def next_send(self) -> float:
        """The loop time before which the signal's rate limit holds its changes back."""
        with self._lock:
            return self._next_send

    def lift_rate_limit(self) -> None:
        """Let what waits leave at the next take (a flush)."""
        with self._lock:
            self._next_send = 0.0

    def take(self, now: float) -> Parcel | None:
        """The message to send now (loop time ``now``), if any; what waits after it
        waits for the rate limit, unless :meth:`backlog` says otherwise."""
        with self._lock:
            self._scheduled = False
            if self._too_big:
                return None  # sending the same value again would be rejected again
            whole = self._needs_declare
            if whole:
                self._needs_declare = False
                self._pending.clear()
                self._pending_bytes = 0
                self._sealed.clear()
                message = self.whole()
            elif self._sealed:
                message = self._sealed.pop(0)
                if not self._sealed and self._pending:
                    # The rest of the burst leaves right after, not a rate period later.
                    self._sealed.append(self._take_pending())
            elif self._pending:
                message = self._take_pending()
            else:
                return None
            if not whole:
                # Made on the revision the hub last acknowledged: a hub whose value is
                # another (it lost data, another publisher changed it) rejects it, and
                # the whole value is declared again, never patched onto a wrong base.
                base = str(self._revision()).encode()
                message = message[:-1] + b',"base":' + base + b"}"
            self._next_send = now + 1.0 / self.max_rate
            sent = self._observed()
        return Parcel(message, whole, sent)

    def backlog(self) -> bool:
        """Messages sealed to keep under the hub's limit still wait: take again at once."""
        with self._lock:
            return bool(self._sealed)

    def resend_whole(self) -> None:
        """The hub's copy and ours may disagree: the next take is the whole value."""
        with self._lock:
            self._needs_declare = True

    def mark_too_big(self, parcel: Parcel) -> bool:
        """``parcel`` (taken from here) was too big to send. True: take again at once
        (the whole value may fit where coalesced changes did not); False: it was the
        whole value, so nothing leaves until the value changes."""
        with self._lock:
            self._needs_declare = True
            if not parcel.whole:
                return True
            # A change made since the value was taken may fit: only then try again.
            self._too_big = not self._pending
            return False

    def supersede(self) -> None:
        """Another signal of this process took the key over: drop what waits, for good."""
        with self._lock:
            self._superseded = True
            self._pending.clear()
            self._sealed.clear()
            self._needs_declare = False

    # -- messages -----------------------------------------------------------------------

    def _check(self, limit: int, ops_bytes: int, count: int, doc: JSON) -> None:
        size = self._size(ops_bytes, count)
        if size > limit:
            raise LimitError(
                f"expected a change of {self.key!r} of at most {limit:,} bytes as JSON (the "
                f"hub's message_bytes limit), got {size:,}"
            )
        if self._too_big:
            whole = len(self.declaration(doc)) + _FRAMING
            if whole > limit:
                raise LimitError(
                    f"the hub lost its copy of {self.key!r} (a reconnect or a restart), so "
                    f"its next message must hold the whole value, expected at most "
                    f"{limit:,} bytes (the hub's message_bytes limit), got {whole:,}; "
                    "nothing changed: make the value smaller"
                )

    def _patch_message(self, ops: list[bytes]) -> bytes:
        return self._head + b",".join(ops) + b"]}"

    def _size(self, ops_bytes: int, count: int) -> int:
        """The bytes, framed, of the patch message of ``count`` ops of ``ops_bytes``
        bytes in all, as it leaves: the layout's own, a comma between two ops, and the
        ``"base"`` that :meth:`take` adds (lock held)."""
        return self._layout_bytes + ops_bytes + count - 1 + self._base_bytes() + _FRAMING

    def _base_bytes(self) -> int:
        """The bytes of ``,"base":<revision>``, the revision the hub will have
        acknowledged when this message leaves: each message sent before it (the sealed
        ones, and one that may be on its way) raises it by one. Counted for all of them,
        so a message is never bigger than measured; exact but at a power of ten, where
        the count may hold one digit more than the message."""
        ahead = len(self._sealed) + 1
        return _BASE + len(str(self._revision() + ahead))

    def _take_pending(self) -> bytes:
        """What waits, as one patch message; nothing waits after (lock held)."""
        message = self._patch_message([p[2] for p in self._pending])
        self._pending.clear()
        self._pending_bytes = 0
        return message
