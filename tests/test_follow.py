"""The kernel-side follower against a scripted SSE server that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from tornado import httpserver, web
from tornado.netutil import bind_sockets

from nb_sse_signals._follow import Follower
from nb_sse_signals._protocol import change_data, encode_event, snapshot_data

from .conftest import wait_until


def snapshot(rev: int, value: bytes, cursor: str) -> bytes:
    return encode_event(snapshot_data("s", rev, value), event_id=cursor)


def change(rev: int, patch: bytes, cursor: str) -> bytes:
    return encode_event(change_data("s", rev, patch), event_id=cursor)


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
        await asyncio.sleep(30)


@pytest.fixture
def scripted() -> Iterator[tuple[str, list[bytes], list[dict[str, Any]]]]:
    scripts: list[bytes] = []
    seen: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    [sock] = bind_sockets(0, "127.0.0.1")
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        app = web.Application(
            [(r"/nb-sse-signals/events", Scripted, {"scripts": scripts, "seen": seen})]
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
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/", scripts, seen
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


def test_a_revision_gap_resyncs_from_a_fresh_snapshot(scripted: Any) -> None:
    url, scripts, seen = scripted
    scripts.append(
        snapshot(0, b'{"n":0}', "e-1")
        + change(2, b'[{"op":"replace","path":"/n","value":2}]', "e-3")  # rev 1 is missing
    )
    scripts.append(snapshot(5, b'{"n":5}', "e-9"))
    follower, values, _ = follow(url)
    try:
        wait_until(lambda: values and values[-1][1] == 5, what="the resynced snapshot")
    finally:
        follower.stop()
    assert values == [({"n": 0}, 0), ({"n": 5}, 5)], "the value after the gap is never shown"
    assert seen[1]["last_event_id"] == "", "a resync reconnects without a cursor"


def test_a_patch_that_does_not_apply_resyncs_and_shows_nothing_wrong(scripted: Any) -> None:
    url, scripts, _ = scripted
    scripts.append(
        snapshot(0, b'{"n":0}', "e-1") + change(1, b'[{"op":"remove","path":"/missing"}]', "e-2")
    )
    scripts.append(snapshot(1, b'{"n":1}', "e-2"))
    follower, values, _ = follow(url)
    try:
        wait_until(lambda: values and values[-1][1] == 1, what="the resynced snapshot")
    finally:
        follower.stop()
    assert values == [({"n": 0}, 0), ({"n": 1}, 1)]


def test_a_dropped_stream_resumes_with_last_event_id(scripted: Any) -> None:
    url, scripts, seen = scripted
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
