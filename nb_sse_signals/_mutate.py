"""Record in-place edits of a JSON document as RFC 6902 ops, for ``ServerSignal.mutate()``.

``Recorder(doc, normalise).proxy`` is a dict- or list-like view of ``doc``. Every edit
made through it (or through the proxies its reads return) is applied to ``doc`` at once,
so reads inside the block see it, and appended to ``Recorder.ops``; ``rollback()``
undoes them all, leaving ``doc`` exactly as it was (key order and object identity too).

Cost per edit is O(path length): a proxy remembers its parent and its key or index and
checks on each edit that it is still there (an index shifted by an insert is found
again by identity, O(len(list)), only then). Values are passed through
``normalise(value, pointer)`` before anything changes, so a rejected value leaves the
document as it was; multi-value edits (``extend``, ``update``) normalise everything
first. Op values are copies: the ops stay valid whatever later edits do to ``doc``.
An ``extend`` by scalars is kept as one :class:`Appends` record (its ops are one
``add`` per item, as the wire needs, but it costs a few C passes, not a call per item).
``sort``, ``reverse``, ``clear`` and slice assignment are recorded as one replace.
Editing through a proxy whose value has left the document raises :class:`PatchError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from ._patch import copy_json
from ._proxy import DictProxy, ListProxy, _Proxy
from ._types import JSON, Op
from ._undo import Undo, rollback

__all__ = ["Appends", "DictProxy", "ListProxy", "Normalise", "NormaliseItems", "Recorder"]

Normalise = Callable[[object, str], JSON]
NormaliseItems = Callable[[list[Any], str, int], list[JSON]]
"""``normalise_items(items, base, start)``: like ``normalise`` on each item at
``{base}/{start + k}``, for a list the caller owns (it may be returned as it is)."""


_CONTAINERS = frozenset((dict, list))
_SCALARS = frozenset((str, int, float, bool, type(None)))


@dataclass(frozen=True, slots=True)
class Appends:
    """``add`` ops of scalars at ``{base}/{start}``, ``{base}/{start + 1}``, ...: one
    ``extend``. ``values`` hold only scalars, so they stay valid whatever later edits do."""

    base: str
    start: int
    values: list[JSON]

    def ops(self) -> list[Op]:
        base, start = self.base, self.start
        return [
            {"op": "add", "path": f"{base}/{start + k}", "value": v}
            for k, v in enumerate(self.values)
        ]


class Recorder:
    """The edits made through ``proxy`` since creation, as ops, with a way to undo them.

    Not thread-safe: one block of edits, from one thread, at a time.
    """

    def __init__(
        self, doc: JSON, normalise: Normalise, normalise_items: NormaliseItems | None = None
    ) -> None:
        self.doc = doc
        self.records: list[Op | Appends] = []
        self._undo: Undo = []
        self._normalise = normalise
        self._normalise_items = normalise_items

    @property
    def ops(self) -> list[Op]:
        """Every recorded op, in order (an :class:`Appends` as its ops)."""
        out: list[Op] = []
        for record in self.records:
            if isinstance(record, Appends):
                out.extend(record.ops())
            else:
                out.append(record)
        return out

    @property
    def proxy(self) -> DictProxy | ListProxy:
        """A fresh view of the whole document; raises TypeError when it is a scalar."""
        if type(self.doc) is dict:
            return DictProxy(self, self.doc, None, "")
        if type(self.doc) is list:
            return ListProxy(self, self.doc, None, "")
        raise TypeError(
            f"expected a dict or list to edit in place, found {type(self.doc).__name__}"
        )

    def rollback(self) -> None:
        """Undo every recorded edit, newest first, and forget the ops."""
        rollback(self._undo)
        self.records.clear()

    def _value(self, value: object, pointer: str) -> JSON:
        return self._normalise(_plain(value), pointer)

    def _values(self, values: list[object], base: str, start: int) -> list[JSON]:
        if self._normalise_items is not None and set(map(type, values)) <= _SCALARS:
            # Plain scalars (no proxy to unwrap, nothing to copy): checked in C passes.
            return self._normalise_items(values, base, start)
        return [self._value(v, f"{base}/{start + k}") for k, v in enumerate(values)]

    def _record(self, op: str, pointer: str, value: JSON = None) -> None:
        if op == "remove":
            self.records.append({"op": op, "path": pointer})
        else:
            self.records.append({"op": op, "path": pointer, "value": copy_json(value)})

    def _record_appends(self, base: str, start: int, values: list[JSON]) -> None:
        if _CONTAINERS.isdisjoint(map(type, values)):
            if values:
                self.records.append(Appends(base, start, values))
            return
        for k, value in enumerate(values):
            self._record("add", f"{base}/{start + k}", value)

    def _wrap(self, value: JSON, parent: _Proxy, key: str | int) -> Any:
        """What a read returns: scalars as they are, containers as proxies."""
        if type(value) is dict:
            return DictProxy(self, value, parent, key)
        if type(value) is list:
            return ListProxy(self, value, parent, key)
        return value


def _plain(value: object) -> object:
    # A fresh tree with proxies replaced by copies of what they view: what is stored never
    # shares a container with the caller's objects nor with another place in the document.
    if isinstance(value, _Proxy):
        return copy_json(value._obj)
    kind = type(value)
    if kind is list or kind is tuple:
        return [_plain(v) for v in cast(Iterable[object], value)]
    if kind is dict:
        return {k: _plain(v) for k, v in cast(dict[object, object], value).items()}
    return value
