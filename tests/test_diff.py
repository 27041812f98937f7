"""diff: small patches for typical changes, type strictness, agreement with jsonpatch."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nb_sse_signals._diff import diff, diff_list_into
from nb_sse_signals._patch import apply_patch, copy_json, json_equal
from nb_sse_signals._types import JSON, Op

from . import conformance


def roundtrip(old: JSON, new: JSON) -> list[dict[str, JSON]]:
    """diff old -> new, check both appliers reach ``new`` exactly, return the patch."""
    before = json.dumps(old)
    patch = diff(old, new)
    assert json.dumps(old) == before, "diff must not modify its input"
    ours = apply_patch(copy.deepcopy(old), patch)
    reference = jsonpatch.apply_patch(copy.deepcopy(old), copy.deepcopy(patch))
    assert json_equal(ours, new), f"{patch} gave {ours!r}"
    assert json_equal(reference, new), f"{patch} gave {reference!r} in jsonpatch"
    assert json.dumps(ours, sort_keys=True) == json.dumps(new, sort_keys=True)
    return patch


@pytest.mark.parametrize("record", conformance.records(only_expected=True))
def test_diff_reaches_every_expected_document_of_the_suite(record: dict[str, Any]) -> None:
    roundtrip(record["doc"], record["expected"])


def test_identical_values_give_no_ops() -> None:
    value: JSON = {"a": [1, 2, {"b": None}]}
    assert diff(value, value) == []
    assert diff(value, copy.deepcopy(value)) == []


def test_append_to_list_is_one_add_op() -> None:
    old: list[JSON] = list(range(100_000))
    assert roundtrip(old, [*old, "x"]) == [{"op": "add", "path": "/100000", "value": "x"}]


def test_append_to_fresh_copy_of_records_is_one_add_op() -> None:
    old: list[JSON] = [{"id": i, "v": [i, i * 0.5]} for i in range(5_000)]
    new = copy_json([*old, {"id": -1}])  # what a normaliser hands over: new containers
    assert roundtrip(old, new) == [{"op": "add", "path": "/5000", "value": {"id": -1}}]


def test_remove_from_end_is_one_remove_op() -> None:
    old: list[JSON] = list(range(1000))
    assert roundtrip(old, old[:-1]) == [{"op": "remove", "path": "/999"}]


def test_insert_at_front_is_one_add_op() -> None:
    old: list[JSON] = [{"i": i} for i in range(1000)]
    assert roundtrip(old, [{"i": -1}, *old]) == [{"op": "add", "path": "/0", "value": {"i": -1}}]


def test_change_in_the_middle_of_a_list_touches_only_the_middle() -> None:
    old: list[JSON] = list(range(1000))
    new = [*old[:500], "x", "y", *old[501:]]
    assert roundtrip(old, new) == [
        {"op": "replace", "path": "/500", "value": "x"},
        {"op": "add", "path": "/501", "value": "y"},
    ]


def test_changed_key_in_a_big_dict_is_one_op() -> None:
    old: dict[str, JSON] = {f"k{i}": i for i in range(10_000)}
    new = {**old, "k5000": "changed"}
    assert roundtrip(old, new) == [{"op": "replace", "path": "/k5000", "value": "changed"}]


def test_nested_change_gives_a_nested_path() -> None:
    old: JSON = {"a": {"b": [1, {"c": 1}]}}
    assert roundtrip(old, {"a": {"b": [1, {"c": 2}]}}) == [
        {"op": "replace", "path": "/a/b/1/c", "value": 2}
    ]


def test_added_and_removed_keys() -> None:
    patch = roundtrip({"a": 1, "b": 2}, {"b": 2, "c": 3})
    assert sorted(map(json.dumps, patch)) == sorted(
        map(json.dumps, [{"op": "remove", "path": "/a"}, {"op": "add", "path": "/c", "value": 3}])
    )


def test_keys_with_slash_and_tilde_are_escaped() -> None:
    assert roundtrip({"a/b": 1, "m~n": 1}, {"a/b": 2, "m~n": 1}) == [
        {"op": "replace", "path": "/a~1b", "value": 2}
    ]
    assert roundtrip({}, {"~1": 0}) == [{"op": "add", "path": "/~01", "value": 0}]


def test_emptying_a_long_list_is_one_replace() -> None:
    assert roundtrip({"xs": list(range(100))}, {"xs": []}) == [
        {"op": "replace", "path": "/xs", "value": []}
    ]


def test_change_of_root_kind_replaces_the_root() -> None:
    assert roundtrip([1], {"a": 1}) == [{"op": "replace", "path": "", "value": {"a": 1}}]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (1, True),
        (1, 1.0),
        (0, False),
        (True, 1),
        ([1], [True]),
        ([1, 2, 3], [1, 2.0, 3]),
        ({"a": 1}, {"a": 1.0}),
        ({"a": [0]}, {"a": [False]}),
        (list(range(100)), [*range(50), 50.0, *range(51, 100)]),
    ],
)
def test_change_of_type_alone_gives_a_patch_with_the_exact_type(old: JSON, new: JSON) -> None:
    patch = roundtrip(old, new)
    assert patch, "a change of type must not be lost to Python's 1 == 1.0 == True"


# --- properties ------------------------------------------------------------------------

keys = st.text(alphabet="ab/~0", max_size=3)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-2, 2)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-2, max_value=2)
    | st.text(alphabet="x/~", max_size=2)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(old=json_values, new=json_values)
def test_diff_of_any_two_values_applies_exactly(old: JSON, new: JSON) -> None:
    roundtrip(old, new)


@st.composite
def related_pair(draw: st.DrawFn) -> tuple[JSON, JSON]:
    """A value and an edited version sharing most structure (the hub's usual case)."""
    old = draw(st.lists(json_values, max_size=8))
    new: list[JSON] = list(old)
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.integers(0, len(new)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "insert" or not new:
            new.insert(where, draw(json_values))
        elif action == "delete":
            del new[min(where, len(new) - 1)]
        else:
            new[min(where, len(new) - 1)] = draw(json_values)
    return old, draw(st.sampled_from([new, copy_json(new)]))


@settings(max_examples=200, deadline=None)
@given(pair=related_pair())
def test_diff_of_edited_lists_applies_exactly(pair: tuple[JSON, JSON]) -> None:
    roundtrip(*pair)


@pytest.mark.parametrize("kind", [int, bool])
@pytest.mark.parametrize("where", [0, 1, 7, 20, 38, 39])
@pytest.mark.parametrize("size", [40])
def test_one_number_of_another_type_in_a_run_of_equal_floats_is_a_change(
    kind: type, where: int, size: int
) -> None:
    # Fresh float objects (as parsed from JSON), so no run is skipped by identity and
    # every comparison goes through the C-speed run checks: [1.0] == [1] == [True].
    old: list[JSON] = [float("1") for _ in range(size)]
    new: list[JSON] = [float("1") for _ in range(size)]
    new[where] = kind(1)
    for a, b in ((old, new), (new, old)):
        patch = roundtrip(a, b)
        assert patch == [{"op": "replace", "path": f"/{where}", "value": b[where]}]


def test_a_key_renamed_to_one_holding_the_very_same_object_is_a_remove_and_an_add() -> None:
    shared: list[JSON] = [1]
    patch = roundtrip({"a": 1, "b": shared}, {"a": 1, "c": shared})
    assert patch == [{"op": "remove", "path": "/b"}, {"op": "add", "path": "/c", "value": [1]}]
    # Renamed the other way (a key that sorts first): values are paired by key, never
    # by position, whichever way the key lists compare.
    patch = roundtrip({"a": 1, "c": shared}, {"a": 1, "b": shared})
    assert patch == [{"op": "remove", "path": "/c"}, {"op": "add", "path": "/b", "value": [1]}]


def test_emptying_a_one_element_list_is_one_remove() -> None:
    assert roundtrip({"xs": [1]}, {"xs": []}) == [{"op": "remove", "path": "/xs/0"}]


@pytest.mark.parametrize("wrap", [lambda x: [x], lambda x: {"k": x}], ids=["list", "dict"])
@pytest.mark.parametrize("where", [0, 1, 20, 39])
def test_a_type_change_inside_a_run_of_equal_containers_is_a_change(wrap: Any, where: int) -> None:
    # Equal-but-distinct containers (as parsed anew): the run checks must look inside.
    old: list[JSON] = [wrap(float("1")) for _ in range(40)]
    new: list[JSON] = [wrap(float("1")) for _ in range(40)]
    new[where] = wrap(1)
    for a, b in ((old, new), (new, old)):
        roundtrip(a, b)


def test_removing_the_first_of_values_parsed_anew_is_one_remove() -> None:
    # The hub diffs a value parsed from a `set` message against the one it holds: no
    # element is the same object, so the common part is found by equality alone.
    old: list[JSON] = [{"id": i} for i in range(100)]
    assert roundtrip(old, copy_json(old[1:])) == [{"op": "remove", "path": "/0"}]
    assert roundtrip(old, copy_json([{"id": -1}, *old])) == [
        {"op": "add", "path": "/0", "value": {"id": -1}}
    ]


def test_a_list_edit_after_other_changes_is_still_one_op() -> None:
    # Whether a list is cheaper replaced whole is judged by its own ops, not by how
    # many changes came before it in the patch.
    old: dict[str, JSON] = {"a": 1, "b": 1, "c": 1, "xs": [1, 2, 3]}
    new: dict[str, JSON] = {"a": 2, "b": 2, "c": 2, "xs": [1, 2, 4]}
    assert roundtrip(old, new)[-1] == {"op": "replace", "path": "/xs/2", "value": 4}


def python_lines(run: Callable[[], object]) -> int:
    """How many lines of Python ``run()`` executes (C code, like ``list.__eq__``, is none)."""
    count = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        count += event == "line"
        return trace

    sys.settrace(trace)
    try:
        run()
    finally:
        sys.settrace(None)
    return count


def _dict_one_changed(n: int) -> tuple[JSON, JSON]:
    old: dict[str, JSON] = {f"k{i}": i for i in range(n)}
    return old, {**old, "k1": "changed"}


def _dict_one_removed(n: int) -> tuple[JSON, JSON]:
    old: dict[str, JSON] = {f"k{i}": i for i in range(n)}
    return old, {k: v for k, v in old.items() if k != "k1"}


def _floats_parsed_anew(n: int) -> tuple[JSON, JSON]:
    # Equal but distinct floats, as two parses of the same JSON give: no identity to skip.
    return [float(i) + 0.5 for i in range(n)], [float(i) + 0.5 for i in range(n)]


def _floats_parsed_anew_one_changed_near_the_end(n: int) -> tuple[JSON, JSON]:
    old, new = _floats_parsed_anew(n)
    new[n - 10] = -1.0  # type: ignore[index]
    return old, new


def _floats_parsed_anew_one_changed_near_the_start(n: int) -> tuple[JSON, JSON]:
    old, new = _floats_parsed_anew(n)
    new[10] = -1.0  # type: ignore[index]
    return old, new


@pytest.mark.parametrize("make", [_dict_one_changed, _dict_one_removed, _floats_parsed_anew])
def test_the_python_work_of_a_diff_does_not_grow_with_what_did_not_change(
    make: Callable[[int], tuple[JSON, JSON]],
) -> None:
    # The module's promise: unchanged elements are compared at C speed (one pointer
    # comparison, or one C-speed comparison of the whole rest for values parsed anew),
    # never walked in Python: a few dozen lines of Python, whatever the size.
    small, big = make(2_000), make(20_000)
    lines = [python_lines(lambda pair=pair: diff(*pair)) for pair in (small, big)]
    assert lines[1] <= lines[0] + 10, f"{lines} lines of Python for 2,000 and 20,000"
    assert lines[1] < 100, f"{lines[1]} lines of Python for 20,000 unchanged elements"
    assert diff(*big) == diff(*small)


@pytest.mark.parametrize(
    "make",
    [_floats_parsed_anew_one_changed_near_the_end, _floats_parsed_anew_one_changed_near_the_start],
)
def test_a_change_in_a_long_run_of_values_parsed_anew_is_found_without_walking_the_run(
    make: Callable[[int], tuple[JSON, JSON]],
) -> None:
    # Equal values before (or after) the change are proven equal in ever larger chunks
    # at C speed (a gallop, from either end), never one by one in Python: far less than
    # a line of Python per element.
    old, new = make(20_000)
    lines = python_lines(lambda: diff(old, new))
    assert lines < 2_000, f"{lines} lines of Python for 20,000 elements"
    assert len(diff(old, new)) == 1


@pytest.mark.parametrize("size", [2, 3, 4, 5, 10])
def test_a_change_in_the_last_elements_of_values_parsed_anew_is_found(size: int) -> None:
    # Runs of every short length are compared as a whole: none may stand for its first.
    old: list[JSON] = [float(i) for i in range(size)]
    for where in range(size):
        new = [float(i) for i in range(size)]
        new[where] = -1.0
        assert roundtrip(old, new) == [{"op": "replace", "path": f"/{where}", "value": -1.0}]


def _mixed_numbers_parsed_anew(n: int) -> tuple[JSON, JSON]:
    # Ints and floats in turn (a table column of measurements): no run of one type.
    def make() -> list[JSON]:
        return [i if i % 2 else float(i) + 0.5 for i in range(n)]

    return make(), make()


def _mixed_numbers_parsed_anew_one_changed_near_the_end(n: int) -> tuple[JSON, JSON]:
    old, new = _mixed_numbers_parsed_anew(n)
    new[n - 10] = -1  # type: ignore[index]
    return old, new


def _records_parsed_anew_one_changed_near_the_end(n: int) -> tuple[JSON, JSON]:
    old: list[JSON] = [{"id": i, "v": [i, 0.5]} for i in range(n)]
    new = copy_json(old)
    new[n - 10]["id"] = -1  # type: ignore[index,call-overload]
    return old, new


@pytest.mark.parametrize(
    "make",
    [
        _mixed_numbers_parsed_anew_one_changed_near_the_end,
        _records_parsed_anew_one_changed_near_the_end,
    ],
)
def test_runs_of_mixed_types_or_of_records_parsed_anew_are_not_walked_either(
    make: Callable[[int], tuple[JSON, JSON]],
) -> None:
    # The one-type shortcut aside, equal runs are still proven a chunk at a time at C
    # speed (json_equal: ==, then equal orjson bytes), never one element at a time.
    old, new = make(20_000)
    lines = python_lines(lambda: diff(old, new))
    assert lines < 2_000, f"{lines} lines of Python for 20,000 elements"
    patch = diff(old, new)
    assert len(patch) == 1, patch
    assert json_equal(apply_patch(copy_json(old), patch), new)


@pytest.mark.parametrize("where", [1, 2, 9, 10_000, 19_990, 19_998])
def test_a_change_of_type_alone_deep_in_a_run_of_records_parsed_anew_is_found(where: int) -> None:
    # Records equal by ``==`` (so the C-speed refutation passes) whose one field went
    # from 1.0 to 1: a run of containers must be looked into, never taken as equal
    # because its items are all of one type.
    old: list[JSON] = [{"id": i, "v": 1.0} for i in range(20_000)]
    new = copy_json(old)
    new[where]["v"] = 1  # type: ignore[index,call-overload]
    patch = diff(old, new)
    assert patch == [{"op": "replace", "path": f"/{where}/v", "value": 1}]
    assert type(patch[0]["value"]) is int


@pytest.mark.parametrize(
    ("old", "new", "head", "tail", "expected"),
    [
        # Known equal ends are not looked at again: the new items go between them.
        ([0, 1, 0], [0, 1, 0, 1, 0], 0, 3, [("add", "/0", 0), ("add", "/1", 1)]),
        ([0, 1, 0], [0, 1, 0, 1, 0], 3, 0, [("add", "/3", 1), ("add", "/4", 0)]),
        ([0, 1, 0], [0, 1, 0, 1, 0], 1, 2, [("add", "/1", 1), ("add", "/2", 0)]),
        # Runs known shorter than they are: found whole, from the given start.
        ([5, 6, 7, 8], [5, 6, 9, 7, 8], 1, 1, [("add", "/2", 9)]),
        ([5, 6, 7, 8], [5, 6, 8], 0, 0, [("remove", "/2", None)]),
        # The whole overlap known: only the rest is added or removed.
        ([1, 2], [1, 2, 3], 2, 0, [("add", "/2", 3)]),
        ([1, 2, 3], [2, 3], 0, 2, [("remove", "/0", None)]),
    ],
)
def test_diff_list_into_starts_from_the_runs_its_caller_knows(
    old: list[JSON], new: list[JSON], head: int, tail: int, expected: list[tuple[str, str, Any]]
) -> None:
    # What ServerSignal.set() passes (_refresh): the lengths of the identical runs it
    # found at each end, which need not be the longest (two runs may overlap).
    ops: list[Op] = []
    diff_list_into(old, new, "", ops, head, tail)
    assert ops == [
        {"op": op, "path": path, **({} if op == "remove" else {"value": value})}
        for op, path, value in expected
    ]
    assert apply_patch(copy.deepcopy(old), ops) == new


@st.composite
def list_with_known_runs(draw: st.DrawFn) -> tuple[list[JSON], list[JSON], int, int]:
    """Two lists of small ints (cached: equal means identical) and runs at either end
    known equal, at most as long as the true ones and not overlapping."""
    old: list[JSON] = draw(st.lists(st.integers(0, 2), max_size=8))
    new: list[JSON] = draw(st.lists(st.integers(0, 2), max_size=8))
    overlap = min(len(old), len(new))
    prefix = next((i for i in range(overlap) if old[i] != new[i]), overlap)
    head = draw(st.integers(0, prefix))
    suffix = next((i for i in range(overlap - head) if old[-1 - i] != new[-1 - i]), overlap - head)
    return old, new, head, draw(st.integers(0, suffix))


@settings(max_examples=300, deadline=None)
@given(case=list_with_known_runs())
def test_diff_list_into_with_any_known_runs_reaches_the_new_list(
    case: tuple[list[JSON], list[JSON], int, int],
) -> None:
    old, new, head, tail = case
    ops: list[Op] = []
    diff_list_into(old, new, "", ops, head, tail)
    assert apply_patch(copy.deepcopy(old), ops) == new
    assert jsonpatch.apply_patch(copy.deepcopy(old), copy.deepcopy(ops)) == new
    assert len(ops) <= max(len(new), 1)


def test_emptying_a_list_of_two_is_one_replace() -> None:
    # Two removes are more ops than the one element... of the list they leave: none.
    assert roundtrip({"xs": [1, 2]}, {"xs": []}) == [{"op": "replace", "path": "/xs", "value": []}]


def test_a_run_of_the_very_same_items_is_not_walked_even_where_orjson_cannot_write_them() -> None:
    # After one equal-but-distinct item, the rest is the very same objects (shared
    # records): passed over by identity at C speed. Ints beyond 64 bits make orjson give
    # up, so a chunk of them compared as values would be walked by json_equal in Python.
    shared: list[JSON] = [{"n": 2**70 + i} for i in range(20_000)]
    old: list[JSON] = [{"id": 0}, *shared]
    new: list[JSON] = [{"id": 0}, *shared, {"id": 1}]
    lines = python_lines(lambda: diff(old, new))
    assert lines < 200, f"{lines} lines of Python for 20,000 shared items"
    assert diff(old, new) == [{"op": "add", "path": "/20001", "value": {"id": 1}}]


def test_the_whole_rest_of_a_run_parsed_anew_is_compared_at_once_only_once() -> None:
    # Each C-speed comparison of a run costs its length: the whole rest is tried once,
    # then chunks that double, so finding one change in the middle compares each element
    # about three times from both ends (60,000 here), not the rest again per chunk.
    old, new = _floats_parsed_anew(20_000)
    new[10_000] = -1.0  # type: ignore[index]
    compared = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal compared
        if event == "call" and frame.f_code.co_name == "_run_equal":
            compared += len(frame.f_locals["a"])
        return None

    sys.settrace(trace)
    try:
        patch = diff(old, new)
    finally:
        sys.settrace(None)
    assert len(patch) == 1
    assert compared < 4 * 20_000, f"{compared} elements compared for a run of 20,000"


@pytest.mark.parametrize("where", [2, 3, 500, 998])
def test_a_change_of_type_alone_inside_records_after_numbers_parsed_anew_is_found(
    where: int,
) -> None:
    # A run that starts with numbers and goes on with records: only a run all of one
    # scalar type may be taken as equal by its types; this one must be looked into.
    def make() -> list[JSON]:
        return [float("0.5"), float("0.5"), *({"v": 1.0} for _ in range(997))]

    old, new = make(), make()
    new[where] = {"v": 1}
    assert roundtrip(old, new) == [{"op": "replace", "path": f"/{where}/v", "value": 1}]
