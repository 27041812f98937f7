"""The JSON types every layer shares: a value and a patch operation.

At the bottom of the package (see docs/architecture.md, "Layers"), so that the
patch code, the undo log and the wire format all name them without importing
each other.
"""

from __future__ import annotations

from typing import Any, TypeAlias

JSON: TypeAlias = bool | int | float | str | list["JSON"] | dict[str, "JSON"] | None
"""A JSON value as the package holds it: plain Python containers and scalars."""

Op: TypeAlias = dict[str, JSON]
"""One RFC 6902 operation, ``{"op": ..., "path": ..., ...}``."""


class _NotCopied:
    """What a kernel-side listener gets instead of a value it said it does not want now
    (``ServerSignal.add_listener``'s ``wants_value``): it asks for the value when read."""

    def __repr__(self) -> str:
        return "NOT_COPIED"


NOT_COPIED: Any = _NotCopied()
