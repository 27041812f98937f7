"""Normalise a user's new value and diff it against the previous one, in one pass.

``ServerSignal.set(value)`` needs both a private JSON copy of ``value`` (see
``_json``) and the patch from the value before. Done one after the other, each walks
the whole document: the copy checks every scalar's type and finiteness, the diff
proves every element equal. But the usual ``set()`` is of a value that mostly holds
the very same scalar objects as the last one (the user appended to their list, or
changed one key of their dict): those were checked when they were first published,
and the same objects are equal. So :func:`refresh` walks ``new`` beside ``old``,
skips runs of identical list elements at C speed (one pointer comparison each) and
identical dict values (at C speed too, where the dict has the very keys published
before, in their order), and normalises and diffs only the rest. Containers are
never shared with ``old`` (ours are copies, so a user's container is never the same
object), which keeps the result as private as ``normalise``'s.

A caller that gives ``old`` up (``ServerSignal.set``, with an undo log) gets a list
the user only appended to extended in place, and a dict whose values they changed
updated in place: the walk that proves the shared items identical is then the whole
cost beside the change, with no copy of the container and no freeing of the old one
(each of which touches every item again).

The result is the same value and an equivalent patch as ``normalise`` followed by
``diff``: ``tests/test_refresh.py`` holds the two to it on random documents.
"""

from __future__ import annotations

from functools import partial
from itertools import compress
from operator import is_not
from typing import Any

from ._diff import diff_into, diff_list_into
from ._identity import identical_run
from ._json import normalise, normalise_items, string_key
from ._patch import escape
from ._types import JSON, Op
from ._undo import Undo, dict_set

__all__ = ["refresh"]

_MISSING: Any = object()


def refresh(old: JSON, new: object, undo: Undo | None = None) -> tuple[JSON, list[Op]]:
    """``(normalise(new), diff(old, normalise(new)))`` without walking what did not change.

    ``old`` must be a normalised value nobody else mutates meanwhile; it is not
    modified. Raises :class:`NotJSONError` as ``normalise`` does (nothing to undo).
    Op values alias the returned value's containers, as ``diff``'s do.

    With ``undo``, the caller gives ``old`` up to the result instead: a list of it
    that ``new`` only extends (an append, the usual ``set()``) is extended in place,
    at the cost of the new items, not of a copy of the whole list, and ``undo`` gets
    the inverse. The caller rolls it back (``_undo.rollback``) if the change is refused
    after all, by a :class:`NotJSONError` from here included; ``old`` is then as it was.
    """
    ops: list[Op] = []
    return _refresh(old, new, "", ops, undo), ops


def _refresh(old: JSON, new: object, path: str, ops: list[Op], undo: Undo | None) -> JSON:
    kind = type(new)
    if (kind is list or kind is tuple) and type(old) is list:
        if kind is list and undo is not None and _extended(old, new, path, ops, undo):  # type: ignore[arg-type]
            return old
        return _refresh_list(old, list(new), path, ops)  # type: ignore[call-overload]
    if kind is dict and type(old) is dict:
        return _refresh_dict(old, new, path, ops, undo)  # type: ignore[arg-type]
    doc = normalise(new, path)
    diff_into(old, doc, path, ops)
    return doc


def _extended(old: list[JSON], new: list[Any], path: str, ops: list[Op], undo: Undo) -> bool:
    """Whether ``new`` is ``old`` with items appended; if so, ``old`` now holds what
    ``new`` does (one walk of the shared items, no copy of them), the adds are in
    ``ops`` and their inverse in ``undo``. ``new`` is read where it is, not copied
    first: if another thread resizes it meanwhile, what is published may mix its
    states (as any read of a list another thread changes may), but the ops always
    take the hub's copy to exactly the value this signal then holds."""
    size = len(old)
    if len(new) <= size or (size and new[size - 1] is not old[size - 1]):
        return False  # not longer, or its items moved: no walk spent on it
    if identical_run(old, new, size) < size:
        return False
    if len(new) == size + 1:  # one item, the usual append: no set-up for many
        where = f"{path}/{size}"
        added = [normalise(new[size], where)]
        ops.append({"op": "add", "path": where, "value": added[0]})
    else:
        added = normalise_items(new[size:], path, size)  # a slice: a copy of the new items
        ops.extend(
            {"op": "add", "path": f"{path}/{i}", "value": x} for i, x in enumerate(added, size)
        )
    undo.append(partial(old.__delitem__, slice(size, None)))
    old.extend(added)
    return True


def _refresh_list(old: list[JSON], items: list[Any], path: str, ops: list[Op]) -> list[JSON]:
    overlap = min(len(old), len(items))
    head = identical_run(old, items, overlap)
    # An append (the usual set()) shares all of ``old``: no tail to look for.
    tail = identical_run(old, items, overlap - head, from_end=True) if head < overlap else 0
    end = len(items) - tail
    if head < end:  # only the middle is new to us: check and copy it alone
        items[head:end] = normalise_items(items[head:end], path, head)
    diff_list_into(old, items, path, ops, head, tail)
    return items


def _refresh_dict(
    old: dict[str, JSON], new: dict[Any, Any], path: str, ops: list[Op], undo: Undo | None
) -> dict[str, JSON]:
    if len(new) == len(old):
        keys = list(new)
        if identical_run(old_keys := list(old), keys, len(keys)) == len(keys):
            return _refresh_values(old, new, old_keys, path, ops, undo)
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
            out[key] = _refresh(mine, item, where, ops, undo)
    if len(out) - added < len(old):  # some keys of ``old`` are not in ``new``
        for key in old:
            if key not in out:
                ops.append({"op": "remove", "path": path + "/" + escape(key)})
    return out


def _refresh_values(
    old: dict[str, JSON],
    new: dict[str, Any],
    keys: list[str],
    path: str,
    ops: list[Op],
    undo: Undo | None,
) -> dict[str, JSON]:
    """:func:`_refresh_dict` where ``new`` has the very key objects of ``old``, in its
    order (the user changed values of their own dict): those keys are strings, checked
    when first published. The values that are not the ones published before are found
    at C speed, so a changed key among 10k costs no Python loop over the others.
    Given ``undo``, ``old`` itself is updated, as a list is extended in place."""
    changed = list(compress(keys, map(is_not, new.values(), old.values())))
    if undo is not None:
        for key in changed:
            mine = old[key]
            value = _refresh(mine, new[key], path + "/" + escape(key), ops, undo)
            if value is not mine:
                dict_set(old, key, value, undo)
        return old
    out: dict[str, JSON] = dict(new)  # the unchanged values are ours; the rest follow
    for key in changed:
        out[key] = _refresh(old[key], new[key], path + "/" + escape(key), ops, undo)
    return out
