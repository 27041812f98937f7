"""One entry of the Redis stream, a committed frame of changes (``_redis_entry``): what
a writer packs and every hub reads back, checked. Pure code (the stream in a real
Redis: tests/test_redis.py)."""

from __future__ import annotations

import pytest

from nb_sse_signals._redis_entry import Change, Refused, pack_changes, read_entry

FRAME = [
    ("a", 1, "c", b'[{"op":"add","path":"/-","value":1}]'),
    ("b", 4, "n", b'{"x": "a:b"}'),  # (a colon inside a field is only data)
    ("a", 2, "c", b'[{"op":"add","path":"/-","value":2}]'),
    ("b", 4, "x", b""),
    ("a", 2, "s", b""),
]


def _entry(
    last: int, changes: list[tuple[str, int, str, bytes]]
) -> tuple[bytes, dict[bytes, bytes]]:
    return b"0-%d" % last, {b"c": b"%d" % len(changes), b"b": pack_changes(changes)}


def test_a_frame_packed_reads_back_in_its_order_numbered_up_to_the_entry_id() -> None:
    entry_id, fields = _entry(17, FRAME)
    changes = read_entry(entry_id, fields)
    assert changes == [
        Change(13 + i, name, rev, kind, payload)
        for i, (name, rev, kind, payload) in enumerate(FRAME)
    ]


def test_a_change_with_a_bad_field_is_refused_alone_and_the_others_read() -> None:
    blob = b"".join(
        b"%d:%s" % (len(f), f)
        for change in (
            (b"ok", b"1", b"c", b"[]"),
            (b"bad", b"one", b"c", b"[]"),  # a revision that is not a number
            (b"no spaces", b"1", b"c", b"[]"),  # a name no publisher may use
            (b"odd", b"1", b"q", b"[]"),  # a kind there is not
            (b"\xff", b"1", b"c", b"[]"),  # not UTF-8
            (b"ok", b"2", b"c", b"[]"),
        )
        for f in change
    )
    changes = read_entry(b"0-6", {b"c": b"6", b"b": blob})
    assert changes[0] == Change(1, "ok", 1, "c", b"[]")
    assert changes[5] == Change(6, "ok", 2, "c", b"[]")
    refused = changes[1:5]
    assert all(isinstance(r, Refused) for r in refused)
    assert [r.seq for r in refused] == [2, 3, 4, 5]
    assert [r.name for r in refused][:3] == ["bad", "no spaces", "odd"]
    assert "expected a revision" in refused[0].reason
    assert "signal key" in refused[1].reason
    assert "kind of c, n, x or s" in refused[2].reason


@pytest.mark.parametrize(
    ("entry_id", "fields", "message"),
    [
        (b"1-5", {b"c": b"1", b"b": b"1:a1:11:c2:[]"}, "entry id 0-<seq>"),
        (b"0-x", {b"c": b"1", b"b": b"1:a1:11:c2:[]"}, "expected a revision"),
        (b"0-5", {b"b": b"1:a1:11:c2:[]"}, "fields c and b"),
        (b"0-5", {b"c": b"0", b"b": b""}, "1 to 5 changes"),
        (b"0-5", {b"c": b"6", b"b": b"1:a1:11:c2:[]"}, "1 to 5 changes"),
        (b"0-5", {b"c": b"2", b"b": b"1:a1:11:c2:[]"}, "cut into 2 changes"),
        (b"0-5", {b"c": b"1", b"b": b"1:a1:11:c9:[]"}, "ends inside change 5"),
        (b"0-5", {b"c": b"1", b"b": b"1:a1:11:c2:[]junk"}, "more than its 1 changes"),
        (b"0-5", {b"c": b"1", b"b": b"x:a1:11:c2:[]"}, "cut into 1 changes"),
        (b"0-5", {b"c": b"1", b"b": b"99999999999999999999999:a"}, "cut into 1 changes"),
    ],
)
def test_an_entry_that_cannot_be_numbered_or_cut_is_an_error_naming_why(
    entry_id: bytes, fields: dict[bytes, bytes], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        read_entry(entry_id, fields)
