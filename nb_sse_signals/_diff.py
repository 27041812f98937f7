"""Compute an RFC 6902 patch from one JSON value to another, fast and type-strict.

Two callers: the hub, with ``diff(old, new)`` for a whole value just parsed from a
``set`` or ``declare`` message (nothing shared, so every element is compared), and
``_refresh`` (``ServerSignal.set()`` and ``SignalHub.set`` from Python), with
:func:`diff_into` and :func:`diff_list_into` for the parts it could not skip. Where
``new`` shares containers or items with ``old`` (``old + [item]``, a dict with one key
changed), shared structure is skipped by identity (``_identity``), so the cost is one
pointer comparison per unchanged element plus work proportional to what changed.
Both lists must be ones no other thread resizes during the call. Python ``==`` is
never trusted alone: ``[1] == [True] == [1.0]``, yet the three serialise differently,
so a change of type always yields a ``replace``.

Lists are compared by common prefix and common suffix, and the middle becomes
pairwise (nested) diffs plus adds or removes: small and correct, not minimal (no LCS).

Op values alias ``new``'s containers (no copy): the hub serialises the patch at once
and ``apply_patch`` copies what it inserts. Callers that keep a patch while mutating
``new`` must copy it themselves.
"""

from __future__ import annotations

from itertools import compress, repeat
from operator import is_, is_not
from typing import Any, cast

from ._identity import identical_run
from ._patch import escape, json_equal, same_bytes
from ._types import JSON, Op

_MISSING = object()
_CONTAINERS = (list, dict)


def diff(old: JSON, new: JSON) -> list[Op]:
    """A patch that turns a copy of ``old`` into a value type-strictly equal to ``new``.

    Neither argument is modified. See the module docstring for aliasing.
    """
    ops: list[Op] = []
    diff_into(old, new, "", ops)
    return ops


def diff_into(old: JSON, new: JSON, path: str, ops: list[Op]) -> None:
    """Append to ``ops`` the patch from ``old`` to ``new``, both located at ``path``."""
    if old is new:
        return
    kind = type(old)
    if kind is type(new):
        if kind is dict:
            _diff_dict(cast(dict[str, JSON], old), cast(dict[str, JSON], new), path, ops)
            return
        if kind is list:
            diff_list_into(cast(list[JSON], old), cast(list[JSON], new), path, ops)
            return
        if old == new:  # same scalar type, so == is exact (0.0 == -0.0 aside)
            return
    ops.append({"op": "replace", "path": path, "value": new})


def _diff_dict(old: dict[str, JSON], new: dict[str, JSON], path: str, ops: list[Op]) -> None:
    # Keys whose value is not the very same object in ``new`` (missing included), found
    # at C speed: a 10k-key dict with one changed key costs no Python loop over 10k keys.
    if list(old) == list(new):
        # Same keys in the same order (the usual case): pair the values directly,
        # no hash lookups. (List equality checks the lengths first.)
        changed = list(compress(old, map(is_not, old.values(), new.values())))
    else:
        theirs = map(new.get, old, repeat(_MISSING))
        changed = list(compress(old, map(is_not, old.values(), theirs)))
    removed = 0
    for key in changed:
        if key in new:
            diff_into(old[key], new[key], path + "/" + escape(key), ops)
        else:
            ops.append({"op": "remove", "path": path + "/" + escape(key)})
            removed += 1
    # The keys of ``new`` that are not in ``old`` (every other key of ``old`` is in ``new``).
    added = len(new) - len(old) + removed
    if added:
        for key in new:
            if key not in old:
                ops.append({"op": "add", "path": path + "/" + escape(key), "value": new[key]})


def diff_list_into(
    old: list[JSON], new: list[JSON], path: str, ops: list[Op], head: int = 0, tail: int = 0
) -> None:
    """:func:`diff_into` for two lists, of which the caller already knows that the first
    ``head`` and the last ``tail`` elements are equal (they are not looked at again)."""
    lo, ln = len(old), len(new)
    overlap = min(lo, ln)
    # (When the known runs already cover the overlap, each call returns its ``skip``.)
    head = _common_run(old, new, overlap - tail, from_end=False, skip=head)
    tail = _common_run(old, new, overlap - head, from_end=True, skip=tail)
    old_mid, new_mid = lo - head - tail, ln - head - tail
    paired = min(old_mid, new_mid)
    mark = len(ops)
    for i in range(head, head + paired):
        diff_into(old[i], new[i], f"{path}/{i}", ops)
    for i in range(head + paired, head + new_mid):
        ops.append({"op": "add", "path": f"{path}/{i}", "value": new[i]})
    # Highest index first: each remove then pops from as near the end as possible.
    for i in range(head + old_mid - 1, head + paired - 1, -1):
        ops.append({"op": "remove", "path": f"{path}/{i}"})
    if len(ops) - mark > max(ln, 1):
        # More ops than elements (many removes, or nested edits everywhere): one
        # replace of the whole list is smaller and cheaper to apply.
        del ops[mark:]
        ops.append({"op": "replace", "path": path, "value": new})


def _common_run(
    old: list[Any],
    new: list[Any],
    limit: int,
    *,
    from_end: bool,
    skip: int,
) -> int:
    """How many leading (or trailing) elements, at most ``limit``, are type-strictly equal,
    given that the first ``skip`` are.

    Runs of identical elements are skipped at memory speed (:func:`identical_run`).
    An equal-but-distinct element (fresh containers from the normaliser, data parsed
    again) starts a gallop: ever larger chunks are compared at C speed instead of
    walking each element in Python.
    """
    pos = skip
    hopeful = True
    while True:
        pos = identical_run(old, new, limit, from_end=from_end, skip=pos)
        if pos >= limit:
            return pos
        at = -1 - pos if from_end else pos
        if not json_equal(old[at], new[at]):
            return pos
        pos += 1
        if hopeful:
            # Values parsed anew are usually equal all the way: try the whole rest in one
            # C-speed comparison (once per call) before galloping towards the difference.
            # (At the limit, the rest is empty, and so equal.)
            hopeful = False
            if _range_equal(old, new, pos, limit - pos, from_end):
                return limit
        step = 8
        while pos + step <= limit and _range_equal(old, new, pos, step, from_end):
            pos += step
            step *= 2


def _range_equal(old: list[JSON], new: list[JSON], pos: int, count: int, from_end: bool) -> bool:
    """Whether ``count`` elements from the ``pos``-th (from the end, if asked) are equal."""
    if from_end:
        lo, ln = len(old), len(new)
        return _run_equal(old[lo - pos - count : lo - pos], new[ln - pos - count : ln - pos])
    return _run_equal(old[pos : pos + count], new[pos : pos + count])


def _run_equal(a: list[JSON], b: list[JSON]) -> bool:
    if all(map(is_, a, b)):  # the same objects (stops at the first that is not)
        return True
    if a != b:  # type-strict equality implies ==, so this refutes at C speed
        return False
    # Equal scalars of the same types are equal JSON (the common case: numbers parsed
    # anew). ``count`` of a type among types is a pointer comparison per item, so a
    # run of one scalar type is proven in two passes of ``type`` plus two of those.
    kinds = list(map(type, a))
    first = kinds[0]
    if first not in _CONTAINERS and kinds.count(first) == len(kinds):
        return list(map(type, b)) == kinds
    # Equal bytes from orjson prove type-strict equality; else each pair is decided by
    # json_equal (dict key order, ints beyond 64 bits).
    return same_bytes(a, b) or all(map(json_equal, a, b))
