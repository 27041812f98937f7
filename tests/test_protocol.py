"""The wire format, line by line (docs/protocol.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest

from nb_sse_signals import _protocol as proto
from nb_sse_signals._errors import CursorError, ProtocolError


def test_event_with_id_and_name_puts_each_field_on_its_own_line() -> None:
    frame = proto.encode_event(b'{"a":1}', event_id="ep-3", event="closed")
    assert frame == b'event: closed\nid: ep-3\ndata: {"a":1}\n\n'


def test_multi_line_data_becomes_one_data_field_per_line() -> None:
    frame = proto.encode_event(b"one\ntwo\r\nthree\rfour")
    assert frame == b"data: one\ndata: two\ndata: three\ndata: four\n\n"


def test_multi_line_data_round_trips_through_the_decoder() -> None:
    frame = proto.encode_event(b"one\ntwo", event_id="x-1").decode()
    (event,) = proto.SSEDecoder().decode(frame)
    assert (event.data, event.id, event.event) == ("one\ntwo", "x-1", "message")


def test_comment_lines_are_ignored_by_the_decoder() -> None:
    text = proto.KEEP_ALIVE.decode() + ": two\n: lines\n\n"
    assert proto.KEEP_ALIVE == b": keep-alive\n\n"
    assert proto.SSEDecoder().decode(text) == []


def test_retry_hint_rides_on_an_event() -> None:
    frame = proto.retry_field(2000) + proto.encode_event(b"{}", event_id="e-1")
    assert frame == b"retry: 2000\nid: e-1\ndata: {}\n\n"
    decoder = proto.SSEDecoder()
    (event,) = decoder.decode(frame.decode())
    assert (event.data, decoder.retry) == ("{}", 2000)


def test_event_without_id_keeps_the_previous_last_event_id() -> None:
    # As per the SSE spec: the last event ID buffer is not reset by an event without id.
    text = "id: e-1\ndata: a\n\ndata: b\n\n"
    first, second = proto.SSEDecoder().decode(text)
    assert (first.id, second.id) == ("e-1", "e-1")


def test_with_id_adds_a_cursor_to_an_id_less_frame() -> None:
    frame = proto.with_id(proto.encode_event(b"x"), "e-9")
    (event,) = proto.SSEDecoder().decode(frame.decode())
    assert event.id == "e-9"


def test_field_values_with_line_breaks_are_rejected() -> None:
    with pytest.raises(ProtocolError, match="single-line"):
        proto.encode_event(b"x", event_id="a\nb")


def test_change_data_is_the_leptos_sse_shape_plus_rev() -> None:
    data = proto.change_data("count", 3, b'[{"op":"replace","path":"/value","value":3}]')
    assert orjson.loads(data) == {
        "name": "count",
        "rev": 3,
        "patch": [{"op": "replace", "path": "/value", "value": 3}],
    }


def test_snapshot_is_one_root_replace() -> None:
    change = proto.parse_change(proto.snapshot_data("s", 0, b'{"value":0}'))
    assert change.is_snapshot
    assert change.patch == [{"op": "replace", "path": "", "value": {"value": 0}}]


def test_names_are_json_escaped_in_change_data() -> None:
    data = proto.change_data('k-1/a"b', 1, b"[]")
    assert orjson.loads(data)["name"] == 'k-1/a"b'


@pytest.mark.parametrize("name", ["count", 'k-1/a"b', "ünï/\u2028"])
def test_change_frame_is_the_change_event_built_in_one_step(name: str) -> None:
    patch = orjson.dumps([{"op": "add", "path": "/x", "value": "line\nbreak"}])
    expected = proto.encode_event(proto.change_data(name, 7, patch), event_id="Ab3-42")
    assert proto.change_frame(orjson.dumps(name), 7, patch, b"Ab3", 42) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "invalid JSON"),
        (b"[1]", "JSON object"),
        (b'{"name": "", "rev": 1, "patch": []}', "signal key"),
        (b'{"name": "a", "rev": -1, "patch": []}', "integer >= 0"),
        (b'{"name": "a", "rev": true, "patch": []}', "integer >= 0"),
        (b'{"name": "a", "rev": 1, "patch": {}}', "list of operation objects"),
    ],
)
def test_bad_message_data_is_rejected_with_what_was_expected(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        proto.parse_change(data)


def test_cursor_round_trips() -> None:
    assert proto.parse_cursor(proto.format_cursor("abc123", 42)) == ("abc123", 42)


@pytest.mark.parametrize("text", ["", "abc", "abc-", "-1", "abc-01", "abc--1", "a b-1", "abc-1x"])
def test_malformed_cursor_names_the_expected_form(text: str) -> None:
    with pytest.raises(CursorError, match="<epoch>-<sequence>"):
        proto.parse_cursor(text)


@pytest.mark.parametrize("key", ["count", "k-3f2a/count", "a.b:c_d", "x" * 200])
def test_valid_keys_pass(key: str) -> None:
    assert proto.check_key(key) == key


@pytest.mark.parametrize("key", ["", "a b", "é", "x" * 201, 5, None])
def test_invalid_keys_are_rejected(key: object) -> None:
    with pytest.raises(ProtocolError, match="signal key"):
        proto.check_key(key)


JS_PROTOCOL = (Path(__file__).resolve().parents[1] / "js" / "src" / "protocol.js").read_text()


@pytest.mark.parametrize("name", ["EVENTS_PATH", "SNAPSHOT_PATH"])
def test_python_and_js_name_the_endpoints_alike(name: str) -> None:
    match = re.search(rf'export const {name} = "([^"]+)";', JS_PROTOCOL)
    assert match, f"js/src/protocol.js should export {name}"
    assert match.group(1) == getattr(proto, name)


def test_python_and_js_have_the_same_statuses() -> None:
    match = re.search(r"export const STATUSES = .*?\((\[[^\]]*\])\)", JS_PROTOCOL)
    assert match, "js/src/protocol.js should export STATUSES"
    assert tuple(json.loads(match.group(1))) == proto.STATUSES


def test_python_and_js_accept_the_same_keys() -> None:
    match = re.search(r"export const KEY_PATTERN = /\^(.*)\$/;", JS_PROTOCOL)
    assert match, "js/src/protocol.js should export KEY_PATTERN"
    assert match.group(1) == proto.KEY_PATTERN.pattern


# -- format=leptos_sse ----------------------------------------------------------------


def test_leptos_sse_names_a_change_after_its_signal_and_keeps_its_id() -> None:
    frame = proto.change_frame(
        b'"k-1/loss"', 7, b'[{"op":"add","path":"/-","value":0.5}]', b"ep", 42
    )
    assert proto.leptos_sse_frames(frame) == (
        b"event: k-1/loss\n"
        b"id: ep-42\n"
        b'data: {"event":"k-1/loss","patch":[{"op":"add","path":"/-","value":0.5}]}\n\n'
    )


def test_leptos_sse_sends_a_snapshot_as_the_root_replace_it_is() -> None:
    snapshot = proto.with_id(proto.encode_event(proto.snapshot_data("c", 3, b'{"v":1}')), "ep-9")
    assert proto.leptos_sse_frames(snapshot) == (
        b"event: c\nid: ep-9\n"
        b'data: {"event":"c","patch":[{"op":"replace","path":"","value":{"v":1}}]}\n\n'
    )
    # A snapshot of a batch before the last has no id, and gets none.
    bare = proto.encode_event(proto.snapshot_data("c", 3, b"[]"))
    assert proto.leptos_sse_frames(bare) == (
        b'event: c\ndata: {"event":"c","patch":[{"op":"replace","path":"","value":[]}]}\n\n'
    )


def test_leptos_sse_keeps_a_closed_or_refused_events_id_on_an_empty_patch() -> None:
    # Such a client has no listener for these, and a signal named "closed" would read
    # them as its own: their cursor still has to move on.
    closed = proto.encode_event(proto.closed_data("closed", 4), event_id="ep-5", event="closed")
    refused = proto.encode_event(
        proto.refused_data("r", 2, "too deep"), event_id="ep-6", event="refused"
    )
    assert proto.leptos_sse_frames(closed + refused) == (
        b'event: closed\nid: ep-5\ndata: {"event":"closed","patch":[]}\n\n'
        b'event: r\nid: ep-6\ndata: {"event":"r","patch":[]}\n\n'
    )


def test_leptos_sse_drops_events_without_an_id_that_only_our_clients_read() -> None:
    stale = proto.orphaned_frame("a", 3) + proto.BACKPLANE_LOST_FRAME
    refused = proto.encode_event(proto.refused_data("r", 2, "x"), event="refused")
    assert proto.leptos_sse_frames(stale + refused) == b""


def test_leptos_sse_keeps_the_order_of_a_batch_and_decodes_as_named_events() -> None:
    batch = (
        proto.change_frame(b'"a"', 1, b"[]", b"e", 1)
        + proto.orphaned_frame("a", 1)
        + proto.change_frame(b'"b"', 1, b'[{"op":"remove","path":"/x"}]', b"e", 2)
    )
    events = proto.SSEDecoder().decode(proto.leptos_sse_frames(batch).decode())
    assert [(e.event, e.id, json.loads(e.data)) for e in events] == [
        ("a", "e-1", {"event": "a", "patch": []}),
        ("b", "e-2", {"event": "b", "patch": [{"op": "remove", "path": "/x"}]}),
    ]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@h:6379/0", "redis://***@h:6379/0"),
        ("http://user:hunter2@h/x?password=hunter2&db=1", "http://***@h/x?password=[secret]&db=1"),
        ("unknown+scheme://u:hunter2@h", "unknown+scheme://***@h"),
        ("u:hunter2@h:1/p@q", "***@h:1/p@q"),
        (
            "ws://h:1/nb-sse-signals/publish?token=hunter2",
            "ws://h:1/nb-sse-signals/publish?token=[secret]",
        ),
        ("https://h/a?x=1#frag", "https://h/a?x=1#frag"),
    ],
)
def test_redact_url_hides_passwords_and_secret_query_values_whatever_the_scheme(
    url: str, shown: str
) -> None:
    assert proto.redact_url(url) == shown
    assert "hunter2" not in proto.redact_url(url)
