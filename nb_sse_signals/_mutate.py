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
``sort``, ``reverse``, ``clear`` and slice assignment are recorded as one replace.
Editing through a proxy whose value has left the document raises :class:`PatchError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from ._patch import copy_json
from ._proxy import DictProxy, ListProxy, _Proxy
from ._types import JSON, Op
from ._undo import Undo, rollback

__all__ = ["DictProxy", "ListProxy", "Normalise", "Recorder"]

Normalise = Callable[[object, str], JSON]


class Recorder:
    """The edits made through ``proxy`` since creation, as ops, with a way to undo them.

    Not thread-safe: one block of edits, from one thread, at a time.
    """

    def __init__(self, doc: JSON, normalise: Normalise) -> None:
        self.doc = doc
        self.ops: list[Op] = []
        self._undo: Undo = []
        self._normalise = normalise

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
        self.ops.clear()

    def _value(self, value: object, pointer: str) -> JSON:
        return self._normalise(_plain(value), pointer)

    def _record(self, op: str, pointer: str, value: JSON = None) -> None:
        if op == "remove":
            self.ops.append({"op": op, "path": pointer})
        else:
            self.ops.append({"op": op, "path": pointer, "value": copy_json(value)})

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
