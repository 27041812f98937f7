"""How many leading or trailing elements two lists share as the very same objects.

This is the inner loop of ``set()``: an element that is the very object published
before needs neither a type check nor a comparison. From Python the proof costs
about 15 ns per element (``all(map(operator.is_, a, b))``: a call, and reference
count writes that touch every element's memory), as much as serialising a float.
On CPython a list's items are a C array of object pointers, so the same question
is a byte comparison of two pointer arrays: about 0.5 ns per element through
``ctypes.string_at``, 22-27x faster (bench/patchgen.py measures both).

The fast path reads those arrays, so it is used only where that is sound:

- on CPython, and only if an import-time self-test reads a known list's pointers
  back exactly; otherwise :func:`identical_run` takes the portable path above;
- lengths are clamped before any read, and ``string_at`` copies with the GIL held;
- callers pass only lists no other thread can resize meanwhile (a copy they just
  made, or a signal's own value under its lock).
"""

from __future__ import annotations

import sys
from operator import is_, length_hint
from typing import Any

try:
    import ctypes
except ImportError:  # a Python built without libffi: the portable path only
    ctypes = None  # type: ignore[assignment]

__all__ = ["identical_run"]

_PTR = ctypes.sizeof(ctypes.c_void_p) if ctypes is not None else 8


def _items_offset() -> int | None:
    """Where a list keeps its item pointer, if this interpreter is one we can read."""
    if ctypes is None or sys.implementation.name != "cpython":
        return None
    # PyListObject ends with ``PyObject **ob_item; Py_ssize_t allocated;``.
    offset = list.__basicsize__ - 2 * _PTR
    probe = [object(), object(), object()]
    try:
        address = ctypes.c_void_p.from_address(id(probe) + offset).value
        if not address:
            return None
        seen = list((ctypes.c_void_p * len(probe)).from_address(address))
    except (ValueError, OSError):  # pragma: no cover - an interpreter we do not know
        return None
    return offset if seen == [id(x) for x in probe] else None


_OFFSET = _items_offset()
_MAX_READ = (1 << 31) - 1  # string_at takes a C int size


def identical_run(
    a: list[Any], b: list[Any], limit: int, *, from_end: bool = False, skip: int = 0
) -> int:
    """The length of the run of elements (leading, or trailing with ``from_end``) that
    are the same objects in ``a`` and ``b``, counting at most ``limit`` and given that
    the first ``skip`` of them are. Neither list may be resized by another thread
    during the call.
    """
    limit = min(limit, len(a), len(b))
    if limit <= skip:
        return max(limit, 0)
    if (a[-1 - skip] is not b[-1 - skip]) if from_end else (a[skip] is not b[skip]):
        return skip  # the usual answer for values parsed anew: no search at all
    if _OFFSET is None or limit * _PTR > _MAX_READ:
        return _portable_run(a, b, limit, from_end, skip)
    la, lb = len(a), len(b)
    base_a = ctypes.c_void_p.from_address(id(a) + _OFFSET).value or 0
    base_b = ctypes.c_void_p.from_address(id(b) + _OFFSET).value or 0

    def same(lo: int, hi: int) -> bool:
        # Elements lo..hi-1 of the run, as byte ranges of the two pointer arrays.
        start_a, start_b = (la - hi, lb - hi) if from_end else (lo, lo)
        size = (hi - lo) * _PTR
        return ctypes.string_at(base_a + start_a * _PTR, size) == ctypes.string_at(
            base_b + start_b * _PTR, size
        )

    if same(skip, limit):
        return limit
    lo, hi = skip, limit  # the first difference is somewhere in lo..hi-1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if same(lo, mid):
            lo = mid
        else:
            hi = mid
    return lo


def _portable_run(a: list[Any], b: list[Any], limit: int, from_end: bool, skip: int) -> int:
    size = len(a)
    mine: Any
    theirs: Any
    if from_end:
        mine, theirs = reversed(a), reversed(b)
        _seek(mine, size - 1 - skip)
        _seek(theirs, len(b) - 1 - skip)
    else:
        mine, theirs = iter(a), iter(b)
        _seek(mine, skip)
        _seek(theirs, skip)
    if all(map(is_, mine, theirs)):
        return limit
    return min(size - length_hint(mine) - 1, limit)  # both just yielded that element


def _seek(iterator: Any, index: int) -> None:
    iterator.__setstate__(index)  # a list iterator's pickled state is its position: O(1)
