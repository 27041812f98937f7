"""The standard-library fallback (Pyodide's) writes and refuses exactly what orjson does."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nb_sse_signals import _codec
from nb_sse_signals._codec import DecodeError, StdlibEncodeError, stdlib_dumps, stdlib_loads

# Every JSON value orjson can write: any float (NaN and infinities included: orjson
# writes null), 64-bit integers, any string without lone surrogates, nesting.
text = st.text(st.characters(exclude_categories=["Cs"]))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | text
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(text, children, max_size=6),
    max_leaves=40,
)

# Floats spread over every exponent, not only the ones hypothesis likes best.
any_exponent = st.builds(
    lambda mantissa, power: float(f"{mantissa}e{power}"),
    st.decimals(1, 10, places=15, allow_nan=False, allow_infinity=False).map(str),
    st.integers(-324, 308),
).filter(math.isfinite)


@settings(max_examples=2000, deadline=None)
@given(value=json_values)
@example(value=[1e-5, -1.2345e-5, 1e-7, 1.5e-9, 1e-10, 1e16, 1e-4, 5e-324, -0.0])
@example(value={"k": 'a "1e-05" string \\ 1e-07 NaN Infinity 12345678901234567890'})
@example(value=[2**63 - 1, -(2**63), 2**64 - 1, "\x00\x1f\x7f\u2028\u2029\ufeff"])
def test_stdlib_writes_the_bytes_orjson_writes(value: Any) -> None:
    assert stdlib_dumps(value) == orjson.dumps(value)


@settings(max_examples=2000, deadline=None)
@given(value=st.lists(any_exponent, min_size=1, max_size=20))
def test_stdlib_writes_floats_of_every_exponent_as_orjson_does(value: list[float]) -> None:
    assert stdlib_dumps(value) == orjson.dumps(value)


@settings(max_examples=500, deadline=None)
@given(value=json_values)
def test_stdlib_reads_what_orjson_reads(value: Any) -> None:
    text = orjson.dumps(value)
    assert orjson.dumps(stdlib_loads(text)) == orjson.dumps(orjson.loads(text))


def _orjson_error(value: Any) -> str:
    with pytest.raises(orjson.JSONEncodeError) as caught:
        orjson.dumps(value)
    return str(caught.value)


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        2**64,
        -(2**63) - 1,
        [1, {"a": [2**70]}],
        {1: "a"},
        {"a": {None: 1}},
        "\ud800",
        ["ok", {"k": "\udfff"}],
        {1, 2},
        b"bytes",
        object(),
        _nested(255),
        {"a": _nested(254)},
    ],
    ids=[
        "int-too-big",
        "int-too-small",
        "nested-big-int",
        "int-key",
        "none-key-nested",
        "lone-surrogate",
        "nested-surrogate",
        "set",
        "bytes",
        "object",
        "255-deep",
        "255-deep-in-a-dict",
    ],
)
def test_stdlib_rejects_what_orjson_rejects_with_its_message(value: Any) -> None:
    with pytest.raises(StdlibEncodeError) as caught:
        stdlib_dumps(value)
    assert str(caught.value) == _orjson_error(value)
    assert isinstance(caught.value, TypeError)  # as orjson.JSONEncodeError is


def test_stdlib_writes_254_levels_as_orjson_does() -> None:
    assert stdlib_dumps(_nested(254)) == orjson.dumps(_nested(254))


def test_a_cycle_is_rejected_not_a_crash() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(StdlibEncodeError, match="Recursion limit reached"):
        stdlib_dumps(loop)


@pytest.mark.parametrize(
    "text", [b"NaN", b"[Infinity]", b"-Infinity", b"\xff", b"[1,]", b"", b"{} x", b'{"a" 1}']
)
def test_stdlib_rejects_what_orjson_rejects_to_read(text: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)
    with pytest.raises(DecodeError):
        stdlib_loads(text)


def test_decode_errors_are_one_class_for_both() -> None:
    # Callers catch _codec.DecodeError whichever backend serves.
    assert issubclass(orjson.JSONDecodeError, DecodeError)


def test_orjson_serves_where_installed() -> None:
    assert _codec.BACKEND == "orjson"
    assert _codec.dumps is orjson.dumps


def test_without_orjson_the_stdlib_serves() -> None:
    # A fresh interpreter where ``import orjson`` fails, as in Pyodide.
    code = (
        "import sys; sys.modules['orjson'] = None\n"
        "from nb_sse_signals import _codec\n"
        "assert _codec.BACKEND == 'json', _codec.BACKEND\n"
        "assert _codec.dumps is _codec.stdlib_dumps\n"
        "assert _codec.EncodeError is _codec.StdlibEncodeError\n"
        "print(_codec.dumps({'a': [1e-05, 'é']}).decode())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '{"a":[0.00001,"é"]}'
