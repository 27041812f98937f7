"""How many leading or trailing elements two lists share as the very same objects.

This is the inner loop of ``set()``: an element that is the very object published
before needs neither a type check nor a comparison. The proof is
``all(map(operator.is_, ...))`` over two list iterators: one C-level call per
element (about 20 ns; ``orjson.dumps`` of a float costs about 28), and the position
of the first difference comes from the iterator's ``__length_hint__``. Equality
(``a == b``, which compares pointers first and is ten times faster) is not enough:
``1 == True == 1.0`` and ``0.0 == -0.0``, and an equal container is not ours.

That keeps ``set()`` of a 100k-item list under ``orjson.dumps`` of the value
(``bench/patchgen.py``), in plain Python: the package is one pure wheel, for every
platform and for Pyodide (JupyterLite), with no compiled speed-up to build. No reads
of the interpreter's memory from Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from operator import is_, length_hint
from typing import Any

__all__ = ["identical_run"]


def identical_run(
    a: list[Any], b: list[Any], limit: int, *, from_end: bool = False, skip: int = 0
) -> int:
    """The length of the run of elements (leading, or trailing with ``from_end``) that
    are the same objects in ``a`` and ``b``, counting at most ``limit`` and given that
    the first ``skip`` of them are. A list resized by another thread during the call
    may get a wrong count: callers pass a copy they just made, a signal's own value
    under its lock, or a user's list where that can only publish a mix of its states
    (``_refresh._extended``).
    """
    limit = min(limit, len(a), len(b))
    if limit <= skip:
        return max(limit, 0)
    if (a[-1 - skip] is not b[-1 - skip]) if from_end else (a[skip] is not b[skip]):
        return skip  # the usual answer for values parsed anew: no search at all
    mine: Iterator[Any] = reversed(a) if from_end else iter(a)
    theirs: Iterator[Any] = reversed(b) if from_end else iter(b)
    if skip:
        _advance(mine, skip)
        _advance(theirs, skip)
    left = len(a) - skip  # elements ``mine`` has yet to yield
    if all(map(is_, mine, theirs)):
        # One of them ran out, or both: every element up to the shorter length matched.
        return limit
    # ``all`` stopped right after the first pair that differed: count what came before.
    return min(left - length_hint(mine) - 1 + skip, limit)


def _advance(iterator: Iterator[Any], count: int) -> None:
    next(islice(iterator, count, count), None)  # the itertools "consume" recipe, in C
