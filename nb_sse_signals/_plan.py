"""Planning a change for a shared engine: what one commit of ``_redis`` sends, pure.

A plan is made on a signal as a publisher sees it (a hub's ``_store.Entry``, or a
:class:`Cached` state of ``RedisPublisher``), under the hub's lock, and committed by
the engine's script only if the signal is still at the plan's base revision; else it
is planned again on what won. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, cast

import orjson

from ._depth import check_depth
from ._diff import diff
from ._errors import (
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
from ._store import UNKNOWN
from ._types import JSON

__all__ = [
    "Cached",
    "Plan",
    "State",
    "check_size",
    "checked_plan",
    "not_json",
    "older",
    "open_state",
    "plan_close",
    "plan_declare",
    "plan_patch",
    "plan_set",
    "recreate",
]


class State(Protocol):
    """A signal as a publisher sees it (the hub's ``_Signal``, or a publisher's cache)."""

    rev: int
    closed: bool
    value: JSON


@dataclass(slots=True)
class Cached:
    rev: int
    closed: bool
    value: JSON
    # ``value`` is a publisher's message's own (a parsed set's): copied before the
    # first change in place, so that a frame run again reads its messages as sent.
    borrowed: bool = False


class Plan(NamedTuple):
    """One change, as the commit script takes it. (A named tuple, not a frozen
    dataclass: a frame plans hundreds, and this one is made several times faster.)"""

    kind: str  # "c", "n" or "x"
    base: int | None  # None: the signal must not exist in Redis yet
    seen_closed: bool
    start_rev: int  # the rev to create it at, when base is None
    payload: bytes
    value_json: bytes
    doc: JSON = None  # the value after a change ("c"), for the next plan of a batch
    borrowed: bool = False  # doc is the caller's own (a parsed value): not to change

    @property
    def rev(self) -> int:
        """The revision it commits at, if its base holds in Redis."""
        if self.base is None:
            return self.start_rev
        rev = self.base if self.kind == "x" else self.base + 1
        # A whole value or close put back over an older state (Redis went back, see
        # :func:`recreate`) takes the revision after what its viewers saw.
        return rev if self.kind == "c" else max(rev, self.start_rev)


def _whole(value_json: bytes, base: int | None, seen_closed: bool, rev: int) -> Plan:
    return Plan("n", base, seen_closed, rev, value_json, value_json)


def plan_declare(state: State | None, doc: JSON, *, whole: bool = False) -> Plan | None:
    """``whole``: a whole-value replace at the next revision, even of an equal value."""
    if state is None:
        return _whole(orjson.dumps(doc), None, False, 0)
    if state.closed:
        return _whole(orjson.dumps(doc), state.rev, True, 0)
    if whole or state.value is UNKNOWN:  # (unknown: nothing to diff against)
        value_json = orjson.dumps(doc)
        payload = b'[{"op":"replace","path":"","value":' + value_json + b"}]"
        return Plan("c", state.rev, False, 0, payload, value_json)
    ops = diff(state.value, doc)
    return Plan("c", state.rev, False, 0, orjson.dumps(ops), orjson.dumps(doc)) if ops else None


def open_state(name: str, state: State | None) -> State:
    if state is None:
        raise UnknownSignalError(
            f"expected the name of a declared signal, got {name!r} (declare it first)"
        )
    if state.closed:
        raise SignalClosedError(f"signal {name!r} is closed; declare it again to reopen it")
    return state


def plan_set(name: str, state: State | None, value: object, parsed: bool) -> Plan | None:
    sig = open_state(name, state)
    if parsed:
        # Parsed JSON is taken as it is, unchecked but for its depth (as a hub alone
        # checks it): one orjson can still write inside a patch, but that every hub
        # would refuse to read back (``normalise`` checks what it copies).
        check_depth(cast(JSON, value))
    if sig.value is UNKNOWN:  # this hub could not read it: the whole new value
        doc = cast(JSON, value) if parsed else normalise(value)
        ops = [{"op": "replace", "path": "", "value": doc}]
    elif parsed:
        doc = cast(JSON, value)
        ops = diff(sig.value, doc)
    else:
        doc, ops = refresh(sig.value, value)
    # ops may share containers with doc (see _diff): serialise both at once.
    if not ops:
        return None
    return Plan("c", sig.rev, False, 0, orjson.dumps(ops), orjson.dumps(doc), doc, parsed)


def plan_patch(
    name: str,
    state: State | None,
    ops: Sequence[dict[str, Any]],
    base: int | None,
    *,
    in_place: bool = False,
) -> Plan | None:
    """``in_place``: ``state``'s value is the caller's own (a batch's overlay), changed in
    place (``apply_patch`` is atomic); else a copy is."""
    sig = open_state(name, state)
    if base is not None and base != sig.rev:
        raise PatchError(
            f"expected a patch of {name!r} at revision {sig.rev}, got one made at {base}"
        )
    if not ops:
        return None
    if sig.value is UNKNOWN:
        raise PatchError(
            f"expected a patch of a value this hub can read, but {name!r} is refused here"
            " (its value in Redis is unreadable): set or declare it whole"
        )
    # On a copy: the hub's value changes only when the change comes back from Redis.
    new = apply_patch(sig.value if in_place else copy_json(sig.value), list(ops))
    return Plan("c", sig.rev, False, 0, orjson.dumps(list(ops)), orjson.dumps(new), new)


def plan_close(name: str, state: State | None) -> Plan:
    sig = open_state(name, state)
    return Plan("x", sig.rev, False, 0, b"", b"")


def recreate(plan: Plan, state: State, theirs: State | None = None) -> Plan:
    """``plan`` for a Redis that no longer has the signal (``theirs`` None), or has an
    older state of it (``theirs``: it went back in time): put it back whole, after the
    revision its viewers have (revisions never go back)."""
    base = None if theirs is None else theirs.rev
    seen_closed = theirs is not None and theirs.closed
    if plan.kind == "x":
        return Plan("x", base, seen_closed, state.rev, b"", b"")
    return Plan("n", base, seen_closed, state.rev + 1, plan.value_json, plan.value_json)


def older(theirs: State, ours: State) -> bool:
    """Whether ``theirs`` is an older state than ``ours`` (a close keeps its revision)."""
    return (theirs.rev, theirs.closed) < (ours.rev, ours.closed)


def checked_plan(
    name: str,
    make: Callable[[State | None], Plan | None],
    state: State | None,
    value_bytes: int = Limits.backplane_value_bytes,
) -> Plan | None:
    """``make(state)``; a value no JSON encoder can write (an integer beyond 64 bits) is
    :class:`NotJSONError`, as without a backplane, not orjson's own error.

    A change whose value (or patch) would be bigger than ``value_bytes`` as JSON is
    :class:`LimitError`: every hub refuses to read more than its
    ``backplane_value_bytes`` from Redis, so a value that grew past it (many small
    patches) would be served by hubs that follow each change, and refused by any
    that reloads. Caught here, before Redis has it; nothing changes.
    """
    try:
        plan = make(state)
    except orjson.JSONEncodeError as exc:
        raise not_json(name, exc) from None
    if plan is not None:
        check_size(name, plan, value_bytes)
    return plan


def not_json(name: str, exc: orjson.JSONEncodeError) -> NotJSONError:
    """What a change of ``name`` no JSON encoder can write is (not orjson's own error)."""
    return NotJSONError(f"expected a value of {name!r} JSON encoders can write: {exc}")


def check_size(name: str, plan: Plan, value_bytes: int) -> None:
    """:class:`LimitError` if ``plan`` makes a value (or patch) bigger than ``value_bytes``
    as JSON (see :func:`checked_plan`)."""
    size = max(len(plan.value_json), len(plan.payload))
    if size > value_bytes:
        raise LimitError(
            f"expected a value of {name!r} of at most {value_bytes:,} bytes as JSON"
            f" (the backplane_value_bytes limit), got a change that makes it {size:,}"
        )
