"""Recorder: edits through proxies apply at once, record as ops, and roll back exactly."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nb_sse_signals._errors import NotJSONError, PatchError
from nb_sse_signals._json import normalise_items
from nb_sse_signals._mutate import Appends, DictProxy, ListProxy, Recorder
from nb_sse_signals._patch import apply_patch, copy_json, json_equal
from nb_sse_signals._types import JSON


def strict_normalise(value: object, path: str) -> JSON:
    """Stand-in for the hub's normaliser: plain JSON only, returned as a fresh tree."""
    if value is None or type(value) in (bool, int, float, str):
        return value  # type: ignore[return-value]
    if type(value) is list:
        return [strict_normalise(v, f"{path}/{i}") for i, v in enumerate(value)]
    if type(value) is dict:
        return {k: strict_normalise(v, f"{path}/{k}") for k, v in value.items()}
    raise NotJSONError(f"expected JSON at {path!r}, found {type(value).__name__}", path)


def record(doc: JSON) -> tuple[Recorder, Any]:
    rec = Recorder(doc, strict_normalise, normalise_items)
    return rec, rec.proxy


def check(rec: Recorder, original: JSON) -> None:
    """The ops replay the edits exactly, in both appliers; rollback restores ``original``."""
    ours = apply_patch(copy.deepcopy(original), copy.deepcopy(rec.ops))
    reference = jsonpatch.apply_patch(copy.deepcopy(original), copy.deepcopy(rec.ops))
    assert json_equal(ours, rec.doc), f"{rec.ops} gave {ours!r}"
    assert json.dumps(reference, sort_keys=True) == json.dumps(rec.doc, sort_keys=True)
    rec.rollback()
    assert json.dumps(rec.doc) == json.dumps(original), "rollback must restore key order too"
    assert rec.ops == []


def test_dict_edits_record_add_replace_remove() -> None:
    original: JSON = {"a": 1, "x": 0}
    rec, doc = record(copy.deepcopy(original))
    doc["a"] = 2
    doc["b"] = [1]
    del doc["x"]
    assert rec.ops == [
        {"op": "replace", "path": "/a", "value": 2},
        {"op": "add", "path": "/b", "value": [1]},
        {"op": "remove", "path": "/x"},
    ]
    check(rec, original)


def test_list_edits_record_with_right_indexes() -> None:
    original: JSON = {"xs": [0, 1, 2, 3]}
    rec, doc = record(copy.deepcopy(original))
    xs = doc["xs"]
    xs.append(4)
    xs.insert(0, -1)
    xs[-1] = 40
    assert xs.pop() == 40
    assert xs.pop(0) == -1
    xs.extend([5, 6])
    xs += [7]
    xs.remove(1)
    xs.insert(-100, "front")
    assert rec.ops[:4] == [
        {"op": "add", "path": "/xs/4", "value": 4},
        {"op": "add", "path": "/xs/0", "value": -1},
        {"op": "replace", "path": "/xs/5", "value": 40},
        {"op": "remove", "path": "/xs/5"},
    ]
    assert rec.doc == {"xs": ["front", 0, 2, 3, 5, 6, 7]}
    check(rec, original)


def test_augmented_assignment_records_only_the_appends() -> None:
    rec, doc = record({"xs": [1]})
    doc["xs"] += [2]
    assert rec.ops == [{"op": "add", "path": "/xs/1", "value": 2}]


def test_whole_list_edits_are_one_replace() -> None:
    original: JSON = {"xs": [3, 1, 2], "ys": [1, 2], "zs": [1, 2, 3, 4]}
    rec, doc = record(copy.deepcopy(original))
    doc["xs"].sort()
    doc["ys"].reverse()
    doc["zs"][1:3] = ["a"]
    del doc["zs"][::2]
    doc["ys"].clear()
    assert [op["op"] for op in rec.ops] == ["replace"] * 5
    assert rec.doc == {"xs": [1, 2, 3], "ys": [], "zs": ["a"]}
    check(rec, original)


def test_nested_edits_find_their_path_after_indexes_shift() -> None:
    original: JSON = {"items": [{"n": 0}, {"n": 1}]}
    rec, doc = record(copy.deepcopy(original))
    second = doc["items"][1]
    doc["items"].insert(0, {"n": -1})
    second["n"] = 10
    assert rec.ops[-1] == {"op": "replace", "path": "/items/2/n", "value": 10}
    check(rec, original)


def test_editing_a_removed_value_raises() -> None:
    _, doc = record({"items": [{"n": 0}]})
    first = doc["items"][0]
    doc["items"].pop()
    with pytest.raises(PatchError, match="still be in the document"):
        first["n"] = 1


def test_dict_helpers_update_setdefault_pop_clear() -> None:
    original: JSON = {"a": {"b": 1, "c": 2}, "z": 0}
    rec, doc = record(copy.deepcopy(original))
    doc["a"].update({"b": 5}, d=6)
    doc.setdefault("list", []).append(1)
    assert doc.setdefault("z", 99) == 0
    assert doc["a"].pop("c") == 2
    assert doc["a"].pop("missing", "dflt") == "dflt"
    assert doc.popitem() == ("list", [1])
    doc["a"].clear()
    assert rec.doc == {"a": {}, "z": 0}
    check(rec, original)


def test_reads_behave_like_plain_values() -> None:
    rec, doc = record({"a": [1, 2, {"b": None}], "s": "x"})
    assert isinstance(doc, DictProxy)
    assert isinstance(doc["a"], ListProxy)
    assert len(doc) == 2
    assert "a" in doc
    assert list(doc.keys()) == ["a", "s"]
    assert doc == {"a": [1, 2, {"b": None}], "s": "x"}
    assert doc["a"][-1] == {"b": None}
    assert doc["a"][0:2] == [1, 2]
    assert list(doc["a"]) == [1, 2, {"b": None}]
    assert doc.get("missing") is None
    assert doc.get("s") == "x"
    assert dict(doc.items())["s"] == "x"
    assert 2 in doc["a"]
    assert doc["a"].index(2) == 1
    assert doc["a"].count(1) == 1
    assert doc.copy() == rec.doc
    assert doc.copy() is not rec.doc
    assert rec.ops == []


def test_assigning_a_proxy_stores_a_copy_of_its_plain_value() -> None:
    rec, doc = record({"a": [1]})
    doc["b"] = doc["a"]
    doc["c"] = [doc["a"]]
    assert type(rec.doc["b"]) is list  # type: ignore[index,call-overload]
    doc["a"].append(2)
    assert rec.doc == {"a": [1, 2], "b": [1], "c": [[1]]}


def test_assigned_values_do_not_share_containers_with_the_caller() -> None:
    rec, doc = record({})
    mine: list[JSON] = [1]
    doc["a"] = mine
    mine.append(2)
    assert rec.doc == {"a": [1]}
    assert rec.ops == [{"op": "add", "path": "/a", "value": [1]}]


def test_op_values_are_not_changed_by_later_edits() -> None:
    rec, doc = record({})
    doc["a"] = []
    doc["a"].append(1)
    assert rec.ops[0] == {"op": "add", "path": "/a", "value": []}
    assert apply_patch({}, rec.ops) == {"a": [1]}


def test_rejected_value_raises_and_leaves_the_document_as_it_was() -> None:
    rec, doc = record({"a": [1]})
    with pytest.raises(NotJSONError):
        doc["a"].extend([2, {3}])
    with pytest.raises(NotJSONError):
        doc.update(b=1, c=object())
    with pytest.raises(NotJSONError):
        doc[1] = 1
    assert rec.doc == {"a": [1]}
    assert rec.ops == []


def test_extending_by_scalars_records_one_run_whose_ops_are_one_add_per_item() -> None:
    rec, doc = record({"y": [0.5]})
    doc["y"].extend([1.5, 2, True, None, "a,b"])
    doc["y"].extend([])
    assert rec.records == [Appends("/y", 1, [1.5, 2, True, None, "a,b"])]
    assert rec.ops == [
        {"op": "add", "path": f"/y/{k}", "value": v}
        for k, v in enumerate([1.5, 2, True, None, "a,b"], 1)
    ]
    check(rec, {"y": [0.5]})


def test_extending_by_containers_records_copies_item_by_item() -> None:
    rec, doc = record({"y": []})
    doc["y"].extend([[1], {"a": 2}])
    doc["y"][0].append(3)  # a later edit must not change the recorded value
    assert rec.ops[:2] == [
        {"op": "add", "path": "/y/0", "value": [1]},
        {"op": "add", "path": "/y/1", "value": {"a": 2}},
    ]
    check(rec, {"y": []})


@pytest.mark.parametrize(("bad", "path"), [(math.nan, "/y/3"), (math.inf, "/y/3"), ({4}, "/y/3")])
def test_an_extend_with_a_bad_item_names_it_and_edits_nothing(bad: object, path: str) -> None:
    rec, doc = record({"y": [0]})
    doc["y"].append(1)
    with pytest.raises(NotJSONError) as info:
        doc["y"].extend([2.0, bad, 5.0])
    assert info.value.path == path
    assert rec.doc == {"y": [0, 1]}
    assert rec.ops == [{"op": "add", "path": "/y/1", "value": 1}]


def test_failing_sort_key_edits_nothing() -> None:
    rec, doc = record({"xs": [1, "a"]})
    with pytest.raises(TypeError):
        doc["xs"].sort()
    assert rec.doc == {"xs": [1, "a"]}
    assert rec.ops == []


def test_keys_are_escaped_in_paths() -> None:
    rec, doc = record({"a/b": {}})
    doc["a/b"]["~"] = 1
    assert rec.ops == [{"op": "add", "path": "/a~1b/~0", "value": 1}]


def test_scalar_documents_cannot_be_edited_in_place() -> None:
    with pytest.raises(TypeError):
        Recorder(3, strict_normalise).proxy  # noqa: B018


# --- property: random edit sequences -----------------------------------------------

keys = st.text(alphabet="ab/~", max_size=2)
scalars = (
    st.none() | st.booleans() | st.integers(-2, 2) | st.floats(-2, 2) | st.text("x/", max_size=2)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)
containers = st.dictionaries(keys, json_values, max_size=4) | st.lists(json_values, max_size=4)


def _containers(value: Any) -> list[Any]:
    """``value`` and every container under it, depth first: proxies, or plain values."""
    found = [value]
    children = value.values() if isinstance(value, dict | DictProxy) else value
    for child in children:
        if isinstance(child, dict | list | DictProxy | ListProxy):
            found.extend(_containers(child))
    return found


def _edit(target: Any, plain: Any, draw: st.DrawFn) -> None:
    """Apply one random edit to a proxy and the same edit to its plain twin."""
    value = draw(json_values)
    if isinstance(target, DictProxy):
        key = draw(keys)
        action = draw(st.sampled_from(["set", "del", "update", "pop", "clear", "setdefault"]))
        if action in ("del", "pop") and key not in plain:
            action = "set"
        if action == "set":
            target[key], plain[key] = value, copy_json(value)
        elif action == "del":
            del target[key]
            del plain[key]
        elif action == "update":
            target.update({key: value})
            plain.update({key: copy_json(value)})
        elif action == "pop":
            assert json_equal(target.pop(key), plain.pop(key))
        elif action == "clear":
            target.clear()
            plain.clear()
        else:
            target.setdefault(key, value)
            plain.setdefault(key, copy_json(value))
        return
    actions = ["append", "insert", "extend", "clear", "reverse", "slice"]
    if plain:
        actions += ["set", "pop", "del", "remove"]
    action = draw(st.sampled_from(actions))
    index = draw(st.integers(-len(plain) - 1, len(plain) + 1))
    if action == "append":
        target.append(value)
        plain.append(copy_json(value))
    elif action == "insert":
        target.insert(index, value)
        plain.insert(index, copy_json(value))
    elif action == "extend":
        target.extend([value, value])
        plain.extend([copy_json(value), copy_json(value)])
    elif action == "clear":
        target.clear()
        plain.clear()
    elif action == "reverse":
        target.reverse()
        plain.reverse()
    elif action == "slice":
        target[index:] = [value]
        plain[index:] = [copy_json(value)]
    else:
        i = index % len(plain)
        if action == "set":
            target[i], plain[i] = value, copy_json(value)
        elif action == "pop":
            assert json_equal(target.pop(i), plain.pop(i))
        elif action == "del":
            del target[i]
            del plain[i]
        else:
            item = plain[i]
            target.remove(item)
            plain.remove(item)


@st.composite
def edited(draw: st.DrawFn) -> tuple[JSON, Recorder, JSON]:
    original = draw(containers)
    rec, doc = record(copy.deepcopy(original))
    twin = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 6))):
        proxies = _containers(doc)
        k = draw(st.integers(0, len(proxies) - 1))
        target = proxies[k]
        twin_target = _containers(twin)[k]
        _edit(target, twin_target, draw)
    return original, rec, twin


@settings(max_examples=200, deadline=None)
@given(case=edited())
def test_random_edits_replay_exactly_and_roll_back(case: tuple[JSON, Recorder, JSON]) -> None:
    original, rec, twin = case
    assert json.dumps(rec.doc) == json.dumps(twin), "edits must apply like on plain values"
    check(rec, original)
