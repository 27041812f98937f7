"""apply_patch: the RFC 6902 suite, atomic rollback, type-strict test, JSON Pointer rules."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nb_sse_signals._errors import PatchError
from nb_sse_signals._patch import (
    JSON,
    apply_patch,
    array_index,
    copy_json,
    escape,
    join_pointer,
    json_equal,
    parse_pointer,
)

from . import conformance


def dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.mark.parametrize("record", conformance.records())
def test_conformance_record(record: dict[str, Any]) -> None:
    doc = copy.deepcopy(record["doc"])
    before = copy.deepcopy(doc)
    if "error" in record:
        with pytest.raises(PatchError):
            apply_patch(doc, record["patch"])
        assert dumps(doc) == dumps(before), "a failed patch must leave the document unchanged"
        return
    result = apply_patch(doc, record["patch"])
    assert json_equal(result, record["expected"]), f"got {result!r}"


@pytest.mark.parametrize("record", conformance.records())
def test_reference_library_agrees_with_suite_and_with_us(record: dict[str, Any]) -> None:
    if "expected" not in record:
        return
    reference = jsonpatch.apply_patch(copy.deepcopy(record["doc"]), record["patch"])
    ours = apply_patch(copy.deepcopy(record["doc"]), record["patch"])
    assert dumps(reference) == dumps(record["expected"]) == dumps(ours)


def test_failed_op_rolls_back_every_earlier_op() -> None:
    doc: JSON = {"a": [1, 2, 3], "b": {"c": 1, "d": 2, "e": 3}, "f": "x"}
    before = json.dumps(doc)  # key order included
    patch: list[dict[str, JSON]] = [
        {"op": "remove", "path": "/b/c"},
        {"op": "add", "path": "/a/0", "value": 0},
        {"op": "replace", "path": "/f", "value": "y"},
        {"op": "move", "from": "/b/d", "path": "/g"},
        {"op": "copy", "from": "/a", "path": "/b/h"},
        {"op": "remove", "path": "/a/1"},
        {"op": "replace", "path": "", "value": 3},
        {"op": "test", "path": "", "value": 4},
    ]
    with pytest.raises(PatchError, match=r"op 7 .*expected int 4, found int 3"):
        apply_patch(doc, patch)
    assert json.dumps(doc) == before


def test_error_names_the_op_and_what_was_found() -> None:
    with pytest.raises(PatchError) as info:
        apply_patch(
            {"a": 1}, [{"op": "test", "path": "/a", "value": 1}, {"op": "remove", "path": "/b"}]
        )
    message = str(info.value)
    assert message.startswith('op 1 {"op": "remove", "path": "/b"}')
    assert "expected member 'b'" in message


def test_move_into_own_child_fails() -> None:
    doc: JSON = {"a": {"b": 1}}
    with pytest.raises(PatchError, match="move into itself"):
        apply_patch(doc, [{"op": "move", "from": "/a", "path": "/a/b/c"}])
    assert doc == {"a": {"b": 1}}


def test_move_to_same_place_is_a_no_op_but_needs_the_location() -> None:
    assert apply_patch({"a": 1}, [{"op": "move", "from": "/a", "path": "/a"}]) == {"a": 1}
    with pytest.raises(PatchError):
        apply_patch({"a": 1}, [{"op": "move", "from": "/b", "path": "/b"}])


def test_root_replace_returns_new_root_and_root_remove_fails() -> None:
    assert apply_patch([1], [{"op": "replace", "path": "", "value": {"x": 1}}]) == {"x": 1}
    with pytest.raises(PatchError):
        apply_patch([1], [{"op": "remove", "path": ""}])


def test_applying_to_a_big_list_edits_it_in_place() -> None:
    xs: list[JSON] = list(range(100_000))
    doc: JSON = {"xs": xs}
    assert apply_patch(doc, [{"op": "add", "path": "/xs/-", "value": 1}]) is doc
    assert doc == {"xs": xs}
    assert len(xs) == 100_001


def test_inserted_values_do_not_share_containers_with_the_patch() -> None:
    inner: dict[str, JSON] = {"b": 2}
    value: list[JSON] = [1, inner]
    doc = apply_patch({}, [{"op": "add", "path": "/a", "value": value}])
    value.append(3)
    inner["b"] = 5
    assert doc == {"a": [1, {"b": 2}]}


def test_copy_does_not_share_containers_with_the_source() -> None:
    doc = apply_patch({"a": [1]}, [{"op": "copy", "from": "/a", "path": "/b"}])
    assert isinstance(doc, dict)
    assert doc["a"] is not doc["b"]


def test_replace_keeps_member_position() -> None:
    doc = apply_patch({"a": 1, "b": 2, "c": 3}, [{"op": "replace", "path": "/b", "value": 5}])
    assert list(doc) == ["a", "b", "c"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("found", "expected"),
    [(1, True), (1, 1.0), (0, False), ([1], [True]), ({"a": 1}, {"a": 1.0}), (1.0, True)],
)
def test_json_equal_tells_ints_floats_and_booleans_apart(found: JSON, expected: JSON) -> None:
    # What diff() relies on to never skip a change of type; the test op is laxer (below).
    assert not json_equal(found, expected)
    assert not json_equal(expected, found)


def test_json_equal_ignores_key_order_and_short_circuits_identity() -> None:
    assert json_equal({"a": 1, "b": [1, {"c": None}]}, {"b": [1, {"c": None}], "a": 1})
    big = list(range(10_000))
    assert json_equal(big, big)
    assert json_equal(big, list(big))
    assert not json_equal(big, [*big[:-1], 9999.0])
    assert json_equal([2**70], [2**70])  # beyond orjson's integers: walked instead


@pytest.mark.parametrize(
    ("pointer", "tokens"),
    [
        ("", []),
        ("/", [""]),
        ("/a~1b", ["a/b"]),
        ("/m~0n", ["m~n"]),
        ("/~01", ["~1"]),
        ("/a/0", ["a", "0"]),
    ],
)
def test_pointer_parsing_unescapes_tilde_after_slash(pointer: str, tokens: list[str]) -> None:
    assert parse_pointer(pointer) == tokens
    assert join_pointer(tokens) == pointer


@pytest.mark.parametrize("pointer", ["a", "/~2", "/a~", None, 5])
def test_bad_pointers_are_patch_errors(pointer: object) -> None:
    with pytest.raises(PatchError):
        parse_pointer(pointer)


def test_escape_orders_tilde_before_slash() -> None:
    assert escape("~/") == "~0~1"
    assert escape("plain") == "plain"


@pytest.mark.parametrize("token", ["01", "-1", "1e0", "+1", "\u0661", " 1", ""])
def test_array_index_rejects_non_canonical_numbers(token: str) -> None:
    with pytest.raises(PatchError):
        array_index(token, 5)


def test_array_index_allows_end_and_dash_only_for_add() -> None:
    assert array_index("2", 2, for_add=True) == 2
    assert array_index("-", 2, for_add=True) == 2
    with pytest.raises(PatchError):
        array_index("2", 2)
    with pytest.raises(PatchError):
        array_index("-", 2)


# --- property: atomic rollback on random failing patches ----------------------------

keys = st.text(alphabet="ab/~", max_size=3)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.text(max_size=3)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=15,
)
paths = st.lists(keys | st.sampled_from(["0", "1", "-", "5"]), max_size=3).map(join_pointer)
ops = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]), "path": paths},
    optional={"value": json_values, "from": paths},
)


@settings(max_examples=200, deadline=None)
@given(doc=json_values, patch=st.lists(ops, min_size=1, max_size=6))
def test_random_patch_is_all_or_nothing(doc: JSON, patch: list[dict[str, JSON]]) -> None:
    before = json.dumps(doc)
    work = copy.deepcopy(doc)
    try:
        result = apply_patch(work, patch)
    except PatchError:
        assert json.dumps(work) == before, "a failed patch must leave the document unchanged"
        return
    # It applied: the reference library, on its own copy, must reach the same value.
    assert dumps(jsonpatch.apply_patch(copy.deepcopy(doc), patch)) == dumps(result)


@pytest.mark.parametrize(
    ("found", "expected", "passes"),
    [
        (1, 1.0, True),
        ({"a": [2]}, {"a": [2.0]}, True),
        (1, True, False),
        (0, False, False),
        ([1], [True], False),
        ("1", 1, False),
    ],
)
def test_the_test_op_compares_numbers_by_value_but_never_as_booleans(
    found: JSON, expected: JSON, passes: bool
) -> None:
    # RFC 6902 section 4.6: numbers are equal if their values are numerically equal.
    patch = [{"op": "test", "path": "/x", "value": expected}]
    if passes:
        assert apply_patch({"x": found}, patch) == {"x": found}
    else:
        with pytest.raises(PatchError, match="expected"):
            apply_patch({"x": found}, patch)


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_copy_json_copies_every_container_and_shares_every_scalar(value: JSON) -> None:
    copy = copy_json(value)
    assert json_equal(copy, value)
    mine, theirs = containers_and_scalars(copy), containers_and_scalars(value)
    assert not {id(c) for c in mine[0]} & {id(c) for c in theirs[0]}, "a container is shared"
    assert [id(s) for s in mine[1]] == [id(s) for s in theirs[1]], "a scalar was copied"


def containers_and_scalars(value: JSON) -> tuple[list[JSON], list[JSON]]:
    """Containers and scalars of ``value``, depth first, in order."""
    found: tuple[list[JSON], list[JSON]] = ([], [])
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            found[0].append(node)
            stack.extend(reversed(list(node.values() if isinstance(node, dict) else node)))
        else:
            found[1].append(node)
    return found
