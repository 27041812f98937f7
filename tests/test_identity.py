"""identical_run() against a plain Python loop, on the fast path and the portable one."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nb_sse_signals import _identity
from nb_sse_signals._identity import identical_run


@pytest.fixture(params=["fast", "portable"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "portable":
        monkeypatch.setattr(_identity, "_OFFSET", None)
    return str(request.param)


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


def test_the_fast_path_is_taken_on_cpython() -> None:
    if sys.implementation.name == "cpython":
        assert _identity._OFFSET is not None, "the pointer-array self-test failed on CPython"


def test_equal_but_distinct_objects_end_a_run(path: str) -> None:
    shared = [0.5, "a", None]
    a = [*shared, float("1.5"), 2]
    b = [*shared, float("1.5"), 2]  # 1.5 == 1.5, but parsed twice: two objects
    assert a[3] is not b[3]
    assert identical_run(a, b, 5) == 3
    assert identical_run(a, b, 5, from_end=True) == 1
    assert identical_run(a, b, 2) == 2
    assert identical_run(a, b, 5, skip=4) == 5  # the caller vouches for the first 4


def test_empty_and_short_lists(path: str) -> None:
    assert identical_run([], [], 10) == 0
    x = object()
    assert identical_run([x], [x, object()], 10) == 1
    assert identical_run([x], [object(), x], 10, from_end=True) == 1
    assert identical_run([x], [x], 0) == 0


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
    _identity._OFFSET, fast = None, _identity._OFFSET
    try:
        assert identical_run(a, b, limit, from_end=from_end, skip=skip) == expected
    finally:
        _identity._OFFSET = fast


def test_without_ctypes_the_package_imports_and_takes_the_portable_path() -> None:
    # A Python built without libffi has no ctypes; simulate it in a fresh interpreter.
    code = (
        "import sys; sys.modules['ctypes'] = None\n"
        "import nb_sse_signals\n"
        "from nb_sse_signals import _identity\n"
        "from nb_sse_signals._diff import diff\n"
        "assert _identity._OFFSET is None\n"
        "xs = [0.5] * 10\n"
        "assert diff(xs, [*xs, 1.5]) == [{'op': 'add', 'path': '/10', 'value': 1.5}]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
