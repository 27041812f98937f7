"""Compute an RFC 6902 patch from one JSON value to another, fast and type-strict.

The hub calls ``diff(old, new)`` on every ``set()``, usually with ``new`` sharing most
of its containers with ``old`` (``old + [item]``, a dict with one key changed). Shared
structure is skipped by identity at C speed (``map(operator.is_, ...)``), so the
cost is one pointer comparison per unchanged element plus work proportional to what
changed. Python ``==`` is never trusted alone: ``[1] == [True] == [1.0]``, yet the
three serialise differently, so a change of type always yields a ``replace``.

Lists are compared by common prefix and common suffix, and the middle becomes
pairwise (nested) diffs plus adds or removes: small and correct, not minimal (no LCS).

Op values alias ``new``'s containers (no copy): the hub serialises the patch at once
and ``apply_patch`` copies what it inserts. Callers that keep a patch while mutating
``new`` must copy it themselves.
"""

from __future__ import annotations

from collections import deque
from itertools import compress, islice, repeat
from operator import is_, is_not, length_hint
from typing import cast

from ._patch import JSON, Op, escape, json_equal, same_bytes

_MISSING = object()


def diff(old: JSON, new: JSON) -> list[Op]:
    """A patch that turns a copy of ``old`` into a value type-strictly equal to ``new``.

    Neither argument is modified. See the module docstring for aliasing.
    """
    ops: list[Op] = []
    _diff(old, new, "", ops)
    return ops


def _diff(old: JSON, new: JSON, path: str, ops: list[Op]) -> None:
    if old is new:
        return
    kind = type(old)
    if kind is type(new):
        if kind is dict:
            _diff_dict(cast(dict[str, JSON], old), cast(dict[str, JSON], new), path, ops)
            return
        if kind is list:
            _diff_list(cast(list[JSON], old), cast(list[JSON], new), path, ops)
            return
        if old == new:  # same scalar type, so == is exact (0.0 == -0.0 aside)
            return
    ops.append({"op": "replace", "path": path, "value": new})


def _diff_dict(old: dict[str, JSON], new: dict[str, JSON], path: str, ops: list[Op]) -> None:
    # Keys whose value is not the very same object in ``new`` (missing included), found
    # at C speed: a 10k-key dict with one changed key costs no Python loop over 10k keys.
    if len(old) == len(new) and list(old) == list(new):
        # Same keys in the same order (the usual case): pair the values directly,
        # no hash lookups.
        changed = list(compress(old, map(is_not, old.values(), new.values())))
    else:
        theirs = map(new.get, old, repeat(_MISSING))
        changed = list(compress(old, map(is_not, old.values(), theirs)))
    removed = 0
    for key in changed:
        if key in new:
            _diff(old[key], new[key], path + "/" + escape(key), ops)
        else:
            ops.append({"op": "remove", "path": path + "/" + escape(key)})
            removed += 1
    if len(new) > len(old) - removed:  # some keys of ``new`` are not in ``old``
        for key in new:
            if key not in old:
                ops.append({"op": "add", "path": path + "/" + escape(key), "value": new[key]})


def _diff_list(old: list[JSON], new: list[JSON], path: str, ops: list[Op]) -> None:
    lo, ln = len(old), len(new)
    overlap = min(lo, ln)
    head = _common_run(old, new, overlap, from_end=False)
    tail = _common_run(old, new, overlap - head, from_end=True)
    old_mid, new_mid = lo - head - tail, ln - head - tail
    paired = min(old_mid, new_mid)
    mark = len(ops)
    for i in range(head, head + paired):
        _diff(old[i], new[i], f"{path}/{i}", ops)
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


def _common_run(old: list[JSON], new: list[JSON], limit: int, *, from_end: bool) -> int:
    """How many leading (or trailing) elements, at most ``limit``, are type-strictly equal.

    Identical elements are skipped at C speed by ``all(map(is_, ...))`` over list
    iterators; where it stops, the iterator's length hint gives the index. An
    equal-but-distinct element (fresh containers from the normaliser, data parsed
    again) starts a gallop: ever larger chunks are compared with orjson at C speed
    instead of walking each element in Python.
    """
    if limit <= 0:
        return 0
    size, other = len(old), len(new)
    mine, theirs = (reversed(old), reversed(new)) if from_end else (iter(old), iter(new))
    while True:
        if all(map(is_, mine, theirs)):
            return limit
        j = size - length_hint(mine) - 1  # both iterators have just yielded element j
        if j >= limit:
            return limit
        if from_end:
            if not json_equal(old[size - 1 - j], new[other - 1 - j]):
                return j
        elif not json_equal(old[j], new[j]):
            return j
        pos, step = j + 1, 8
        while pos + step <= limit:
            if from_end:
                a, b = old[size - pos - step : size - pos], new[other - pos - step : other - pos]
            else:
                a, b = old[pos : pos + step], new[pos : pos + step]
            if not _run_equal(a, b):
                break
            deque(islice(mine, step), maxlen=0)  # move both iterators past the chunk
            deque(islice(theirs, step), maxlen=0)
            pos += step
            step *= 2


def _run_equal(a: list[JSON], b: list[JSON]) -> bool:
    if all(map(is_, a, b)):
        return True
    if a != b:  # type-strict equality implies ==, so this refutes at C speed
        return False
    # Equal scalars of the same types are equal JSON (the common case: numbers parsed
    # anew), proven in three C passes without serialising anything.
    kinds = list(map(type, a))
    if kinds == list(map(type, b)) and list not in kinds and dict not in kinds:
        return True
    # Equal bytes from orjson prove type-strict equality; anything else is decided by
    # json_equal (dict key order, ints beyond 64 bits).
    return same_bytes(a, b) or json_equal(a, b)
