"""One entry of the Redis backplane's stream: a committed frame of changes, pure code.

An entry is one frame, committed by one script (``_redis_engine.COMMIT``): its id is
``0-<the sequence number of its last change>`` and its fields are

- ``c``: how many changes it holds (decimal), numbered ``id - c + 1`` .. ``id``;
- ``b``: the changes in order, four fields each, every field ``<length>:<bytes>``:
  the signal's name, its revision after the change (decimal), the kind (``c`` a
  patch, ``n`` a whole value, ``x`` closed, ``s`` its publisher is gone) and the
  payload (the patch's JSON, the value's JSON, or empty).

One entry per frame, not one per change: Redis appends once per frame, and a hub
reads one string per frame. The writer packs it (:func:`pack_changes`), the script
appends it as it is, every reader parses and checks it (:func:`read_entry`): anyone
with access to Redis may have written it. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from . import _protocol as proto

__all__ = ["Change", "Refused", "pack_changes", "read_entry", "revision"]

KINDS = ("c", "n", "x", "s")


class Change(NamedTuple):
    """One change of an entry, checked: number ``seq`` of the whole backplane."""

    seq: int
    name: str
    rev: int
    kind: str
    payload: bytes


class Refused(NamedTuple):
    """One change of an entry that this hub cannot apply: ``name`` as written (maybe
    not a name at all, cut short), and why."""

    seq: int
    name: str
    reason: str


def pack_changes(changes: Iterable[tuple[str, int, str, bytes]]) -> bytes:
    """The ``b`` field of an entry: ``(name, rev, kind, payload)`` of each change, in order."""
    out = []
    heads: dict[str, bytes] = {}  # each name's field, made once (a frame repeats names)
    for name, rev, kind, payload in changes:
        head = heads.get(name)
        if head is None:
            key = name.encode()
            head = heads[name] = b"%d:%s" % (len(key), key)
        number = b"%d" % rev
        # (one format per change, not one per field: a frame packs hundreds of them)
        out.append(
            b"%s%d:%s1:%s%d:%s" % (head, len(number), number, kind.encode(), len(payload), payload)
        )
    return b"".join(out)


def revision(raw: bytes) -> int:
    """A revision or sequence number read from Redis; ValueError if it is not one."""
    if not raw.isdigit() or len(raw) > 18:  # (18 digits: far from 64 bits' end)
        shown = raw[:40].decode(errors="replace")
        raise ValueError(f"expected a revision (a non-negative integer), got {shown!r}")
    return int(raw)


def read_entry(entry_id: bytes, fields: Mapping[bytes, bytes]) -> list[Change | Refused]:
    """The changes of a stream entry, in order, each checked as a publisher's would be
    (a name by the publishers' rules, a revision, a kind): one that is not is
    :class:`Refused`, alone. ValueError (naming what is wrong) if the entry cannot be
    numbered or cut into changes at all: which changes it holds is then unknown."""
    head, _, tail = entry_id.partition(b"-")
    if head != b"0":
        raise ValueError(f"expected an entry id 0-<seq>, got {entry_id[:40]!r}")
    last = revision(tail)
    try:
        count = revision(fields[b"c"])
        blob = fields[b"b"]
    except KeyError as exc:
        raise ValueError(f"expected fields c and b in entry {last}, got none for {exc}") from None
    if not 0 < count <= last:
        raise ValueError(f"expected 1 to {last} changes in entry {last}, got {count}")
    first = last - count + 1
    out: list[Change | Refused] = []
    pos = 0
    for seq in range(first, last + 1):
        parts = []
        for _ in range(4):
            colon = blob.find(b":", pos, pos + 20)
            if colon < 0 or not blob[pos:colon].isdigit():
                raise ValueError(f"entry {last} cannot be cut into {count} changes at byte {pos}")
            end = colon + 1 + int(blob[pos:colon])
            if end > len(blob):
                raise ValueError(f"entry {last} ends inside change {seq}")
            parts.append(blob[colon + 1 : end])
            pos = end
        out.append(_change(seq, *parts))
    if pos != len(blob):
        raise ValueError(f"entry {last} holds more than its {count} changes")
    return out


def _change(seq: int, name: bytes, rev: bytes, kind: bytes, payload: bytes) -> Change | Refused:
    shown = name[:200].decode(errors="replace")
    try:
        checked = proto.check_key(name.decode())
        number = revision(rev)
        what = kind.decode()
    except (UnicodeDecodeError, ValueError) as exc:
        return Refused(seq, shown, f"change {seq} in Redis is refused: {exc}")
    if what not in KINDS:
        return Refused(
            seq,
            shown,
            f"change {seq} in Redis is refused: expected a kind of c, n, x or s, got {what[:20]!r}",
        )
    return Change(seq, checked, number, what, payload)
