"""identical_run(), the plain-Python identity proof under set(), against a plain loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nb_sse_signals import _identity
from nb_sse_signals._identity import identical_run


def reference(a: list[Any], b: list[Any], limit: int, from_end: bool, skip: int) -> int:
    limit = min(limit, len(a), len(b))
    if limit <= skip:
        return max(limit, 0)
    run = skip
    while run < limit:
        x, y = (a[-1 - run], b[-1 - run]) if from_end else (a[run], b[run])
        if x is not y:
            break
        run += 1
    return run


def test_equal_but_distinct_objects_end_a_run() -> None:
    run = identical_run
    shared = [0.5, "a", None]
    a = [*shared, float("1.5"), 2]
    b = [*shared, float("1.5"), 2]  # 1.5 == 1.5, but parsed twice: two objects
    assert a[3] is not b[3]
    assert run(a, b, 5) == 3
    assert run(a, b, 5, from_end=True) == 1
    assert run(a, b, 2) == 2
    assert run(a, b, 5, skip=4) == 5  # the caller vouches for the first 4


def test_empty_and_short_lists() -> None:
    run = identical_run
    assert run([], [], 10) == 0
    x = object()
    assert run([x], [x, object()], 10) == 1
    assert run([x], [object(), x], 10, from_end=True) == 1
    assert run([x], [x], 0) == 0


@st.composite
def list_pairs(draw: st.DrawFn) -> tuple[list[Any], list[Any], int, bool, int]:
    pool = [object() for _ in range(6)]
    a = draw(st.lists(st.sampled_from(pool), max_size=300))
    b = list(a)
    for _ in range(draw(st.integers(0, 3))):
        if b:
            b[draw(st.integers(0, len(b) - 1))] = object()
    b += [object()] * draw(st.integers(0, 3))
    if draw(st.booleans()):
        b = b[draw(st.integers(0, len(b))) :]
    limit = draw(st.integers(-1, 310))
    return a, b, limit, draw(st.booleans()), draw(st.integers(0, 5))


@settings(max_examples=300, deadline=None)
@given(case=list_pairs())
def test_identical_run_matches_a_plain_loop(
    case: tuple[list[Any], list[Any], int, bool, int],
) -> None:
    a, b, limit, from_end, skip = case
    skip = min(skip, reference(a, b, limit, from_end, 0))  # a true promise, as callers make
    expected = reference(a, b, limit, from_end, skip)
    assert identical_run(a, b, limit, from_end=from_end, skip=skip) == expected


def test_the_package_is_pure_python() -> None:
    # One py3-none-any wheel for every platform and Pyodide: no compiled module ships.
    import nb_sse_signals

    package = Path(nb_sse_signals.__file__).parent
    compiled = [p.name for p in package.iterdir() if p.suffix in {".so", ".pyd", ".c"}]
    assert compiled == []


def test_reads_no_interpreter_memory_from_python() -> None:
    # The Python side must be plain Python: no ctypes, no pickled iterator state.
    import inspect

    source = inspect.getsource(_identity)
    assert "import ctypes" not in source
    assert "__setstate__" not in source
