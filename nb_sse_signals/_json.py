"""Turn what users publish into plain JSON, or say exactly where it is not JSON.

``normalise`` returns a fresh tree of ``dict``/``list``/scalars that shares no
mutable container with its input, so code still holding the input cannot change
a published value behind the signal's back. Scalars are shared (immutable).

Accepted beyond plain JSON: dataclass instances, pydantic models (when pydantic
is installed), numpy scalars and arrays, tuples (as lists). Rejected with
:class:`NotJSONError` naming the JSON Pointer of the culprit: NaN and
infinities, non-string dict keys, sets, bytes, and any other object.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from ._depth import MAX_DEPTH, too_deep
from ._errors import NotJSONError, describe
from ._patch import escape
from ._types import JSON

__all__ = ["JSON", "normalise", "normalise_items", "string_key"]

_SCALARS = frozenset({str, int, bool, type(None)})
_PLAIN_ITEMS = frozenset({str, int, bool, float, type(None)})
_NUMBERS = frozenset({int, bool, float})


def _where(path: str) -> str:
    return f"at {path!r}" if path else "at the root"


def _float(value: float, path: str) -> float:
    if not math.isfinite(value):
        raise NotJSONError(
            f"expected a finite number {_where(path)}, got {value!r}: JSON has no NaN or Infinity",
            path,
        )
    return value


def _plain_list(items: list[Any]) -> bool:
    """True when every item is a JSON scalar and every float is finite (checked at C speed)."""
    kinds = set(map(type, items))
    if not kinds <= _PLAIN_ITEMS:
        return False
    if float not in kinds:
        return True
    if kinds <= _NUMBERS:
        # One C pass: a NaN or an infinity makes the exact sum non-finite. Finite
        # values whose sum overflows raise; then look at each one.
        try:
            return math.isfinite(math.fsum(items))
        except OverflowError:
            return all(map(math.isfinite, items))
    return all(map(math.isfinite, (x for x in items if type(x) is float)))


def normalise(value: object, path: str = "") -> JSON:
    """Return ``value`` as a fresh JSON tree; raise :class:`NotJSONError` naming the bad path.

    Pure and thread-safe. ``path`` is the JSON Pointer of ``value`` within the
    document, used only in error messages.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value  # type: ignore[return-value]
    if kind is float:
        return _float(value, path)  # type: ignore[arg-type]
    if kind is list or kind is tuple:
        _check_level(path)
        return normalise_items(list(value), path)  # type: ignore[call-overload]
    if kind is dict:
        _check_level(path)
        return _normalise_dict(value, path)  # type: ignore[arg-type]
    return _normalise_other(value, path)


def _check_level(path: str) -> None:
    # A container at ``path`` sits one level below its parent: its pointer's tokens + 1.
    if path.count("/") >= MAX_DEPTH:
        raise too_deep(path)


def normalise_items(items: list[Any], path: str, start: int = 0) -> list[JSON]:
    """The items of a list the caller owns, as JSON; error paths count indexes from ``start``.

    Returns ``items`` itself when every item is a plain scalar (checked at C speed),
    else a new list.
    """
    if _plain_list(items):
        return items
    return [normalise(item, f"{path}/{start + i}") for i, item in enumerate(items)]


def string_key(key: object, path: str) -> str:
    """``key`` if it is a ``str``; else :class:`NotJSONError` (``path``: the object's)."""
    if type(key) is not str:
        raise NotJSONError(f"expected string keys {_where(path)}, got key {describe(key)}", path)
    return key


def _normalise_dict(value: dict[Any, Any], path: str) -> dict[str, JSON]:
    out: dict[str, JSON] = {}
    for key, item in value.items():
        if type(key) is not str:
            string_key(key, path)
        kind = type(item)
        if kind in _SCALARS:
            out[key] = item
        else:
            out[key] = normalise(item, f"{path}/{escape(key)}")
    return out


def _normalise_other(value: object, path: str) -> JSON:
    if isinstance(value, bool | int | str):  # subclasses such as IntEnum or StrEnum
        return normalise(_builtin(value), path)
    if isinstance(value, float):
        return _float(float(value), path)
    if isinstance(value, dict):
        _check_level(path)
        return _normalise_dict(dict(value), path)
    if isinstance(value, list | tuple):
        return normalise(list(value), path)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        _check_level(path)
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _normalise_dict(fields, path)
    converter = _converter(value)
    if converter is not None:
        return normalise(converter(value), path)
    raise NotJSONError(f"expected a JSON value {_where(path)}, got {describe(value)}", path)


def _builtin(value: bool | int | str) -> JSON:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    return str(value)


def _converter(value: object) -> Callable[[Any], object] | None:
    """Conversions for optional libraries, looked up by module name so none is imported here."""
    module = type(value).__module__.split(".", 1)[0]
    if module == "numpy":
        tolist = getattr(value, "tolist", None)
        if callable(tolist):
            return lambda v: v.tolist()
    if hasattr(value, "model_dump") and hasattr(type(value), "model_fields"):  # pydantic v2
        return lambda v: v.model_dump(mode="json")
    return None
