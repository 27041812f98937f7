"""The dict- and list-like views that ``_mutate.Recorder`` hands out.

Reads return plain scalars and, for nested containers, further proxies that remember
their parent and key, so an edit anywhere knows its JSON Pointer. Each edit goes
through the recorder: normalise first (nothing changes if that raises), then one
undoable primitive from ``_undo``, then one recorded op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, MutableSequence
from itertools import repeat
from operator import indexOf, is_
from typing import Any, Protocol, cast, overload

from ._errors import NotJSONError, PatchError
from ._patch import copy_json, escape
from ._types import JSON
from ._undo import (
    Undo,
    dict_assign,
    dict_del,
    dict_set,
    list_assign,
    list_del,
    list_extend,
    list_insert,
    list_set,
)


class Recorder(Protocol):
    """What a proxy reports its edits to (``_mutate.Recorder``)."""

    _undo: Undo

    def _value(self, value: object, pointer: str) -> JSON:
        """``value`` checked and copied, to store at ``pointer``."""
        ...

    def _record(self, op: str, pointer: str, value: JSON = None) -> None: ...

    def _values(self, values: list[object], base: str, start: int) -> list[JSON]:
        """``values`` checked and copied, to store from ``{base}/{start}`` on."""
        ...

    def _record_appends(self, base: str, start: int, values: list[JSON]) -> None:
        """One ``add`` op per item of ``values``, at ``{base}/{start}`` on."""
        ...

    def _wrap(self, value: JSON, parent: _Proxy, key: str | int) -> Any:
        """A proxy for a container inside the document, or the scalar itself."""
        ...


_NO_DEFAULT: Any = object()


def _unwrap(value: object) -> object:
    return value._obj if isinstance(value, _Proxy) else value


class _Proxy:
    __slots__ = ("_key", "_obj", "_parent", "_rec")

    def __init__(self, rec: Recorder, obj: Any, parent: _Proxy | None, key: str | int) -> None:
        self._rec = rec
        self._obj = obj
        self._parent = parent
        self._key = key

    def _pointer(self) -> str:
        """Where this value is now, checked by identity from the root down: O(depth)."""
        if self._parent is None:
            return ""
        base = self._parent._pointer()
        container, key = self._parent._obj, self._key
        if type(container) is list:
            assert isinstance(key, int)
            if key >= len(container) or container[key] is not self._obj:
                # An insert or remove before us shifted the index: find us again.
                try:
                    key = self._key = indexOf(map(is_, container, repeat(self._obj)), True)
                except ValueError:
                    raise self._detached(base) from None
            return f"{base}/{key}"
        assert isinstance(key, str)
        if container.get(key) is not self._obj:
            raise self._detached(base)
        return f"{base}/{escape(key)}"

    def _detached(self, base: str) -> PatchError:
        return PatchError(
            f"expected the value read from {base!r} to still be in the document, found it "
            "removed or replaced: edit it through a fresh read"
        )

    def __eq__(self, other: object) -> bool:
        return bool(self._obj == _unwrap(other))

    def __repr__(self) -> str:
        return repr(self._obj)

    def copy(self) -> JSON:
        """A plain deep copy: editing it records nothing."""
        return copy_json(self._obj)


class DictProxy(_Proxy, MutableMapping[str, Any]):
    """Reads like the dict it views (nested containers come back as proxies); edits record."""

    _obj: dict[str, JSON]

    def __getitem__(self, key: str) -> Any:
        return self._rec._wrap(self._obj[key], self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._obj)

    def __len__(self) -> int:
        return len(self._obj)

    def __contains__(self, key: object) -> bool:
        return key in self._obj

    def __setitem__(self, key: str, value: object) -> None:
        if isinstance(value, _Proxy) and value._obj is self._obj.get(key, _NO_DEFAULT):
            return  # ``d[k] += [...]`` stores the edited list back into its own place
        pointer = self._member(key)
        stored = self._rec._value(value, pointer)
        op = "replace" if key in self._obj else "add"
        dict_set(self._obj, key, stored, self._rec._undo)
        self._rec._record(op, pointer, stored)

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def pop(self, key: str, default: Any = _NO_DEFAULT) -> Any:
        """Remove ``key`` and return a plain copy of its value (the original is kept for undo)."""
        if key not in self._obj:
            if default is _NO_DEFAULT:
                raise KeyError(key)
            return default
        pointer = self._member(key)
        value = dict_del(self._obj, key, self._rec._undo)
        self._rec._record("remove", pointer)
        return copy_json(value)

    def popitem(self) -> tuple[str, Any]:
        if not self._obj:
            raise KeyError("popitem(): dictionary is empty")
        key = next(reversed(self._obj))
        return key, self.pop(key)

    def clear(self) -> None:
        pointer = self._pointer()
        dict_assign(self._obj, {}, self._rec._undo)
        self._rec._record("replace", pointer, {})

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        if isinstance(other, Mapping):
            pairs = list(other.items())
        elif hasattr(other, "keys"):
            # dict.update's protocol: anything with keys() is read as a mapping.
            pairs = [(k, other[k]) for k in other.keys()]  # noqa: SIM118
        else:
            pairs = list(other)
        pairs.extend(kwargs.items())
        # Everything is normalised before anything changes: a bad value edits nothing.
        staged = [(k, self._member(k)) for k, _ in pairs]
        values = [self._rec._value(v, p) for (_, p), (_, v) in zip(staged, pairs, strict=True)]
        for (key, pointer), stored in zip(staged, values, strict=True):
            op = "replace" if key in self._obj else "add"
            dict_set(self._obj, key, stored, self._rec._undo)
            self._rec._record(op, pointer, stored)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self._obj:
            self[key] = default
        return self[key]

    def _member(self, key: object) -> str:
        if not isinstance(key, str):
            pointer = self._pointer()
            raise NotJSONError(
                f"expected a str key in the object at {pointer!r}, found {type(key).__name__} "
                f"{key!r}",
                pointer,
            )
        return f"{self._pointer()}/{escape(key)}"


class ListProxy(_Proxy, MutableSequence[Any]):
    """Reads like the list it views (nested containers come back as proxies); edits record."""

    _obj: list[JSON]

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._obj)))]
        i = self._index(index)
        return self._rec._wrap(self._obj[i], self, i)

    def __iter__(self) -> Iterator[Any]:
        wrap = self._rec._wrap
        for i, value in enumerate(self._obj):
            yield wrap(value, self, i)

    def __len__(self) -> int:
        return len(self._obj)

    def __contains__(self, value: object) -> bool:
        return _unwrap(value) in self._obj

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        return self._obj.index(
            cast(JSON, _unwrap(value)), start, len(self._obj) if stop is None else stop
        )

    def count(self, value: Any) -> int:
        return self._obj.count(cast(JSON, _unwrap(value)))

    @overload
    def __setitem__(self, index: int, value: Any) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[Any]) -> None: ...
    def __setitem__(self, index: int | slice, value: Any) -> None:
        if isinstance(index, slice):
            pointer = self._pointer()
            items = self._obj[:]
            items[index] = [self._rec._value(v, f"{pointer}/-") for v in value]
            self._replace_all(pointer, items)
            return
        i = self._index(index)
        if isinstance(value, _Proxy) and value._obj is self._obj[i]:
            return  # ``xs[i] += [...]`` stores the edited list back into its own place
        pointer = f"{self._pointer()}/{i}"
        stored = self._rec._value(value, pointer)
        list_set(self._obj, i, stored, self._rec._undo)
        self._rec._record("replace", pointer, stored)

    @overload
    def __delitem__(self, index: int) -> None: ...
    @overload
    def __delitem__(self, index: slice) -> None: ...
    def __delitem__(self, index: int | slice) -> None:
        if isinstance(index, slice):
            items = self._obj[:]
            del items[index]
            self._replace_all(self._pointer(), items)
        else:
            self.pop(index)

    def insert(self, index: int, value: Any) -> None:
        # list.insert clamps out-of-range indexes rather than raising; so do we.
        size = len(self._obj)
        i = max(0, index + size) if index < 0 else min(index, size)
        pointer = f"{self._pointer()}/{i}"
        stored = self._rec._value(value, pointer)
        list_insert(self._obj, i, stored, self._rec._undo)
        self._rec._record("add", pointer, stored)

    def append(self, value: Any) -> None:
        self.insert(len(self._obj), value)

    def extend(self, values: Iterable[Any]) -> None:
        # Materialised and normalised first: ``xs.extend(xs)`` terminates, a bad item edits nothing.
        # One undo entry and one recorded run for the whole extend: streaming thousands of
        # points per update costs a few C passes, not a Python call per point.
        base, start = self._pointer(), len(self._obj)
        staged = self._rec._values(list(values), base, start)
        list_extend(self._obj, staged, self._rec._undo)
        self._rec._record_appends(base, start, staged)

    def __iadd__(self, values: Iterable[Any]) -> ListProxy:
        self.extend(values)
        return self

    def pop(self, index: int = -1) -> Any:
        """Remove an item and return a plain copy of it (the original is kept for undo)."""
        if not self._obj:
            raise IndexError("pop from empty list")
        i = self._index(index)
        pointer = f"{self._pointer()}/{i}"
        value = list_del(self._obj, i, self._rec._undo)
        self._rec._record("remove", pointer)
        return copy_json(value)

    def remove(self, value: Any) -> None:
        self.pop(self.index(value))

    def clear(self) -> None:
        self._replace_all(self._pointer(), [])

    def reverse(self) -> None:
        self._replace_all(self._pointer(), self._obj[::-1])

    def sort(self, *, key: Callable[[Any], Any] | None = None, reverse: bool = False) -> None:
        """Sort like ``list.sort`` (``key`` sees plain values); recorded as one replace."""
        items = self._obj[:]  # sorted aside, so a failing key function edits nothing
        items.sort(key=key, reverse=reverse)
        self._replace_all(self._pointer(), items)

    def _replace_all(self, pointer: str, items: list[JSON]) -> None:
        list_assign(self._obj, items, self._rec._undo)
        self._rec._record("replace", pointer, items)

    def _index(self, index: int) -> int:
        size = len(self._obj)
        i = index + size if index < 0 else index
        if not 0 <= i < size:
            raise IndexError("list index out of range")
        return i
