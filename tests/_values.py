"""JSON values that tests of several modules build alike."""

from __future__ import annotations

from typing import Any


def nested(levels: int) -> Any:
    """``levels`` lists, each the only item of the one outside it: ``[[...[]...]]``."""
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


def nested_json(levels: int) -> bytes:
    """The JSON text of :func:`nested` (written by hand: no encoder need accept it)."""
    return b"[" * levels + b"]" * levels
