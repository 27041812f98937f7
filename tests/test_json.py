"""What can be published, and the errors for what cannot."""

from __future__ import annotations

import dataclasses
import enum
import math

import numpy as np
import pydantic
import pytest

from nb_sse_signals._errors import NotJSONError
from nb_sse_signals._json import normalise


@dataclasses.dataclass
class Count:
    value: int


class Model(pydantic.BaseModel):
    name: str
    sizes: list[int]


class Colour(enum.StrEnum):
    RED = "red"


def test_plain_json_comes_back_equal_but_not_shared() -> None:
    value = {"a": [1, 2.5, None, True, "s", {"b": []}]}
    out = normalise(value)
    assert out == value
    assert out is not value
    assert out["a"] is not value["a"]  # type: ignore[index]


def test_tuples_become_lists() -> None:
    assert normalise((1, (2, 3))) == [1, [2, 3]]


def test_dataclass_becomes_an_object_like_the_seeds_count() -> None:
    assert normalise(Count(3)) == {"value": 3}


def test_pydantic_model_becomes_its_json_dump() -> None:
    assert normalise(Model(name="x", sizes=[1, 2])) == {"name": "x", "sizes": [1, 2]}


def test_numpy_scalars_and_arrays_become_plain_numbers() -> None:
    out = normalise(
        {"a": np.arange(3), "b": np.float32(1.5), "c": np.int64(7), "d": np.bool_(True)}
    )
    assert out == {"a": [0, 1, 2], "b": 1.5, "c": 7, "d": True}
    assert type(out["c"]) is int  # type: ignore[index]
    assert type(out["d"]) is bool  # type: ignore[index]


def test_enum_subclasses_of_str_become_plain_strings() -> None:
    out = normalise([Colour.RED])
    assert out == ["red"]
    assert type(out[0]) is str  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ({"a": [1, {2, 3}]}, "/a/1", "got set"),
        ({"x": math.nan}, "/x", "finite number"),
        ([1.0, math.inf], "/1", "finite number"),
        ({"a": {1: "b"}}, "/a", "string keys"),
        ({"a/b": {"c~d": b"x"}}, "/a~1b/c~0d", "got bytes"),
        (object(), "", "at the root"),
        ({"arr": np.array([1.0, np.nan])}, "/arr/1", "finite number"),
    ],
)
def test_non_json_is_rejected_naming_the_path(value: object, path: str, message: str) -> None:
    with pytest.raises(NotJSONError, match=message) as info:
        normalise(value)
    assert info.value.path == path
    assert isinstance(info.value, TypeError)
