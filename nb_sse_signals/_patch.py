"""Apply RFC 6902 JSON Patches in place, atomically; JSON Pointer (RFC 6901) helpers.

``apply_patch`` edits the document it is given (no up-front deep copy, so one op on a
100k-element list costs O(path)) and keeps an undo log of inverse actions: when any op
fails, every earlier op is undone and the document is exactly what it was, key order
included (see ``_undo``). A run of appends to one array (``mutate().extend`` and a
``set()`` of a longer list send thousands: ``<array>/<len>``, ``<array>/<len + 1>``, ...,
or ``<array>/-`` each time) is one pointer walk and one ``list.extend``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import partial
from operator import is_
from typing import Any, cast

from . import _codec
from ._depth import check_depth
from ._errors import NotJSONError, PatchError, describe
from ._types import JSON, Op
from ._undo import (
    Undo,
    dict_del,
    dict_set,
    list_del,
    list_extend,
    list_insert,
    list_set,
    rollback,
)

# RFC 6901 section 4: only "~0" and "~1" are escapes; a lone "~" is an error.
_BAD_ESCAPE = re.compile(r"~(?![01])")
# RFC 6901 section 4: array indexes are "0" or digits without a leading zero (ASCII only).
_INDEX = re.compile(r"0|[1-9][0-9]*")


# --- equality and copying ---------------------------------------------------------------


def json_equal(a: object, b: object) -> bool:
    """Deep equality where ``1``, ``1.0`` and ``True`` differ and object key order does not.

    Everything runs at C speed unless types must be told apart: identical objects (and
    containers whose items are all identical) are equal at once; Python ``==`` is a
    necessary condition that rejects most differences; then equal orjson bytes prove
    type-strict equality; only what is left is walked.
    """
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is list:
        la, lb = cast(list[JSON], a), cast(list[JSON], b)
        if len(la) != len(lb):
            return False
        if all(map(is_, la, lb)):
            return True
        return la == lb and (same_bytes(la, lb) or all(map(json_equal, la, lb)))
    if kind is dict:
        da, db = cast(dict[str, JSON], a), cast(dict[str, JSON], b)
        if len(da) != len(db) or da != db:
            return False
        # ``da == db`` guarantees every key of da is in db.
        theirs = list(map(db.__getitem__, da))
        if all(map(is_, da.values(), theirs)):
            return True
        return same_bytes(da, db) or all(map(json_equal, da.values(), theirs))
    return a == b


def rfc_equal(a: object, b: object) -> bool:
    """Equality as the ``test`` op defines it (RFC 6902 section 4.6).

    Unlike :func:`json_equal`, numbers are equal when their values are (``1`` and
    ``1.0``), but a boolean is never a number (``1`` and ``True`` differ).
    """
    ta, tb = type(a), type(b)
    if ta in _NUMBERS and tb in _NUMBERS:
        return a == b
    if ta is not tb:
        return False
    if ta is list:
        la, lb = cast(list[JSON], a), cast(list[JSON], b)
        return len(la) == len(lb) and all(map(rfc_equal, la, lb))
    if ta is dict:
        da, db = cast(dict[str, JSON], a), cast(dict[str, JSON], b)
        return da.keys() == db.keys() and all(rfc_equal(v, db[k]) for k, v in da.items())
    return a == b


_NUMBERS = (int, float)


def same_bytes(a: JSON, b: JSON) -> bool:
    """True when orjson writes both the same (which proves ``json_equal``)."""
    # orjson writes true / 1 / 1.0 differently, so equal bytes mean type-strict equality.
    # Different bytes prove nothing (key order, -0.0): the caller then walks.
    try:
        return _codec.dumps(a) == _codec.dumps(b)
    except _codec.EncodeError:  # ints beyond 64 bits, very deep nesting
        return False


def copy_json(value: JSON) -> JSON:
    """A deep copy of the containers of a JSON value; scalars are immutable and shared."""
    kind = type(value)
    if kind is dict:
        d = cast(dict[str, JSON], value)
        if _CONTAINERS.isdisjoint(map(type, d.values())):  # a copy of scalars is deep
            return dict(d)
        return {k: copy_json(v) for k, v in d.items()}
    if kind is list:
        xs = cast(list[JSON], value)
        if _CONTAINERS.isdisjoint(map(type, xs)):  # one C pass: 3x faster on 100k floats
            return list(xs)
        return [copy_json(v) for v in xs]
    return value


_CONTAINERS = frozenset((dict, list))


# --- JSON Pointer -----------------------------------------------------------------------


def escape(token: str) -> str:
    """Escape one reference token: "~" first, so "/" -> "~1" is not re-escaped (RFC 6901 s3)."""
    if "~" in token or "/" in token:
        return token.replace("~", "~0").replace("/", "~1")
    return token


def unescape(token: str) -> str:
    """Undo ``escape``: "~1" first, so "~01" becomes "~1" and not "/" (RFC 6901 section 4)."""
    if "~" not in token:
        return token
    if _BAD_ESCAPE.search(token):
        raise PatchError(f"expected '~0' or '~1' in pointer token {token!r}, found a lone '~'")
    return token.replace("~1", "/").replace("~0", "~")


def parse_pointer(pointer: object) -> list[str]:
    """The unescaped reference tokens of a pointer; ``""`` (the whole document) gives ``[]``."""
    if not isinstance(pointer, str):
        raise PatchError(f"expected a JSON Pointer string, found {describe(pointer)}")
    if pointer == "":
        return []
    if pointer[0] != "/":
        raise PatchError(f"expected a JSON Pointer starting with '/', found {pointer!r}")
    if "~" not in pointer:  # nothing escaped (the usual case): no per-token work
        return pointer[1:].split("/")
    return [unescape(t) for t in pointer[1:].split("/")]


def join_pointer(tokens: Sequence[str | int]) -> str:
    """The pointer to ``tokens`` (dict keys and list indexes), escaped."""
    return "".join("/" + (escape(t) if isinstance(t, str) else str(t)) for t in tokens)


def array_index(token: str, length: int, *, for_add: bool = False) -> int:
    """The list index a token names; ``for_add`` admits "-" and ``length`` (append)."""
    if for_add and token == "-":
        return length
    if not _INDEX.fullmatch(token):
        raise PatchError(f"expected an array index (digits, no leading zero), found {token!r}")
    limit = length if for_add else length - 1
    # More digits than the limit has is past it; int() would refuse thousands of them
    # with a ValueError (Python's int max_str_digits), which is no patch error.
    if len(token) > len(str(limit)) or int(token) > limit:
        found = token if len(token) <= 40 else f"{token[:20]}...({len(token):,} digits)"
        raise PatchError(f"expected an array index at most {limit}, found {found}")
    return int(token)


# --- apply --------------------------------------------------------------------------------


def apply_patch(doc: JSON, patch: Sequence[Op]) -> JSON:
    """Apply ``patch`` to ``doc`` in place and return the new root (a root add/replace swaps it).

    Atomic: on any failure every op already applied is undone, ``doc`` is left exactly as
    it was and :class:`PatchError` says which op failed, what was expected and what was
    found. Inserted values are deep-copied, so the caller may keep and reuse ``patch``.
    ``test`` compares as RFC 6902 section 4.6 says (:func:`rfc_equal`): numbers by value
    (``1`` equals ``1.0``), but a boolean is never a number (``1`` is not ``true``).
    """
    # Indexed below; whatever else arrives (a decoded dict or string) iterates as before.
    ops = patch if type(patch) is list else list(patch)
    applier = _Applier(doc)
    count, end, i = len(ops), 0, 0
    try:
        for i, op in enumerate(ops):
            if i < end:
                continue  # appended with the run it belongs to
            # The cheap test first (other ops pay only this): a run of appends needs the
            # next op at the same path ("-") or at the next index.
            nxt = ops[i + 1] if i + 1 < count else None
            if type(nxt) is dict and type(op) is dict and _may_follow(op.get("path"), nxt):
                end = applier.append_run(ops, i)
                if end > i:
                    continue
            applier.apply(op)
    except (PatchError, NotJSONError) as e:
        rollback(applier.undo)
        at = max(i, applier.at)  # a run names its failing op; i is where the run began
        raise PatchError(f"op {at} {_describe_op(ops[at])}: {e}") from None
    except BaseException:
        rollback(applier.undo)
        raise
    return applier.root


class _Applier:
    def __init__(self, root: JSON) -> None:
        self.root = root
        self.undo: Undo = []
        self.at = 0  # the op whose value failed in a run of appends (see apply_patch)

    def append_run(self, patch: Sequence[Op], start: int) -> int:
        """Append the values of the ops from ``start`` that each add at the end of one
        array (two or more; at ``<array>/-``, or at ``<array>/<n>``, ``<array>/<n + 1>``,
        ... where ``n`` is its length) with a single ``list.extend``, and return the index
        after them; else change nothing and return ``start``, so the op goes alone (and
        fails, inserts, or adds a member to an object, as RFC 6902 says).

        ``mutate().extend`` sends thousands of these in one patch; one op at a time they
        cost a pointer walk, an index check, a list insert and an undo entry each.
        """
        count = len(patch)
        if start + 1 >= count:
            return start
        op = patch[start]
        if not isinstance(op, dict) or op.get("op") != "add" or "value" not in op:
            return start
        path = op.get("path")
        if type(path) is not str:
            return start
        base, slash, last = path.rpartition("/")
        dash = last == "-"
        if not slash or not (dash or _DIGITS.fullmatch(last)):
            return start
        # A bad pointer or a missing parent fails here just as the op alone would in add().
        tokens = parse_pointer(path)
        xs = self.get(tokens[:-1])
        if type(xs) is not list:
            return start  # a member of an object, or fails alone
        # The first op must add at the array's length: an index before it inserts.
        first = len(xs)
        values: list[JSON] = []
        end = start
        while end < count:
            nxt = patch[end]
            # The next append of the run (this loop runs once per appended point)?
            if not (
                type(nxt) is dict
                and nxt.get("path") == (path if dash else f"{base}/{first + end - start}")
                and nxt.get("op") == "add"
                and "value" in nxt
            ):
                break
            value = nxt["value"]
            # copy_json and check_depth do nothing for a scalar (the usual value).
            if type(value) in _CONTAINERS:
                self.at = end  # a value too deep is named by its own op, as one by one
                value = copy_json(value)
                check_depth(value, tokens if dash else parse_pointer(nxt["path"]))
            values.append(value)
            end += 1
        if end > start:  # else the op at start adds elsewhere (an insert): it goes alone
            list_extend(xs, values, self.undo)
        return end

    def apply(self, op: object) -> None:
        if not isinstance(op, dict):
            raise PatchError(f"expected an operation object, found {describe(op)}")
        name = op.get("op")
        path = parse_pointer(_member(op, "path"))
        if name == "add":
            value = copy_json(_member(op, "value"))
            check_depth(value, path)
            self.add(path, value)
        elif name == "remove":
            self.remove(path)
        elif name == "replace":
            value = copy_json(_member(op, "value"))
            check_depth(value, path)
            self.replace(path, value)
        elif name == "move":
            source = parse_pointer(_member(op, "from"))
            if source == path:
                self.get(source)  # a no-op, but the location must exist
                return
            if path[: len(source)] == source:
                raise PatchError("expected a 'path' outside 'from', found a move into itself")
            moved = self.get(source)
            check_depth(moved, path)
            self.add(path, self.remove(source))
        elif name == "copy":
            copied = copy_json(self.get(parse_pointer(_member(op, "from"))))
            check_depth(copied, path)
            self.add(path, copied)
        elif name == "test":
            expected, found = _member(op, "value"), self.get(path)
            if not rfc_equal(expected, found):
                raise PatchError(f"expected {describe(expected)}, found {describe(found)}")
        else:
            raise PatchError(
                f"expected 'op' to be add/remove/replace/move/copy/test, found {describe(name)}"
            )

    def get(self, tokens: list[str]) -> JSON:
        node = self.root
        if not tokens:  # the root (the parent of a top-level member: the usual case)
            return node
        for depth, token in enumerate(tokens):
            if type(node) is dict:
                if token not in node:
                    raise PatchError(
                        f"expected member {token!r} at {_at(tokens[:depth])}, found none"
                    )
                node = node[token]
            elif type(node) is list:
                node = node[array_index(token, len(node))]
            else:
                raise PatchError(
                    f"expected an object or array at {_at(tokens[:depth])}, found {describe(node)}"
                )
        return node

    def add(self, tokens: list[str], value: JSON) -> None:
        if not tokens:
            self.set_root(value)
            return
        parent, key = self.get(tokens[:-1]), tokens[-1]
        if type(parent) is dict:
            dict_set(parent, key, value, self.undo)
        elif type(parent) is list:
            list_insert(parent, array_index(key, len(parent), for_add=True), value, self.undo)
        else:
            raise PatchError(
                f"expected an object or array at {_at(tokens[:-1])}, found {describe(parent)}"
            )

    def remove(self, tokens: list[str]) -> JSON:
        if not tokens:
            raise PatchError("expected a location inside the document, found '' (the root)")
        parent, key = self._parent(tokens)
        if type(parent) is dict:
            return dict_del(parent, key, self.undo)
        return list_del(cast(list[JSON], parent), array_index(key, len(parent)), self.undo)

    def replace(self, tokens: list[str], value: JSON) -> None:
        # In place rather than remove + add, so a member keeps its position in its object.
        if not tokens:
            self.set_root(value)
            return
        parent, key = self._parent(tokens)
        if type(parent) is dict:
            dict_set(parent, key, value, self.undo)
        else:
            xs = cast(list[JSON], parent)
            list_set(xs, array_index(key, len(xs)), value, self.undo)

    def _parent(self, tokens: list[str]) -> tuple[dict[str, JSON] | list[JSON], str]:
        """The container holding an existing location, and the location's last token."""
        key = tokens[-1]
        parent = self.get(tokens[:-1]) if len(tokens) > 1 else self.root
        if type(parent) is dict:
            if key not in parent:
                raise PatchError(f"expected member {key!r} at {_at(tokens[:-1])}, found none")
            return parent, key
        if type(parent) is list:
            return parent, key
        raise PatchError(
            f"expected an object or array at {_at(tokens[:-1])}, found {describe(parent)}"
        )

    def set_root(self, value: JSON) -> None:
        self.undo.append(partial(setattr, self, "root", self.root))
        self.root = value


# An index token short enough for int() (Python refuses thousands of digits).
_DIGITS = re.compile(r"[0-9]{1,18}")


def _may_follow(path: object, nxt: dict[str, Any]) -> bool:
    """Whether an op at ``nxt`` may append right after an op at ``path``: the same
    path ending in "-", or the next index of one parent (``/y/7``, then ``/y/8``).
    Cheap, and only a hint: :meth:`_Applier.append_run` checks the rest."""
    after = nxt.get("path")
    if type(path) is not str or type(after) is not str:
        return False
    if after == path:
        return path.endswith("/-")
    base, _, last = path.rpartition("/")
    return (
        len(after) >= len(path)
        and _DIGITS.fullmatch(last) is not None
        and after == f"{base}/{int(last) + 1}"
    )


def _member(op: dict[str, JSON], name: str) -> JSON:
    if name not in op:
        raise PatchError(f"expected a {name!r} member, found none")
    return op[name]


def _at(tokens: list[str]) -> str:
    return repr(join_pointer(tokens)) if tokens else "the root"


def _describe_op(op: object) -> str:
    try:
        text = json.dumps(op)
    except (TypeError, ValueError, RecursionError):
        text = repr(op)[:200]
    return text if len(text) <= 200 else text[:197] + "..."


def select(doc: JSON, tokens: list[str]) -> JSON:
    """A copy of the part of ``doc`` at the pointer ``tokens``, or None where there is none.

    For readers (widgets following a part of a value), so lenient: a missing
    part is ``None``, not an error.
    """
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                return None
            node = node[token]
        elif isinstance(node, list) and _INDEX.fullmatch(token) and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return copy_json(node)
