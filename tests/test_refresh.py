"""refresh() against its definition: normalise() then diff(), on values a user would pass."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nb_sse_signals._errors import NotJSONError
from nb_sse_signals._json import normalise
from nb_sse_signals._patch import apply_patch, json_equal
from nb_sse_signals._refresh import refresh
from nb_sse_signals._types import JSON
from nb_sse_signals._undo import Undo, rollback

from .test_diff import json_values, scalars


def containers(value: Any) -> list[Any]:
    """Every list and dict inside ``value``, itself included."""
    found: list[Any] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple | dict):
            found.append(node)
            stack.extend(node.values() if isinstance(node, dict) else node)
    return found


def check(old: JSON, new: Any) -> list[dict[str, JSON]]:
    """refresh(old, new) is normalise(new) plus a patch both appliers take old to it."""
    before = json.dumps(old)
    doc, ops = refresh(old, new)
    assert json.dumps(old) == before, "refresh must not modify the old value"
    assert json_equal(doc, normalise(new)), f"{doc!r} is not normalise({new!r})"
    ours = apply_patch(copy.deepcopy(old), ops)
    reference = jsonpatch.apply_patch(copy.deepcopy(old), copy.deepcopy(ops))
    assert json_equal(ours, doc), f"{ops} gave {ours!r}, expected {doc!r}"
    assert json_equal(reference, doc), f"{ops} gave {reference!r} in jsonpatch"
    shared = {id(c) for c in containers(doc)} & {id(c) for c in containers(new) + containers(old)}
    assert not shared, "the refreshed value must share no container with old or new"
    return ops


def test_an_append_to_the_users_own_list_is_one_add() -> None:
    mine = [0.5 * i for i in range(1_000)]
    old = normalise(mine)
    mine.append(7.25)
    assert check(old, mine) == [{"op": "add", "path": "/1000", "value": 7.25}]


def test_a_value_equal_but_of_another_type_is_replaced() -> None:
    mine: list[Any] = [1.0, 2.0, 3.0]
    old = normalise(mine)
    mine[1] = 2  # == 2.0, a different JSON number
    mine[2] = True
    assert check(old, mine) == [
        {"op": "replace", "path": "/1", "value": 2},
        {"op": "replace", "path": "/2", "value": True},
    ]


def test_one_changed_key_among_many_is_one_replace() -> None:
    mine: dict[str, Any] = {f"k{i}": i for i in range(1_000)} | {"xs": [1, 2, 3]}
    old = normalise(mine)
    mine = dict(mine, k500=-1, xs=[*mine["xs"], 4])
    assert check(old, mine) == [
        {"op": "replace", "path": "/k500", "value": -1},
        {"op": "add", "path": "/xs/3", "value": 4},
    ]


def test_removed_and_added_keys_and_tuples() -> None:
    old = normalise({"a": 1, "b/c": (1, 2), "d": {"e": None}})
    assert check(old, {"b/c": (1, 2, 3), "d": {"e": None, "f~": "x"}, "g": ()}) == [
        {"op": "add", "path": "/b~1c/2", "value": 3},
        {"op": "add", "path": "/d/f~0", "value": "x"},
        {"op": "add", "path": "/g", "value": []},
        {"op": "remove", "path": "/a"},
    ]


@pytest.mark.parametrize(
    ("new", "path"),
    [
        ([0.0, 1.0, 2.0, math.nan], "/3"),
        ([0.0, {1: "x"}, 2.0], "/1"),
        ({"xs": [0.0, 1.0, 2.0], "t": {3}}, "/t"),
        ({"xs": [0.0, 1.0, 2.0], 4: 1}, ""),
    ],
)
def test_bad_input_names_the_path_and_leaves_old_alone(new: Any, path: str) -> None:
    old = normalise({"xs": [0.0, 1.0, 2.0]} if isinstance(new, dict) else [0.0, 1.0, 2.0])
    before = json.dumps(old)
    with pytest.raises(NotJSONError) as caught:
        refresh(old, new)
    assert caught.value.path == path
    assert json.dumps(old) == before


def test_the_result_does_not_follow_later_edits_of_the_input() -> None:
    mine: dict[str, Any] = {"xs": [1, 2]}
    old = normalise(mine)
    mine["xs"].append(3)
    doc, _ = refresh(old, mine)
    mine["xs"].append(4)
    assert doc == {"xs": [1, 2, 3]}


# --- properties --------------------------------------------------------------------------


@st.composite
def user_edit(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """What a user passes to set() after editing their own copy of ``value``: containers
    are theirs (copies, maybe tuples), scalars are shared, a few places changed (some
    to an equal number of another type)."""
    if isinstance(value, list):
        items = [draw(user_edit(v, depth + 1)) for v in value]
        for _ in range(draw(st.integers(0, 2))):
            where = draw(st.integers(0, len(items)))
            action = draw(st.sampled_from(["insert", "delete", "replace", "append"]))
            if action == "append" or not items:
                items.append(draw(json_values))
            elif action == "insert":
                items.insert(where, draw(json_values))
            elif action == "delete":
                del items[min(where, len(items) - 1)]
            else:
                items[min(where, len(items) - 1)] = draw(json_values)
        return tuple(items) if draw(st.booleans()) and depth else items
    if isinstance(value, dict):
        out = {k: draw(user_edit(v, depth + 1)) for k, v in value.items()}
        if out and draw(st.booleans()):
            del out[draw(st.sampled_from(sorted(out)))]
        if draw(st.booleans()):
            out[draw(st.text(alphabet="ab/~", max_size=2))] = draw(json_values)
        return out
    if type(value) in (int, float) and draw(st.integers(0, 9)) == 0:
        return float(value) if type(value) is int else (int(value) if value.is_integer() else value)
    return value


@st.composite
def published_and_edited(draw: st.DrawFn) -> tuple[JSON, Any]:
    mine = draw(
        st.lists(json_values, max_size=8)
        | st.dictionaries(st.text(alphabet="ab", max_size=2), json_values, max_size=5)
    )
    return normalise(mine), draw(user_edit(mine))


@settings(max_examples=300, deadline=None)
@given(pair=published_and_edited())
def test_refresh_is_normalise_then_a_patch_that_applies_exactly(pair: tuple[JSON, Any]) -> None:
    check(*pair)


@settings(max_examples=100, deadline=None)
@given(old=json_values, new=json_values)
def test_refresh_of_unrelated_values_applies_exactly(old: JSON, new: JSON) -> None:
    check(normalise(old), new)


@st.composite
def long_edited_lists(draw: st.DrawFn) -> tuple[JSON, Any]:
    """Lists long enough for the galloping comparisons (chunks of 8, 16, ...), edited in
    a few places, and sometimes parsed anew so that no item is shared."""
    mine = draw(st.lists(scalars, max_size=300))
    new: list[Any] = list(mine)
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.integers(0, len(new)))
        if draw(st.booleans()) or not new:
            new.insert(where, draw(scalars))
        else:
            new[min(where, len(new) - 1)] = draw(scalars)
    if draw(st.booleans()):
        new = json.loads(json.dumps(new))
    return normalise(mine), new


@settings(max_examples=200, deadline=None)
@given(pair=long_edited_lists())
def test_refresh_of_long_lists_applies_exactly(pair: tuple[JSON, Any]) -> None:
    check(*pair)


# --- giving the old value up (ServerSignal.set) ------------------------------------------


def test_a_list_the_user_only_appended_to_is_extended_in_place_and_undone() -> None:
    mine = [0.5 * i for i in range(1_000)]
    old = normalise(mine)
    items = old
    mine += [7.25, 8.5]
    undo: Undo = []
    doc, ops = refresh(old, mine, undo)
    assert doc is items, "no copy of the list: the new items are appended to it"
    assert doc == mine
    assert doc is not mine
    assert ops == [
        {"op": "add", "path": "/1000", "value": 7.25},
        {"op": "add", "path": "/1001", "value": 8.5},
    ]
    rollback(undo)
    assert items == mine[:1_000], "rolled back to what it held"


def test_a_bad_value_after_a_list_extended_in_place_leaves_old_as_it_was_once_undone() -> None:
    mine: dict[str, Any] = {"x": [1.0, 2.0], "y": [3.0, 4.0]}
    old = normalise(mine)
    before = json.dumps(old)
    mine["x"].append(5.0)
    mine["y"].append(math.nan)
    undo: Undo = []
    with pytest.raises(NotJSONError) as caught:
        refresh(old, mine, undo)
    assert caught.value.path == "/y/2"
    rollback(undo)
    assert json.dumps(old) == before


@settings(max_examples=300, deadline=None)
@given(pair=published_and_edited())
def test_refresh_giving_old_up_is_refresh_and_its_undo_restores_old(
    pair: tuple[JSON, Any],
) -> None:
    old, new = pair
    given_up = copy.deepcopy(old)
    before = json.dumps(old)
    undo: Undo = []
    try:
        expected = refresh(old, new)
    except NotJSONError:
        with pytest.raises(NotJSONError):
            refresh(given_up, new, undo)
    else:
        doc, ops = refresh(given_up, new, undo)
        assert json.dumps(doc) == json.dumps(expected[0])
        assert json.dumps(ops) == json.dumps(expected[1])
        shared = {id(c) for c in containers(doc)} & {id(c) for c in containers(new)}
        assert not shared, "nothing of the user's own"
    rollback(undo)
    assert json.dumps(given_up) == before


def test_a_key_equal_to_a_published_one_but_not_a_str_is_still_rejected() -> None:
    class Key(str):
        pass

    old = normalise({"a": 1.5, "b": 2.5})
    with pytest.raises(NotJSONError, match="expected string keys") as caught:
        refresh(old, {Key("a"): 1.5, "b": 2.5})  # == "a", the same length and order
    assert caught.value.path == ""


def test_a_dict_whose_values_the_user_changed_is_updated_in_place_and_undone() -> None:
    mine: dict[str, Any] = {f"k{i}": i * 0.5 for i in range(1_000)}
    old = normalise(mine)
    given_up = old
    before = json.dumps(old)
    mine["k500"] = -1.5
    mine["k7"] = "seven"
    undo: Undo = []
    doc, ops = refresh(old, mine, undo)
    assert doc is given_up, "no copy of the dict: its two values are replaced"
    assert doc == mine
    assert ops == [
        {"op": "replace", "path": "/k7", "value": "seven"},
        {"op": "replace", "path": "/k500", "value": -1.5},
    ]
    rollback(undo)
    assert json.dumps(given_up) == before, "rolled back, key order included"
