"""The JSON types every layer shares: a value and a patch operation.

At the bottom of the package (see docs/architecture.md, "Layers"), so that the
patch code, the undo log and the wire format all name them without importing
each other.
"""

from __future__ import annotations

from typing import TypeAlias

JSON: TypeAlias = bool | int | float | str | list["JSON"] | dict[str, "JSON"] | None
"""A JSON value as the package holds it: plain Python containers and scalars."""

Op: TypeAlias = dict[str, JSON]
"""One RFC 6902 operation, ``{"op": ..., "path": ..., ...}``."""
