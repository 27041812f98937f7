"""Goal 1: the cost of turning one change into a patch, beside jsonpatch and orjson.

Documents are lists of floats (what a plot streams), as in the issue's baselines.
``mutate()`` is timed through a real ``ServerSignal`` (recording the edit, serialising
the op, queueing it for the publisher thread); ``diff`` alone and ``ServerSignal.set()``
end to end (``refresh``: normalise + diff in one walk, then serialise and queue) are
both reported, because the first is what the hub pays and the second what a kernel
pays. The identity proof that both rest on is shown beside the portable way to do it.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from unittest import mock

import jsonpatch
import orjson

from nb_sse_signals import _codec
from nb_sse_signals._codec import stdlib_dumps, stdlib_loads
from nb_sse_signals._diff import diff
from nb_sse_signals._hub import SignalHub
from nb_sse_signals._identity import identical_run
from nb_sse_signals._types import JSON, Op

from ._kernel import RecordingTransport, make_signal
from ._timing import Row, Section, fmt_ratio, fmt_time, median, per_call

SECTION = "1. Patch generation"


def _floats(n: int) -> list[JSON]:
    return [i * 0.5 + 0.25 for i in range(n)]


def _check_patch(old: JSON, new: JSON, ops: list[Op]) -> None:
    # The reference implementation must rebuild ``new`` from ``old`` with our ops, and
    # the bytes must match (== alone would accept 1 for 1.0).
    rebuilt = jsonpatch.apply_patch(orjson.loads(orjson.dumps(old)), ops)
    if orjson.dumps(rebuilt) != orjson.dumps(new):
        raise AssertionError(f"the patch {ops!r:.200} does not rebuild the new value")


def _mutate_cost(n: int, repeat: int, number: int, *, append: bool) -> float:
    """Median seconds per ``with s.mutate() as d: <one edit>``; checks the hub ends equal."""
    hub = SignalHub()
    signal, publisher = make_signal("bench/mutate", _floats(n), RecordingTransport(hub))
    counter = itertools.count()
    mid = n // 2
    try:

        def edit() -> None:
            with signal.mutate() as doc:
                if append:
                    doc.append(next(counter) + 0.125)
                else:
                    doc[mid] = next(counter) + 0.125

        seconds = per_call(edit, repeat=repeat, number=number)
        publisher.flush()
        _check_hub(hub, signal.key, signal.value)
    finally:
        publisher.shutdown()
    return seconds


def _check_hub(hub: SignalHub, key: str, value: object) -> None:
    # The hub rebuilt the value from the patches alone: the ops were right.
    if orjson.dumps(hub.get(key)[1]) != orjson.dumps(value):
        raise AssertionError(f"the hub's copy of {key!r} differs from the publisher's")


def _set_cost(n: int, repeat: int, number: int, *, shape: str = "list") -> tuple[float, float]:
    """Median seconds per ``data.append(x); s.set(data)`` (the user keeps their own list;
    ``plot``: their own ``{"x": [...], "y": [...]}`` of n/2 points, appending to both;
    ``dict``: one value of their own n-key dict replaced), and per ``orjson.dumps(data)``
    of the very value set() was given, in batches taken in turn: on a loaded machine
    both see the same load."""
    data: Any = _floats(n)
    if shape == "plot":
        data = {"x": _floats(n // 2), "y": _floats(n // 2)}
    elif shape == "dict":
        data = {f"k{i}": x for i, x in enumerate(data)}
    hub = SignalHub()
    signal, publisher = make_signal("bench/set", data, RecordingTransport(hub))
    counter = itertools.count()
    try:

        def update() -> None:
            if shape == "plot":
                data["x"].append(next(counter) + 0.125)
                data["y"].append(next(counter) + 0.125)
            elif shape == "dict":
                data[f"k{n // 2}"] = next(counter) + 0.125
            else:
                data.append(next(counter) + 0.125)
            signal.set(data)

        seconds, baseline = _in_turn(update, partial(orjson.dumps, data), repeat, number)
        publisher.flush()
        _check_hub(hub, signal.key, data)
    finally:
        publisher.shutdown()
    return seconds, baseline


def _in_turn(
    fn: Callable[[], object], baseline: Callable[[], object], repeat: int, number: int
) -> tuple[float, float]:
    """Median seconds per call of ``fn`` and of ``baseline``, in batches taken in turn."""
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(repeat):
        ours.append(per_call(fn, repeat=1, number=number))
        theirs.append(per_call(baseline, repeat=1, number=number))
    return median(ours), median(theirs)


@contextlib.contextmanager
def _stdlib_json() -> Iterator[None]:
    """The package as in Pyodide (JupyterLite), where orjson is not installed."""
    with (
        mock.patch.object(_codec, "dumps", stdlib_dumps),
        mock.patch.object(_codec, "loads", stdlib_loads),
        mock.patch.object(_codec, "EncodeError", _codec.StdlibEncodeError),
    ):
        yield


def run(quick: bool = False) -> Section:
    sizes = (100, 1_000) if quick else (1_000, 10_000, 100_000)
    reps = 3 if quick else 15
    rows: list[Row] = []
    facts: dict[str, float | int | bool] = {}
    mutate: dict[int, float] = {}
    jp: dict[int, float] = {}
    for n in sizes:
        old = _floats(n)
        new: list[JSON] = [*old, n + 0.125]
        ops = diff(old, new)
        _check_patch(old, new, ops)
        facts[f"diff_ops_{n}"] = len(ops)
        fresh: JSON = orjson.loads(orjson.dumps(new))  # nothing shared with ``old``
        _check_patch(old, fresh, diff(old, fresh))
        t_diff = per_call(partial(diff, old, new), repeat=reps, number=20)
        t_fresh = per_call(partial(diff, old, fresh), repeat=reps, number=5)
        t_dumps = per_call(partial(orjson.dumps, new), repeat=reps, number=20)
        t_jp = per_call(partial(jsonpatch.make_patch, old, new), repeat=3 if n >= 100_000 else 5)
        jp[n] = t_jp
        t_set, t_set_dumps = _set_cost(n, reps, 20)
        t_stdlib_dumps = per_call(partial(stdlib_dumps, new), repeat=reps, number=5)
        if stdlib_dumps(new) != orjson.dumps(new):
            raise AssertionError("the stdlib fallback wrote other bytes than orjson")
        with _stdlib_json():
            t_set_stdlib, t_stdlib_set_dumps = _set_cost(n, reps, 20)
        t_mut = _mutate_cost(n, reps, 200, append=True)
        mutate[n] = t_mut
        rows += [
            Row(
                SECTION,
                f"mutate(): append one float, {n:,} items",
                fmt_time(t_mut),
                f"jsonpatch.make_patch {fmt_time(t_jp)}",
                fmt_ratio(t_jp / t_mut),
                "≤ 10 µs",
                t_mut <= 10e-6,
            ),
            Row(
                SECTION,
                f"diff(), append one float, {n:,} items (items shared)",
                fmt_time(t_diff),
                f"orjson.dumps(value) {fmt_time(t_dumps)}",
                fmt_ratio(t_dumps / t_diff),
                "≤ orjson.dumps",
                t_diff <= t_dumps,
            ),
            Row(
                SECTION,
                f"hub: diff() of a whole value sent over the wire (parsed anew, nothing "
                f"shared), append, {n:,} items",
                fmt_time(t_fresh),
                f"orjson.dumps(value) {fmt_time(t_dumps)}",
                fmt_ratio(t_dumps / t_fresh),
                "(beyond goal 1: the hub, not a publisher)",
                None,
            ),
            Row(
                SECTION,
                f"ServerSignal.set() end to end, append, {n:,} items (pure Python; "
                "orjson.dumps timed in turn with it)",
                fmt_time(t_set),
                f"orjson.dumps(value) {fmt_time(t_set_dumps)}",
                fmt_ratio(t_set_dumps / t_set),
                "≤ orjson.dumps",
                t_set <= t_set_dumps,
            ),
            Row(
                SECTION,
                f"ServerSignal.set() end to end, append, {n:,} items, stdlib json "
                "(Pyodide: no orjson)",
                fmt_time(t_set_stdlib),
                f"orjson.dumps(value) {fmt_time(t_stdlib_set_dumps)}; "
                f"stdlib {fmt_time(t_stdlib_dumps)}",
                fmt_ratio(t_stdlib_set_dumps / t_set_stdlib),
                "≤ orjson.dumps",
                t_set_stdlib <= t_stdlib_set_dumps,
            ),
        ]
        if n == sizes[-1]:
            rows.append(
                Row(
                    SECTION,
                    f"diff() vs jsonpatch.make_patch, append, {n:,} items",
                    fmt_time(t_diff),
                    f"jsonpatch.make_patch {fmt_time(t_jp)}",
                    fmt_ratio(t_jp / t_diff),
                    "≥ 100x",
                    t_jp / t_diff >= 100,
                )
            )
    lo, hi = sizes[0], sizes[-1]
    flat = mutate[hi] / mutate[lo]
    rows.append(
        Row(
            SECTION,
            f"mutate() flatness: {hi:,} vs {lo:,} items",
            fmt_ratio(flat),
            f"jsonpatch {fmt_ratio(jp[hi] / jp[lo])}",
            "",
            "≤ 2",
            flat <= 2,
        )
    )
    t_rep = _mutate_cost(hi, reps, 200, append=False)
    rows.append(
        Row(
            SECTION,
            f"mutate(): replace one element mid-list, {hi:,} items",
            fmt_time(t_rep),
            "",
            "",
            "≤ 10 µs",
            t_rep <= 10e-6,
        )
    )
    rows.append(_dict_row(1_000 if quick else 10_000, reps))
    rows += _set_plot_and_identity_rows(hi, reps)
    return Section(SECTION, rows, facts)


def _set_plot_and_identity_rows(n: int, reps: int) -> list[Row]:
    t_set, t_dumps = _set_cost(n, reps, 20, shape="plot")
    t_set_dict, t_dict_dumps = _set_cost(n, reps, 20, shape="dict")
    old = _floats(n)
    new = [*old, 0.125]
    if identical_run(old, new, n) != n:
        raise AssertionError("the identity proof missed shared items")
    t_run = per_call(partial(identical_run, old, new, n), repeat=reps, number=20)
    t_list_dumps = per_call(partial(orjson.dumps, new), repeat=reps, number=20)
    return [
        Row(
            SECTION,
            f"ServerSignal.set() end to end, a plot's {{x, y}}, append to both, {n:,} points",
            fmt_time(t_set),
            f"orjson.dumps(value) {fmt_time(t_dumps)}",
            fmt_ratio(t_dumps / t_set),
            "≤ orjson.dumps",
            t_set <= t_dumps,
        ),
        Row(
            SECTION,
            f"ServerSignal.set() end to end, one value replaced in a {n:,}-key dict",
            fmt_time(t_set_dict),
            f"orjson.dumps(value) {fmt_time(t_dict_dumps)}",
            fmt_ratio(t_dict_dumps / t_set_dict),
            "",
            None,
        ),
        Row(
            SECTION,
            f"proof that {n:,} shared items are the same objects (plain Python)",
            fmt_time(t_run),
            f"orjson.dumps(value) {fmt_time(t_list_dumps)}",
            fmt_ratio(t_list_dumps / t_run),
            "",
            None,
        ),
    ]


def _dict_row(n: int, reps: int) -> Row:
    old: dict[str, JSON] = {f"k{i}": i * 0.5 for i in range(n)}
    new = dict(old)
    for i in range(0, n, n // 10):
        new[f"k{i}"] = -1.5 - i
    ops = diff(old, new)
    _check_patch(old, new, ops)
    if len(ops) != 10:
        raise AssertionError(f"expected 10 replace ops for 10 changed keys, got {len(ops)}")
    t_diff = per_call(lambda: diff(old, new), repeat=reps, number=20)
    t_jp = per_call(lambda: jsonpatch.make_patch(old, new), repeat=5)
    return Row(
        SECTION,
        f"diff(), 10 changed values in a {n:,}-key dict",
        fmt_time(t_diff),
        f"jsonpatch.make_patch {fmt_time(t_jp)}",
        fmt_ratio(t_jp / t_diff),
        "≥ 100x",
        t_jp / t_diff >= 100,
    )
