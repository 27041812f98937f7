"""apply_patch: the RFC 6902 suite, atomic rollback, type-strict test, JSON Pointer rules."""

from __future__ import annotations

import copy
import json
import random
import sys
from typing import Any

import jsonpatch
import jsonpointer
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
    select,
)
from nb_sse_signals._undo import list_insert

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


# What jsonpatch refuses with: its own errors, and what Python raises in it for
# a malformed patch (a missing member, an op that is not an object).
REFERENCE_REFUSALS = (
    jsonpatch.JsonPatchException,
    jsonpointer.JsonPointerException,
    KeyError,
    TypeError,
)


def reference_apply(doc: JSON, patch: Any) -> tuple[bool, JSON]:
    """(applied, result) of jsonpatch on its own copy of ``doc``."""
    try:
        return True, jsonpatch.apply_patch(copy.deepcopy(doc), copy.deepcopy(patch))
    except REFERENCE_REFUSALS:
        return False, None


def our_apply(doc: JSON, patch: Any) -> tuple[bool, JSON]:
    try:
        return True, apply_patch(copy.deepcopy(doc), patch)
    except PatchError:
        return False, None


@pytest.mark.parametrize("record", conformance.records())
def test_reference_library_agrees_with_suite_and_with_us(record: dict[str, Any]) -> None:
    # Both directions: what one applies the other applies to the same value, and
    # what one refuses (the suite's error records) the other refuses too.
    reference, ours = (
        reference_apply(record["doc"], record["patch"]),
        our_apply(record["doc"], record["patch"]),
    )
    assert reference[0] == ours[0] == ("error" not in record), (
        f"jsonpatch {'applied' if reference[0] else 'refused'}, "
        f"we {'applied' if ours[0] else 'refused'}, the suite says {record.get('error', 'applies')}"
    )
    if "expected" in record:
        assert dumps(reference[1]) == dumps(record["expected"]) == dumps(ours[1])


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


def pointers(value: JSON, at: str = "") -> list[str]:
    """Every location in ``value``, the root included."""
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += pointers(item, f"{at}/{escape(key)}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += pointers(item, f"{at}/{i}")
    return found


def new_locations(value: JSON, rng: random.Random) -> list[str]:
    """Locations an ``add`` can make: a new key, an index or "-" of each container."""
    found = []
    for at in pointers(value):
        node = jsonpointer.resolve_pointer(value, at)
        if isinstance(node, dict):
            found.append(f"{at}/{escape(rng.choice(['a', 'b', 'n/', '~x', '']))}")
        elif isinstance(node, list):
            found += [f"{at}/-", f"{at}/{rng.randint(0, len(node))}"]
    return found


def random_patch(doc: JSON, rng: random.Random, length: int) -> list[dict[str, JSON]]:
    """A patch that mostly applies: each op is built on the document the ops before it
    made (found by jsonpatch), and about one op in sixteen is something that fails."""
    ops: list[dict[str, JSON]] = []
    state = copy.deepcopy(doc)
    for _ in range(length):
        kind = rng.choice(["add", "remove", "replace", "move", "copy", "test"])
        existing, making = pointers(state), new_locations(state, rng)
        if rng.random() < 1 / 16:  # a wrong turn: a path that is not there, or is bad
            existing = making = ["/nope", "/0/x", "/01", "/-", "/a~2", "", "x"]
        value: JSON = rng.choice([0, 1, 1.0, True, None, "s", [], {}, [1, {"k": 2}]])
        op: dict[str, JSON] = {"op": kind}
        if kind in ("copy", "move"):
            # Not the root for a move (mostly): that is a move into itself.
            op["from"] = rng.choice(existing[1:] if kind == "move" and existing[1:] else existing)
            if kind == "move" and op["from"] != "":
                # A move adds where the document is once the source is gone.
                removed = reference_apply(state, [{"op": "remove", "path": op["from"]}])
                if removed[0]:
                    making = new_locations(removed[1], rng) or making
        if kind in ("add", "copy", "move"):
            op["path"] = rng.choice(making or existing)
        else:
            op["path"] = rng.choice(existing[1:] if kind == "remove" and existing[1:] else existing)
        if kind == "test":
            # The value that is there, mostly: a test that passes lets the rest run.
            try:
                there = jsonpointer.resolve_pointer(state, str(op["path"]))
            except (jsonpointer.JsonPointerException, KeyError, TypeError):
                there = value
            op["value"] = copy.deepcopy(there) if rng.random() < 0.9 else value
        elif kind in ("add", "replace"):
            op["value"] = value
        ops.append(op)
        applied, after = reference_apply(state, [op])
        if applied:
            state = after
    return ops


@settings(max_examples=300, deadline=None)
@given(doc=json_values, rng=st.randoms(use_true_random=False), length=st.integers(1, 6))
def test_random_patch_is_all_or_nothing_and_agrees_with_the_reference(
    doc: JSON, rng: random.Random, length: int
) -> None:
    patch = random_patch(doc, rng, length)
    before = json.dumps(doc)
    work = copy.deepcopy(doc)
    try:
        result: JSON = apply_patch(work, patch)
        ours_applied = True
    except PatchError as e:
        assert json.dumps(work) == before, "a failed patch must leave the document unchanged"
        ours_applied, failure = False, str(e)
    reference_applied, reference = reference_apply(doc, patch)
    if ours_applied:
        assert reference_applied, f"jsonpatch refused {patch} that we applied"
        assert dumps(reference) == dumps(result)
    elif reference_applied:
        # The one rule where we are stricter (RFC 6902 section 4.6): jsonpatch's test
        # op takes True for 1; ours never takes a boolean for a number.
        index = int(failure.split()[1])
        op = patch[index]
        assert op["op"] == "test", f"jsonpatch applied {patch}; we refused: {failure}"
        assert "bool" in failure, failure


def test_most_generated_patches_apply_so_the_comparison_above_has_something_to_compare() -> None:
    rng = random.Random(25)
    docs: list[JSON] = [
        {"a": [1, 2, {"b": None}], "c": "x"},
        [0, [1.0, True], {"d": {"e": []}}],
        {"n/": {"~x": 1}, "": [{}]},
        "scalar",
    ]
    applied = sum(
        our_apply(doc, random_patch(doc, rng, rng.randint(1, 6)))[0]
        for doc in docs
        for _ in range(100)
    )
    assert applied >= 240, f"only {applied} of 400 generated patches applied"


def test_an_error_that_is_not_a_patch_error_still_rolls_back_every_earlier_op() -> None:
    # Python's own limits can fail an op too: a test of two values nested deeper
    # than the recursion limit raises RecursionError, not PatchError.
    deep: JSON = []
    for _ in range(sys.getrecursionlimit() + 100):
        deep = [deep]
    doc: JSON = {"a": 1, "deep": deep}
    patch = [
        {"op": "replace", "path": "/a", "value": 2},
        {"op": "add", "path": "/b", "value": 3},
        {"op": "test", "path": "/deep", "value": copy_json_iteratively(deep)},
    ]
    with pytest.raises(RecursionError):
        apply_patch(doc, patch)
    assert list(doc) == ["a", "deep"]  # type: ignore[arg-type]
    assert doc["a"] == 1  # type: ignore[index,call-overload]


def copy_json_iteratively(value: JSON) -> JSON:
    """A copy of a chain of single-item lists of any depth (``copy`` would recurse)."""
    depth = 0
    while isinstance(value, list) and value:
        value, depth = value[0], depth + 1
    out: JSON = copy.deepcopy(value)
    for _ in range(depth):
        out = [out]
    return out


def test_an_array_index_of_thousands_of_digits_is_a_patch_error_and_changes_nothing() -> None:
    # int() refuses more than 4,300 digits with ValueError: such an index is simply
    # past the end of any list, and must say so as every other bad index does.
    doc: JSON = {"a": 1, "xs": [0]}
    patch = [
        {"op": "replace", "path": "/a", "value": 2},
        {"op": "add", "path": "/xs/" + "1" * 5_000, "value": 0},
    ]
    with pytest.raises(PatchError, match=r"op 1 .*expected an array index at most 1, found 1{8}"):
        apply_patch(doc, patch)
    assert doc == {"a": 1, "xs": [0]}


@pytest.mark.parametrize(
    ("found", "expected", "passes"),
    [
        (1, 1.0, True),
        ({"a": [2]}, {"a": [2.0]}, True),
        (1, True, False),
        (0, False, False),
        ([1], [True], False),
        ("1", 1, False),
        ([1], [1, 2], False),
        ([1, 2], [1], False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": 1, "b": 2}, {"a": 1}, False),
        ({"a": 1}, {"b": 1}, False),
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


def test_json_equal_tells_lists_of_different_lengths_apart() -> None:
    assert not json_equal([1], [1, 2])
    assert not json_equal([1, 2], [1])
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})


@pytest.mark.parametrize("name", ["", "aaa", "ADD", "Add", "ad", None, 1])
def test_an_op_name_that_is_not_one_of_the_six_is_rejected(name: object) -> None:
    doc: JSON = {"a": 1}
    with pytest.raises(PatchError, match="expected 'op' to be add/remove/replace/move/copy/test"):
        apply_patch(doc, [{"op": name, "path": "/b", "value": 2}])  # type: ignore[dict-item]
    assert doc == {"a": 1}


def test_an_op_under_a_scalar_says_where_the_scalar_is() -> None:
    for op in ("add", "remove", "replace"):
        with pytest.raises(PatchError, match=r"expected an object or array at '/a/b', found int 1"):
            apply_patch({"a": {"b": 1}}, [{"op": op, "path": "/a/b/c", "value": 0}])


def test_select_reads_a_part_leniently_and_never_past_a_lists_end() -> None:
    doc: JSON = {"xs": [10, 20], "d": {"k": "v"}}
    assert select(doc, ["xs", "1"]) == 20
    assert select(doc, ["xs", "2"]) is None
    assert select(doc, ["xs", "5"]) is None
    assert select(doc, ["xs", "01"]) is None
    assert select(doc, ["xs", "-"]) is None
    assert select(doc, ["d", "k"]) == "v"
    assert select(doc, ["d", "missing"]) is None
    assert select(doc, ["d", "k", "deeper"]) is None
    part = select(doc, ["d"])
    assert part == {"k": "v"}
    assert part is not doc["d"], "a copy: the reader cannot change the value"  # type: ignore[index,call-overload]


def test_an_index_past_the_end_is_named_whole_unless_it_is_very_long() -> None:
    with pytest.raises(PatchError, match=r"^expected an array index at most 1, found 5$"):
        array_index("5", 2)
    forty = "9" * 40
    with pytest.raises(PatchError, match=rf"found {forty}$"):
        array_index(forty, 2)
    with pytest.raises(PatchError, match=r"found 1{20}\.\.\.\(5,000 digits\)$"):
        array_index("1" * 5_000, 2)


def test_only_a_dash_appends_and_a_short_index_is_not_too_long() -> None:
    for token in ("", "+", "*", ","):
        with pytest.raises(PatchError, match="expected an array index"):
            array_index(token, 2, for_add=True)
    assert array_index("5", 11) == 5
    assert array_index("10", 11) == 10


@pytest.mark.parametrize("pointer", ["-", ".a", " /a", "!x", "#/a"])
def test_a_pointer_must_start_with_a_slash_whatever_it_starts_with(pointer: str) -> None:
    with pytest.raises(PatchError, match="starting with '/'"):
        parse_pointer(pointer)


def test_json_equal_tells_a_huge_int_from_the_float_it_equals() -> None:
    assert not json_equal([2**70], [float(2**70)])
    assert not json_equal({"n": 2**70}, {"n": float(2**70)})


def test_a_missing_member_is_named_with_where_it_was_looked_for() -> None:
    with pytest.raises(PatchError, match=r"expected member 'c' at '/a/b', found none"):
        apply_patch({"a": {"b": {}}}, [{"op": "remove", "path": "/a/b/c"}])


def test_a_failing_op_is_shown_whole_up_to_200_characters_and_cut_past_them() -> None:
    def shown(op: Any) -> str:
        with pytest.raises(PatchError) as caught:
            apply_patch({"a": 1}, [op])
        message = str(caught.value)
        assert message.startswith("op 0 ")
        return message[len("op 0 ") :].rsplit(": expected", 1)[0]

    def op_of(length: int) -> dict[str, Any]:
        op: dict[str, Any] = {"op": "test", "path": "/a", "value": ""}
        op["value"] = "x" * (length - len(json.dumps(op)))
        assert len(json.dumps(op)) == length
        return op

    assert shown(op_of(200)) == json.dumps(op_of(200))
    assert shown(op_of(201)) == json.dumps(op_of(201))[:197] + "..."
    # An op JSON cannot write (a set) is shown as Python sees it, cut all the same.
    odd = {"op": "test", "path": "/a", "value": set(range(1_000))}
    assert len(shown(odd)) <= 200
    assert shown(odd).startswith("{'op': 'test', 'path': '/a', 'value': {0, 1, 2")


@pytest.mark.parametrize(
    ("a", "b"), [(1, 2), (-1, 0), (1.5, 2.5), (False, True), ("a", "b"), ("", "a")]
)
def test_json_equal_tells_two_different_scalars_of_one_type_apart(a: JSON, b: JSON) -> None:
    # What diff() asks of one list element against another: a change of value, not only
    # of type, must never read as equal, whichever side is the smaller.
    assert not json_equal(a, b)
    assert not json_equal(b, a)
    assert json_equal(a, copy.copy(a))


def test_json_equal_tells_objects_of_one_size_with_other_keys_or_values_apart() -> None:
    for a, b in (({"a": 1}, {"b": 1}), ({"a": 1, "b": 2}, {"a": 1, "c": 2}), ({"a": 1}, {"a": 2})):
        assert not json_equal(a, b)
        assert not json_equal(b, a)


# --- runs of appends to one array (applied with a single list.extend) ---------------------


def appends(path: str, values: list[JSON]) -> list[dict[str, JSON]]:
    return [{"op": "add", "path": path, "value": v} for v in values]


def indexed(base: str, first: int, values: list[JSON]) -> list[dict[str, JSON]]:
    """Appends as ``mutate().extend`` sends them: at ``base/first``, ``base/first + 1``, ..."""
    return [{"op": "add", "path": f"{base}/{first + k}", "value": v} for k, v in enumerate(values)]


@pytest.mark.parametrize(
    "patch",
    [
        appends("/y/-", [1.5, 2, True, None, "s", [1, [2]], {"a": {"b": []}}]),
        appends("/y/-", [1, 2]) + appends("/x/-", [3]) + appends("/y/-", [4, 5]),
        [*appends("/n/0/-", [1, 2, 3]), {"op": "remove", "path": "/n/0/0"}],
        appends("/-", [7, 8]),  # a run at the root: appends to the root array
        appends("/d/-", [1, 2]),  # an object: each op sets its member "-", the last wins
        appends("/e~1f/-", [1, 2]) + appends("/~1y/-", [3, 4]),  # escaped tokens
        # At the next index each time (what mutate().extend and a set() send):
        indexed("/y", 1, [1.5, 2, True, None, "s", [1, [2]], {"a": {"b": []}}]),
        indexed("/y", 1, [1, 2]) + indexed("/x", 0, [3]) + indexed("/y", 3, [4, 5]),
        indexed("/y", 0, [1, 2, 3]),  # from index 0 of a longer array: inserts, not appends
        indexed("/y", 1, [1, 2]) + indexed("/y", 1, [3, 4]),  # a run, then inserts before it
        indexed("/y", 1, [1, 2]) + indexed("/y", 4, [3]),  # a gap ends the run (then fails)
        indexed("/y", 1, [1]) + appends("/y/-", [2, 3]) + indexed("/y", 4, [4, 5]),
        indexed("", 1, [7, 8]),  # the root array
        indexed("/d", 0, [1, 2]),  # an object: members "0" and "1"
        indexed("/e~1f", 0, [1, 2]),  # an escaped parent
        [{"op": "add", "path": "/y/1", "value": 1}, {"op": "add", "path": "/y/02", "value": 2}],
        [{"op": "add", "path": "/y/01", "value": 1}, {"op": "add", "path": "/y/2", "value": 2}],
        [{"op": "add", "path": "/x/0", "value": 1}, {"op": "replace", "path": "/x/1", "value": 2}],
    ],
)
def test_a_run_of_appends_gives_what_the_reference_gives(patch: list[dict[str, JSON]]) -> None:
    doc: JSON = {"y": [0.5], "x": [], "n": [[0]], "d": {}, "e/f": [], "/y": {}}
    if patch[0]["path"] in ("/-", "/1"):
        doc = [1]
    try:
        expected = dumps(jsonpatch.apply_patch(copy.deepcopy(doc), patch))
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        before = dumps(doc)
        with pytest.raises(PatchError):
            apply_patch(doc, patch)
        assert dumps(doc) == before
        return
    assert dumps(apply_patch(doc, patch)) == expected


def test_a_run_at_the_next_indexes_is_applied_as_one_extend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One extend, no insert per point: a run of 3,400 appended points must not cost
    # 3,400 pointer walks (the hub's CPU per update of a streaming chart). The real
    # list_insert runs; it is only counted.
    inserted: list[int] = []

    def counted(xs: list[JSON], i: int, value: JSON, undo: Any) -> None:
        inserted.append(i)
        list_insert(xs, i, value, undo)

    monkeypatch.setattr("nb_sse_signals._patch.list_insert", counted)
    doc: JSON = {"y": [0.5]}
    apply_patch(doc, indexed("/y", 1, [float(k) for k in range(3_400)]))
    assert doc == {"y": [0.5, *map(float, range(3_400))]}
    assert inserted == []
    apply_patch(doc, indexed("/y", 0, [1.0, 2.0]))  # at the front: inserts, one by one
    assert inserted == [0, 1]
    assert doc["y"][:3] == [1.0, 2.0, 0.5]  # type: ignore[call-overload,index]


def test_a_run_of_appends_copies_its_containers() -> None:
    patch = appends("/y/-", [[1], {"a": [2]}])
    doc: JSON = {"y": []}
    apply_patch(doc, patch)
    patch[0]["value"].append(9)  # type: ignore[union-attr]
    assert doc == {"y": [[1], {"a": [2]}]}


@pytest.mark.parametrize(
    "failing",
    [
        {"op": "test", "path": "/y/0", "value": 2},
        {"op": "remove", "path": "/nope"},
        {"op": "add", "path": "/y/-"},  # the run's own shape, without a value
        {"op": "add", "path": "/y/999", "value": 1},
    ],
)
def test_a_run_followed_by_a_failing_op_leaves_the_value_as_it_was(
    failing: dict[str, JSON],
) -> None:
    doc: JSON = {"y": [1.0, 2.0], "x": [3]}
    ys = doc["y"]  # type: ignore[call-overload,index]
    before = dumps(doc)
    patch = [*appends("/y/-", [4.0] * 100), *appends("/x/-", [5, 6]), failing]
    with pytest.raises(PatchError, match=r"^op 102 "):
        apply_patch(doc, patch)
    assert dumps(doc) == before
    assert doc["y"] is ys  # type: ignore[call-overload,index]
    patch = [*indexed("/y", 2, [4.0] * 100), *indexed("/x", 1, [5, 6]), failing]
    with pytest.raises(PatchError, match=r"^op 102 "):
        apply_patch(doc, patch)
    assert dumps(doc) == before
    assert doc["y"] is ys  # type: ignore[call-overload,index]


@pytest.mark.parametrize(
    ("doc", "path", "message"),
    [
        ({"y": 1}, "/y/-", "op 0 .*expected an object or array at '/y', found int 1"),
        ({}, "/y/-", "op 0 .*expected member 'y' at the root, found none"),
        ({"y": [[1], 2]}, "/y/1/-", "op 0 .*expected an object or array at '/y/1', found int 2"),
        ({"y": []}, "/y/5/-", "op 0 .*expected an array index at most -1, found 5"),
        ({"y": []}, "/y~/-", "op 0 .*found a lone '~'"),
    ],
)
def test_a_run_to_a_place_that_is_not_an_array_fails_as_one_op_does(
    doc: JSON, path: str, message: str
) -> None:
    before = dumps(doc)
    with pytest.raises(PatchError, match=message) as run:
        apply_patch(doc, appends(path, [1, 2, 3]))
    with pytest.raises(PatchError) as one:
        apply_patch(doc, appends(path, [1]))
    assert str(run.value) == str(one.value)
    assert dumps(doc) == before


def test_a_value_too_deep_in_the_middle_of_a_run_is_named_by_its_op_and_changes_nothing() -> None:
    from nb_sse_signals._depth import MAX_DEPTH

    deep: JSON = 0
    for _ in range(MAX_DEPTH - 1):  # with the root and "y", one level too many under "/y/-"
        deep = [deep]
    ok: JSON = 0
    for _ in range(MAX_DEPTH - 2):
        ok = [ok]
    doc: JSON = {"y": [0.5]}
    apply_patch(doc, appends("/y/-", [ok]))  # the deepest that fits goes in
    before = dumps(doc)
    patch = appends("/y/-", [1.0, 2.0, deep, 3.0])
    with pytest.raises(PatchError, match=r"^op 2 .*at most 250 levels of nesting.*'/y/-/0/0"):
        apply_patch(doc, patch)
    assert dumps(doc) == before


def test_an_append_without_a_value_in_the_middle_of_a_run_fails_as_it_alone_would() -> None:
    doc: JSON = {"y": [0.5]}
    patch = [*appends("/y/-", [1, 2]), {"op": "add", "path": "/y/-"}, *appends("/y/-", [3])]
    with pytest.raises(PatchError, match=r"^op 2 .*expected a 'value' member, found none"):
        apply_patch(doc, patch)
    assert doc == {"y": [0.5]}
