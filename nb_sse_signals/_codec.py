"""JSON text in and out: orjson where it is installed, else the standard library, byte for byte.

orjson is what CPython installs (it is several times faster), but it has no wheel for
Pyodide on PyPI, so JupyterLite's kernel gets the fallback: :func:`stdlib_dumps`
writes exactly the bytes ``orjson.dumps`` writes for every JSON value (compact, UTF-8,
floats in orjson's shortest form) and rejects what orjson rejects with orjson's own
message (an integer beyond 64 bits, a non-string key, a lone surrogate, nesting past
254 levels, any other type), so a viewer cannot tell which one a kernel used and a
bad value fails the same way everywhere. ``tests/test_codec.py`` holds the two
together with hypothesis.

:data:`DecodeError` is :class:`json.JSONDecodeError` (orjson's is a subclass of it);
:data:`EncodeError` is orjson's, or a :class:`TypeError` of ours as orjson's is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "BACKEND",
    "DecodeError",
    "EncodeError",
    "StdlibEncodeError",
    "dumps",
    "loads",
    "stdlib_dumps",
    "stdlib_loads",
]

DecodeError = json.JSONDecodeError


class StdlibEncodeError(TypeError):
    """What :func:`stdlib_dumps` cannot write (orjson's ``JSONEncodeError`` is a TypeError too)."""


# orjson's limits and messages, so a bad value reads the same wherever it fails.
_MAX_DEPTH = 254  # containers orjson writes nested (it rejects the 255th)
_TOO_DEEP = "Recursion limit reached"
_BAD_KEY = "Dict key must be str"
_BAD_INT = "Integer exceeds 64-bit range"
_SURROGATE = "str is not valid UTF-8: surrogates not allowed"
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1

_SCALARS = frozenset({str, int, float, bool, type(None)})


def _reject(value: object) -> object:
    raise StdlibEncodeError(f"Type is not JSON serializable: {type(value).__name__}")


# The C encoder (one call, no Python per item) with orjson's separators; non-ASCII as
# UTF-8. NaN and infinities come out as tokens that _fix turns into orjson's null.
_encode = json.JSONEncoder(
    ensure_ascii=False,
    check_circular=False,  # _check bounds the depth, which also stops a cycle
    allow_nan=True,
    separators=(",", ":"),
    default=_reject,
).encode

# Where the C encoder's text can differ from orjson's: a float with a small negative
# exponent (repr: 1e-05, 1e-07; orjson: 0.00001, 1e-7), NaN and infinities (orjson:
# null). Looked for as substrings (a regex search costs more than the encoding).
_SUSPECTS = ("e-0", "NaN", "Infinity")
# Strings are matched whole so that nothing inside one is ever taken for a number.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?Infinity|NaN|-?\d+(?:\.\d+)?(?:e[-+]?\d+)?')


def _fix(match: re.Match[str]) -> str:
    token = match.group()
    if token[0] == '"':
        return token
    if token[-1] == "N" or token[-1] == "y":  # NaN, Infinity, -Infinity
        return "null"
    mantissa, e, exponent = token.partition("e")
    if not e:
        return token
    power = int(exponent)
    if power == -5:
        # orjson writes 1.2345e-05 as 0.000012345: the digits after four zeros.
        sign = "-" if mantissa[0] == "-" else ""
        digits = mantissa.lstrip("-").replace(".", "")
        return f"{sign}0.0000{digits}"
    if -9 <= power <= -6:
        return f"{mantissa}e{power}"  # no zero padding: 1e-7, not 1e-07
    return token


def _check_ints(items: Any, kinds: set[type]) -> None:
    """Reject integers beyond 64 bits, as orjson does (the C encoder writes any)."""
    if int not in kinds:
        return
    ints = items if kinds == {int} else [x for x in items if type(x) is int]
    if ints and (min(ints) < _INT_MIN or max(ints) > _INT_MAX):
        raise StdlibEncodeError(_BAD_INT)


def _check(value: Any, depth: int) -> None:
    """Reject, as orjson does, what the C encoder would write anyway: non-string keys,
    integers beyond 64 bits and nesting past orjson's limit. Lists of scalars cost a few
    C-level passes."""
    if type(value) is int:
        _check_ints((value,), {int})
        return
    if isinstance(value, dict):
        if depth >= _MAX_DEPTH:
            raise StdlibEncodeError(_TOO_DEEP)
        for key in value:
            if not isinstance(key, str):
                raise StdlibEncodeError(_BAD_KEY)
        items: Any = value.values()
    elif isinstance(value, list | tuple):
        if depth >= _MAX_DEPTH:
            raise StdlibEncodeError(_TOO_DEEP)
        items = value
    else:
        return
    kinds = set(map(type, items))
    _check_ints(items, kinds)
    if kinds <= _SCALARS:
        return
    for item in items:
        if type(item) not in _SCALARS:
            _check(item, depth + 1)


def stdlib_dumps(value: Any) -> bytes:
    """``orjson.dumps(value)``, byte for byte, with the standard library's C encoder."""
    _check(value, 0)
    text = _encode(value)
    if any(suspect in text for suspect in _SUSPECTS):
        text = _TOKEN.sub(_fix, text)
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise StdlibEncodeError(_SURROGATE) from None


def _no_constant(name: str) -> object:
    raise ValueError(f"expected a JSON value, got {name} (JSON has no NaN or Infinity)")


_decode = json.JSONDecoder(parse_constant=_no_constant).decode


def stdlib_loads(data: bytes | bytearray | memoryview | str) -> Any:
    """``orjson.loads(data)`` for valid JSON, with the standard library; what is not JSON
    (NaN, invalid UTF-8) raises :data:`DecodeError` as orjson does."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode()
        except UnicodeDecodeError as exc:
            raise DecodeError(f"str is not valid UTF-8: {exc.reason}", "", 0) from None
    try:
        return _decode(text)
    except ValueError as exc:
        if isinstance(exc, DecodeError):
            raise
        raise DecodeError(str(exc), text, 0) from None
    except RecursionError:
        raise DecodeError(_TOO_DEEP, text, 0) from None


dumps: Callable[[Any], bytes]
loads: Callable[[bytes | bytearray | memoryview | str], Any]
EncodeError: type[TypeError]

try:
    import orjson
except ImportError:  # Pyodide (JupyterLite): no orjson wheel on PyPI
    BACKEND = "json"
    dumps, loads, EncodeError = stdlib_dumps, stdlib_loads, StdlibEncodeError
else:
    BACKEND = "orjson"
    dumps, loads, EncodeError = orjson.dumps, orjson.loads, orjson.JSONEncodeError
