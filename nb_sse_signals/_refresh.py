"""Normalise a user's new value and diff it against the previous one, in one pass.

``ServerSignal.set(value)`` needs both a private JSON copy of ``value`` (see
``_json``) and the patch from the value before. Done one after the other, each walks
the whole document: the copy checks every scalar's type and finiteness, the diff
proves every element equal. But the usual ``set()`` is of a value that mostly holds
the very same scalar objects as the last one (the user appended to their list, or
changed one key of their dict): those were checked when they were first published,
and the same objects are equal. So :func:`refresh` walks ``new`` beside ``old``,
skips runs of identical list elements at C speed (one pointer comparison each) and
identical dict values, and normalises and diffs only the rest. Containers are
never shared with ``old`` (ours are copies, so a user's container is never the same
object), which keeps the result as private as ``normalise``'s.

The result is the same value and an equivalent patch as ``normalise`` followed by
``diff``: ``tests/test_refresh.py`` holds the two to it on random documents.
"""

from __future__ import annotations

from typing import Any

from ._diff import diff_into, diff_list_into
from ._identity import identical_run
from ._json import normalise, normalise_items, string_key
from ._patch import escape
from ._types import JSON, Op

__all__ = ["refresh"]

_MISSING: Any = object()


def refresh(old: JSON, new: object) -> tuple[JSON, list[Op]]:
    """``(normalise(new), diff(old, normalise(new)))`` without walking what did not change.

    ``old`` must be a normalised value nobody else mutates meanwhile; it is not
    modified. Raises :class:`NotJSONError` as ``normalise`` does (nothing to undo).
    Op values alias the returned value's containers, as ``diff``'s do.
    """
    ops: list[Op] = []
    return _refresh(old, new, "", ops), ops


def _refresh(old: JSON, new: object, path: str, ops: list[Op]) -> JSON:
    kind = type(new)
    if (kind is list or kind is tuple) and type(old) is list:
        return _refresh_list(old, list(new), path, ops)  # type: ignore[call-overload]
    if kind is dict and type(old) is dict:
        return _refresh_dict(old, new, path, ops)  # type: ignore[arg-type]
    doc = normalise(new, path)
    diff_into(old, doc, path, ops)
    return doc


def _refresh_list(old: list[JSON], items: list[Any], path: str, ops: list[Op]) -> list[JSON]:
    overlap = min(len(old), len(items))
    head = identical_run(old, items, overlap)
    tail = identical_run(old, items, overlap - head, from_end=True)
    end = len(items) - tail
    if head < end:  # only the middle is new to us: check and copy it alone
        items[head:end] = normalise_items(items[head:end], path, head)
    diff_list_into(old, items, path, ops, head, tail)
    return items


def _refresh_dict(
    old: dict[str, JSON], new: dict[Any, Any], path: str, ops: list[Op]
) -> dict[str, JSON]:
    out: dict[str, JSON] = {}
    added = 0
    for key, item in new.items():
        mine = old.get(key, _MISSING) if type(key) is str else _MISSING
        if mine is item:
            out[key] = item  # the very scalar published before: checked then
            continue
        where = path + "/" + escape(string_key(key, path))
        if mine is _MISSING:
            out[key] = value = normalise(item, where)
            ops.append({"op": "add", "path": where, "value": value})
            added += 1
        else:
            out[key] = _refresh(mine, item, where, ops)
    if len(out) - added < len(old):  # some keys of ``old`` are not in ``new``
        for key in old:
            if key not in out:
                ops.append({"op": "remove", "path": path + "/" + escape(key)})
    return out
