"""Mutations of dicts and lists that log their own inverse, for atomic patches and rollback.

Each primitive edits in place, in O(1) or O(path) for the caller, and appends to an
``Undo`` log a callable that reverses it; ``rollback`` replays the log newest first.
Rolling back restores the exact previous state, object key order and object identity
included (proxies in ``_mutate`` and parent containers keep pointing at the same objects).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from ._types import JSON

Undo: TypeAlias = list[Callable[[], None]]


def dict_set(d: dict[str, JSON], key: str, value: JSON, undo: Undo) -> None:
    if key in d:
        undo.append(partial(d.__setitem__, key, d[key]))
    else:
        undo.append(partial(d.__delitem__, key))
    d[key] = value


def dict_del(d: dict[str, JSON], key: str, undo: Undo) -> JSON:
    # Re-adding a key puts it last; remember the keys that followed it so undo can
    # move them back behind it. Free when the key is already last (the common case).
    if next(reversed(d)) == key:
        tail: list[str] = []
    else:
        keys = list(d)
        tail = keys[keys.index(key) + 1 :]
    value = d.pop(key)
    undo.append(partial(_dict_restore, d, key, value, tail))
    return value


def _dict_restore(d: dict[str, JSON], key: str, value: JSON, tail: list[str]) -> None:
    d[key] = value
    for k in tail:
        d[k] = d.pop(k)


def dict_assign(d: dict[str, JSON], items: dict[str, JSON], undo: Undo) -> None:
    """Give ``d`` new contents while keeping its identity (proxies and parents point at it)."""
    old = dict(d)
    undo.append(partial(_dict_reset, d, old))
    _dict_reset(d, items)


def _dict_reset(d: dict[str, JSON], items: dict[str, JSON]) -> None:
    d.clear()
    d.update(items)


def list_insert(xs: list[JSON], index: int, value: JSON, undo: Undo) -> None:
    xs.insert(index, value)
    undo.append(partial(xs.__delitem__, index))


def list_extend(xs: list[JSON], items: list[JSON], undo: Undo) -> None:
    undo.append(partial(xs.__delitem__, slice(len(xs), None)))
    xs.extend(items)


def list_del(xs: list[JSON], index: int, undo: Undo) -> JSON:
    value = xs.pop(index)
    undo.append(partial(xs.insert, index, value))
    return value


def list_set(xs: list[JSON], index: int, value: JSON, undo: Undo) -> None:
    undo.append(partial(xs.__setitem__, index, xs[index]))
    xs[index] = value


def list_assign(xs: list[JSON], items: list[JSON], undo: Undo) -> None:
    """Give ``xs`` new contents while keeping its identity."""
    undo.append(partial(xs.__setitem__, slice(None), xs[:]))
    xs[:] = items


def rollback(undo: Undo, mark: int = 0) -> None:
    """Undo, newest first, every action logged after position ``mark``."""
    while len(undo) > mark:
        undo.pop()()
