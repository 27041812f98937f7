"""The kernel-side follower against a scripted SSE server that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from tornado import httpserver, web
from tornado.netutil import bind_sockets

from nb_sse_signals._follow import Follower
from nb_sse_signals._protocol import (
    BACKPLANE_LOST_FRAME,
    EVENTS_PATH,
    SNAPSHOT_PATH,
    change_data,
    encode_event,
    snapshot_data,
)
from nb_sse_signals._server import Server

from .conftest import wait_until


def snapshot(rev: int, value: bytes, cursor: str) -> bytes:
    return encode_event(snapshot_data("s", rev, value), event_id=cursor)


def change(rev: int, patch: bytes, cursor: str) -> bytes:
    return encode_event(change_data("s", rev, patch), event_id=cursor)


class Snapshots(web.RequestHandler):
    """The snapshot endpoint: answers with the next of ``answers`` (an empty list: 503)."""

    def initialize(self, answers: list[bytes], seen: list[dict[str, Any]]) -> None:
        self.answers, self.seen = answers, seen

    def get(self) -> None:
        self.seen.append({"snapshot": self.get_query_argument("signal")})
        if not self.answers:
            self.set_status(503)
            self.finish(b'{"error":"not now"}')
            return
        self.set_header("Content-Type", "application/json")
        self.finish(self.answers.pop(0))


class Scripted(web.RequestHandler):
    """Serves the next script from the list per connection, then holds the stream open."""

    def initialize(self, scripts: list[bytes], seen: list[dict[str, Any]]) -> None:
        self.scripts, self.seen = scripts, seen

    async def get(self) -> None:
        self.seen.append({"last_event_id": self.request.headers.get("Last-Event-ID", "")})
        script = self.scripts.pop(0) if self.scripts else b""
        self.set_header("Content-Type", "text/event-stream")
        self.write(script)
        await self.flush()
        if self.scripts:  # end this connection, so the follower reconnects for the next
            return
        for _ in range(150):  # hold it open with keep-alives, as the hub does (every 15 s)
            await asyncio.sleep(0.2)
            self.write(b": keep-alive\n\n")
            await self.flush()


@pytest.fixture
def scripted() -> Iterator[tuple[str, list[bytes], list[dict[str, Any]], list[bytes]]]:
    scripts: list[bytes] = []
    answers: list[bytes] = []
    seen: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    [sock] = bind_sockets(0, "127.0.0.1")
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        app = web.Application(
            [
                (r"/" + EVENTS_PATH, Scripted, {"scripts": scripts, "seen": seen}),
                (r"/" + SNAPSHOT_PATH, Snapshots, {"answers": answers, "seen": seen}),
            ]
        )
        server = httpserver.HTTPServer(app)
        server.add_sockets([sock])
        loop.call_soon(ready.set)
        loop.run_forever()
        server.stop()
        loop.run_until_complete(server.close_all_connections())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/", scripts, seen, answers
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def follow(url: str) -> tuple[Follower, list[tuple[Any, int]], list[str]]:
    values: list[tuple[Any, int]] = []
    statuses: list[str] = []
    # The follower hands over its own document: keep copies, as its contract says.
    follower = Follower(
        url, "s", lambda v, r: values.append((copy.deepcopy(v), r)), statuses.append
    )
    return follower, values, statuses


def test_a_revision_gap_fetches_a_snapshot_and_replays_what_the_stream_sent_since(
    scripted: Any,
) -> None:
    url, scripts, seen, answers = scripted
    scripts.append(
        snapshot(0, b'{"n":0}', "e-1")
        + change(2, b'[{"op":"replace","path":"/n","value":2}]', "e-3")  # rev 1 is missing
        + change(3, b'[{"op":"replace","path":"/n","value":3}]', "e-4")
    )
    answers.append(b'[{"name":"s","rev":2,"patch":[{"op":"replace","path":"","value":{"n":2}}]}]')
    follower, values, statuses = follow(url)
    try:
        wait_until(lambda: values and values[-1][1] == 3, what="the change after the snapshot")
    finally:
        follower.stop()
    # Rev 2 came from the snapshot: the publisher had it. Rev 2 from the stream's
    # patch on top of rev 0 (the wrong base) would never be shown.
    assert values == [({"n": 0}, 0), ({"n": 2}, 2), ({"n": 3}, 3)]
    assert {"snapshot": "s"} in seen, "the snapshot endpoint was asked"
    assert len([s for s in seen if "last_event_id" in s]) == 1, "the stream was kept"
    assert "stale" in statuses, "stale while resyncing"


def test_a_patch_that_does_not_apply_resyncs_and_shows_nothing_wrong(scripted: Any) -> None:
    url, scripts, _, answers = scripted
    scripts.append(
        snapshot(0, b'{"n":0}', "e-1") + change(1, b'[{"op":"remove","path":"/missing"}]', "e-2")
    )
    answers.append(b'[{"name":"s","rev":1,"patch":[{"op":"replace","path":"","value":{"n":1}}]}]')
    follower, values, _ = follow(url)
    try:
        wait_until(lambda: values and values[-1][1] == 1, what="the resynced snapshot")
    finally:
        follower.stop()
    assert values == [({"n": 0}, 0), ({"n": 1}, 1)]


def test_a_snapshot_that_cannot_be_had_is_asked_for_again(scripted: Any) -> None:
    url, scripts, seen, answers = scripted
    scripts.append(
        snapshot(0, b'{"n":0}', "e-1")
        + change(2, b'[{"op":"replace","path":"/n","value":2}]', "e-3")
    )
    follower, values, _ = follow(url)
    try:
        wait_until(lambda: {"snapshot": "s"} in seen, what="a first snapshot request")
        answers.append(
            b'[{"name":"s","rev":2,"patch":[{"op":"replace","path":"","value":{"n":2}}]}]'
        )
        wait_until(lambda: values and values[-1][1] == 2, timeout=20, what="a retried snapshot")
    finally:
        follower.stop()
    assert values == [({"n": 0}, 0), ({"n": 2}, 2)]


def test_a_dropped_stream_resumes_with_last_event_id(scripted: Any) -> None:
    url, scripts, seen, _ = scripted
    scripts.append(snapshot(0, b'{"n":0}', "e-1"))
    scripts.append(change(1, b'[{"op":"replace","path":"/n","value":1}]', "e-2"))
    follower, values, statuses = follow(url)
    try:
        wait_until(lambda: values and values[-1][1] == 1, what="the resumed change")
    finally:
        follower.stop()
    assert seen[1]["last_event_id"] == "e-1"
    assert values == [({"n": 0}, 0), ({"n": 1}, 1)]
    assert "live" in statuses


def test_a_stale_event_shows_stale_and_the_hubs_next_snapshot_shows_live(scripted: Any) -> None:
    url, scripts, _, _ = scripted
    # A hub that lost Redis says so, then resyncs and sends a snapshot.
    scripts.append(
        snapshot(0, b'{"n":0}', "e-1") + BACKPLANE_LOST_FRAME + snapshot(1, b'{"n":1}', "e-2")
    )
    follower, values, statuses = follow(url)
    try:
        wait_until(lambda: values and values[-1][1] == 1, what="the snapshot after stale")
        wait_until(lambda: statuses[-1] == "live", what="live again")
    finally:
        follower.stop()
    assert statuses[statuses.index("live") :] == ["live", "stale", "live"]
    assert values == [({"n": 0}, 0), ({"n": 1}, 1)], "stale changes no value"


def test_a_stream_that_is_not_utf8_shows_error_and_reconnects(scripted: Any) -> None:
    url, scripts, seen, _ = scripted
    scripts.append(snapshot(0, b'{"n":0}', "e-1") + b"data: \xff\xfe not UTF-8\n\n")
    scripts.append(change(1, b'[{"op":"replace","path":"/n","value":1}]', "e-2"))
    follower, values, statuses = follow(url)
    try:
        wait_until(lambda: values and values[-1][1] == 1, what="the change after reconnecting")
        assert follower._thread.is_alive(), "the follower's thread died"
    finally:
        follower.stop()
    assert "error" in statuses, statuses
    assert statuses[-1] == "live", statuses
    assert seen[1]["last_event_id"] == "e-1", "resumed from the last event it could read"
    assert values == [({"n": 0}, 0), ({"n": 1}, 1)]


def test_an_event_over_the_bound_shows_error_and_reconnects_without_keeping_it(
    scripted: Any,
) -> None:
    url, scripts, seen, _ = scripted
    # A line that never ends, as far as the bound goes; then a hub that behaves.
    scripts.append(snapshot(0, b'{"n":0}', "e-1") + b"data: " + b"x" * 50_000)
    scripts.append(change(1, b'[{"op":"replace","path":"/n","value":1}]', "e-2"))
    values: list[tuple[Any, int]] = []
    statuses: list[str] = []
    follower = Follower(
        url,
        "s",
        lambda v, r: values.append((copy.deepcopy(v), r)),
        statuses.append,
        max_event_bytes=10_000,
    )
    try:
        wait_until(lambda: values and values[-1][1] == 1, what="the change after reconnecting")
    finally:
        follower.stop()
    assert "error" in statuses, statuses
    assert len([s for s in seen if "last_event_id" in s]) == 2, seen
    assert values == [({"n": 0}, 0), ({"n": 1}, 1)]


def test_a_snapshot_answer_over_the_bound_is_a_failed_fetch(scripted: Any) -> None:
    url, scripts, seen, answers = scripted
    scripts.append(
        snapshot(0, b'{"n":0}', "e-1")
        + change(2, b'[{"op":"replace","path":"/n","value":2}]', "e-3")
    )
    big = b"x" * 20_000
    answers.append(
        b'[{"name":"s","rev":2,"patch":[{"op":"replace","path":"","value":"' + big + b'"}]}]'
    )
    values: list[tuple[Any, int]] = []
    follower = Follower(
        url, "s", lambda v, r: values.append((copy.deepcopy(v), r)), lambda s: None,
        max_event_bytes=10_000,
    )  # fmt: skip
    try:
        wait_until(lambda: {"snapshot": "s"} in seen, what="the snapshot request")
        answers.append(
            b'[{"name":"s","rev":2,"patch":[{"op":"replace","path":"","value":{"n":2}}]}]'
        )
        wait_until(lambda: values and values[-1][1] == 2, timeout=20, what="a retried snapshot")
    finally:
        follower.stop()
    assert values == [({"n": 0}, 0), ({"n": 2}, 2)], "the oversized answer was never shown"


def test_a_rejection_is_logged_once_not_at_every_retry(
    server: Server, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (only the retry delay is shortened, so that several retries fit in the test)
    monkeypatch.setattr(Follower, "rejected_retry", 0.02)
    server.hub.declare("s", 1)
    statuses: list[str] = []
    caplog.set_level(logging.DEBUG, "nb_sse_signals")
    follower = Follower(
        server.url, "s", lambda v, r: None, statuses.append, headers={"Authorization": "token no"}
    )
    try:
        wait_until(lambda: statuses.count("error") >= 4, what="several refused attempts")
    finally:
        follower.stop()
    warnings = [
        r for r in caplog.records if r.name == "nb_sse_signals" and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "cannot follow s: HTTP 403" in warnings[0].getMessage()
