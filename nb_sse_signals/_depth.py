"""How deeply a JSON value nests, against the limit every serialiser on our path can write.

orjson reads 1,024 levels but writes only 254 (it refuses ``[[[...]]]`` 255 deep), and
the wire wraps a value in up to two more (a change frame's ``patch`` list and its op
object). A value deeper than :data:`MAX_DEPTH` would be accepted and then break every
snapshot and stream that carries it, so every way into a signal checks this first,
before anything changes.
"""

from __future__ import annotations

from ._errors import NotJSONError
from ._types import JSON

__all__ = ["MAX_DEPTH", "check_depth", "too_deep"]

# Containers from the root of a document down to its deepest node, the root counted.
MAX_DEPTH = 250


_CONTAINERS = (list, dict)


def check_depth(value: JSON, at: list[str] | None = None, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`NotJSONError` naming the first container deeper than ``limit`` levels,
    for ``value`` placed at the pointer tokens ``at`` of a document (none: the root).

    One walk, O(size); nothing is built unless a node is too deep.
    """
    base = len(at) if at else 0
    # (node, its level, its path as a linked list of (key, parent)) for containers only.
    stack: list[tuple[JSON, int, tuple[object, object] | None]] = [(value, base + 1, None)]
    while stack:
        node, level, path = stack.pop()
        kind = type(node)
        if kind is list:
            pairs: object = enumerate(node)  # type: ignore[arg-type]
        elif kind is dict:
            pairs = node.items()  # type: ignore[union-attr]
        else:
            continue
        if level > limit:
            keys: list[str] = []
            while path is not None:
                key, path = path  # type: ignore[assignment]
                keys.append(str(key))
            tokens = [*(at or []), *reversed(keys)]
            raise too_deep("".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens))
        for key, child in pairs:  # type: ignore[attr-defined]
            if type(child) in _CONTAINERS:
                stack.append((child, level + 1, (key, path)))


def too_deep(pointer: str, limit: int = MAX_DEPTH) -> NotJSONError:
    """The error for a container at ``pointer`` that is one level too deep."""
    shown = pointer if len(pointer) <= 80 else pointer[:40] + "..." + pointer[-36:]
    return NotJSONError(
        f"expected at most {limit} levels of nesting (what the JSON encoders on the wire "
        f"can write), got a container {limit + 1} levels deep at {shown!r}",
        pointer,
    )
