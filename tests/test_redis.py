"""The Redis backplane, against a real ``redis-server`` on 127.0.0.1 and real hub processes.

Every redis-server, hub and publisher here is a process of its own, started by the
test and stopped by its pid; every wait is bounded. Viewers are raw SSE clients
that follow the client rules (docs/protocol.md) and record what they saw, so that
the tests can assert revisions and cursors, not only final values.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
import pytest
from tornado import httpclient, websocket

from bench._redis_server import RedisServer, available
from nb_sse_signals import (
    BackplaneError,
    LimitError,
    NotJSONError,
    SignalHub,
    UnknownSignalError,
)
from nb_sse_signals._follow import Follower
from nb_sse_signals._limits import Limits
from nb_sse_signals._patch import apply_patch
from nb_sse_signals._protocol import (
    EVENTS_PATH,
    PUBLISH_PATH,
    SECRET_HEADER,
    SSEDecoder,
    parse_change,
)
from nb_sse_signals._server import Server

from .conftest import SECRET, missing, wait_until
from .ws import close_websocket, raw_publisher

if not available():
    # A developer without it is told; in CI this skip fails (tests/conftest.py).
    pytest.skip(missing("redis-server", "scripts/setup.sh installs it"), allow_module_level=True)

from nb_sse_signals._redis import RedisBackplane, RedisPublisher  # (needs redis)

TOKEN = "redis-test-token"
ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


# -- processes -------------------------------------------------------------------------


class HubProcess:
    """``nb-sse-signals serve --redis URL`` in a process of its own."""

    def __init__(self, redis_url: str, log: Path, *extra: str) -> None:
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nb_sse_signals._cli",
                "serve",
                "--port",
                "0",
                "--token",
                TOKEN,
                "--redis",
                redis_url,
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=_pump, args=(self.proc, lines), daemon=True).start()
        text = ""
        deadline = time.monotonic() + 20
        while "publish secret" not in text:
            try:
                text += lines.get(timeout=max(0.1, deadline - time.monotonic())).decode()
            except queue.Empty:
                self.kill()
                raise TimeoutError(f"the hub printed nothing in time: {text!r}") from None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the hub exited: {text!r} {log.read_text()[-2000:]}")
        self.port = int(re.search(r"serving at http://127.0.0.1:(\d+)/", text).group(1))  # type: ignore[union-attr]
        self.secret = re.search(r"publish secret:\s+(\S+)", text).group(1)  # type: ignore[union-attr]

    def publish(self, message: dict[str, Any]) -> dict[str, Any]:
        reply = httpx.post(
            f"http://127.0.0.1:{self.port}/{PUBLISH_PATH}",
            content=orjson.dumps(message),
            headers={SECRET_HEADER: self.secret},
            timeout=10,
        )
        result: dict[str, Any] = reply.json()
        return result

    def kill(self) -> None:
        """``kill -9``: no goodbye to its viewers or to Redis."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _pump(proc: subprocess.Popen[bytes], lines: queue.Queue[bytes]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line)


@pytest.fixture
def hubs(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[[], HubProcess]]:
    """Starts hub processes on the ``redis_server``; stops each by its pid."""
    started: list[HubProcess] = []

    def start() -> HubProcess:
        hub = HubProcess(redis_server.url, tmp_path / f"hub{len(started)}.log")
        started.append(hub)
        return hub

    try:
        yield start
    finally:
        for hub in started:
            hub.stop()


@pytest.fixture
def local_hubs(
    redis_server: RedisServer,
) -> Iterator[Callable[..., tuple[SignalHub, RedisBackplane]]]:
    """Starts hubs in this process on the ``redis_server``; stops each backplane after."""
    started: list[RedisBackplane] = []

    def start(hub: SignalHub | None = None) -> tuple[SignalHub, RedisBackplane]:
        hub = SignalHub() if hub is None else hub
        started.append(RedisBackplane(redis_server.url).start(hub))
        return hub, started[-1]

    try:
        yield start
    finally:
        for backplane in started:
            backplane.stop()


Post = Callable[..., httpx.Response]


@pytest.fixture
def served(redis_server: RedisServer) -> Iterator[tuple[Server, Post]]:
    """A standalone server in this process on the ``redis_server``, and a function
    that POSTs to its publish endpoint (``post(json=...)``); stopped after."""
    server = Server(port=0, token=TOKEN, publish_secret=SECRET, redis=redis_server.url)
    server.start()
    try:
        url = server.url + "nb-sse-signals/publish"
        yield (
            server,
            functools.partial(httpx.post, url, headers={SECRET_HEADER: SECRET}, timeout=30),
        )
    finally:
        server.stop()


def shows_stale(hub: SignalHub, name: str) -> bool:
    """Whether ``hub``'s snapshot endpoint marks ``name`` stale."""
    return orjson.loads(hub.snapshots([name])[0]).get("stale") is True


# A publisher process with no hub: RedisPublisher, straight to Redis. ``set`` mode is
# retried through outages (a set is idempotent); ``append`` adds to a list.
PUBLISHER = r"""
import sys, time, orjson
from nb_sse_signals import BackplaneError, RedisPublisher
url, name, mode, first, count, pause = sys.argv[1:7]
first, count, pause = int(first), int(count), float(pause)
publisher = RedisPublisher(url, timeout=1.0)
refused, i = 0, first
deadline = time.monotonic() + 90
while i < first + count and time.monotonic() < deadline:
    try:
        if mode == "set":
            publisher.set(name, {"n": i})
        else:
            publisher.patch(name, [{"op": "add", "path": "/-", "value": i}])
        i += 1
    except BackplaneError:
        refused += 1
        time.sleep(0.05)
    time.sleep(pause)
print(orjson.dumps({"sent": i - first, "refused": refused}).decode(), flush=True)
publisher.stop()
"""


@contextlib.contextmanager
def publisher_process(
    url: str, name: str, mode: str, first: int, count: int, pause: float
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, url, name, mode, str(first), str(count), str(pause)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def finished(proc: subprocess.Popen[bytes], timeout: float = 60) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    result: dict[str, Any] = orjson.loads(out.strip().splitlines()[-1])
    return result


# -- viewers ---------------------------------------------------------------------------


class Viewer:
    """An SSE client with the client rules; on a dropped stream it moves to the next
    hub in ``ports`` and resumes with ``Last-Event-ID``, as behind a load balancer."""

    def __init__(self, ports: list[int], names: list[str]) -> None:
        self.ports = list(ports)
        self.names = names
        self.at = 0
        self.cursor = ""
        self.values: dict[str, tuple[int, Any]] = {}
        self.changes: list[tuple[str, str, int]] = []  # (cursor, name, rev) of each change
        self.snapshots = 0
        self.gaps: list[tuple[str, int, int]] = []
        self.stale = 0
        self.connects = 0
        self.task: asyncio.Task[None] | None = None

    def rev(self, name: str) -> int:
        return self.values.get(name, (-1, None))[0]

    async def run(self) -> None:
        while True:
            port = self.ports[self.at % len(self.ports)]
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
                await self._stream(port)
            self.at += 1  # the next hub
            await asyncio.sleep(0.05)

    async def _stream(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            query = "&".join(f"signal={n}" for n in self.names)
            resume = f"Last-Event-ID: {self.cursor}\r\n" if self.cursor else ""
            writer.write(
                f"GET /{EVENTS_PATH}?{query} HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                f"Authorization: token {TOKEN}\r\n{resume}\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                raise ValueError(head[:100])
            self.connects += 1
            decoder = SSEDecoder(last_event_id=self.cursor)
            while True:
                line = await reader.readline()
                if not line:
                    return
                event = decoder.decode_line(line.decode().rstrip("\r\n"))
                if event is not None:
                    self.cursor = event.id
                    self._event(event.event, event.data, event.id)
        finally:
            writer.close()

    def _event(self, kind: str, data: str, cursor: str) -> None:
        if kind == "stale":
            self.stale += 1
            return
        if kind != "message":
            return
        change = parse_change(data)
        held = self.values.get(change.name)
        if change.is_snapshot:
            self.snapshots += 1
            self.values[change.name] = (change.rev, change.patch[0]["value"])
        elif held is None or change.rev > held[0] + 1:
            self.gaps.append((change.name, -1 if held is None else held[0], change.rev))
        elif change.rev == held[0] + 1:
            self.values[change.name] = (change.rev, apply_patch(held[1], change.patch))
            self.changes.append((cursor, change.name, change.rev))


@contextlib.asynccontextmanager
async def viewing(viewers: list[Viewer]) -> AsyncIterator[list[Viewer]]:
    for viewer in viewers:
        viewer.task = asyncio.create_task(viewer.run())
    try:
        yield viewers
    finally:
        for viewer in viewers:
            assert viewer.task is not None
            viewer.task.cancel()
        await asyncio.gather(*(v.task for v in viewers if v.task), return_exceptions=True)


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


# -- two hubs, publishers, viewers --------------------------------------------------------


async def test_viewers_on_two_hubs_see_every_change_from_anywhere_with_the_same_cursors(
    redis_server: RedisServer, hubs: Callable[[], HubProcess]
) -> None:
    a, b = hubs(), hubs()
    assert a.publish({"op": "declare", "name": "count", "value": {"n": 0}})["rev"] == 0
    viewers = [Viewer([a.port], ["count"]) for _ in range(5)]
    viewers += [Viewer([b.port], ["count"]) for _ in range(5)]
    async with viewing(viewers):
        await until(lambda: all(v.rev("count") == 0 for v in viewers), 10, "snapshots")
        with publisher_process(redis_server.url, "count", "set", 1, 30, 0.005) as proc:
            await asyncio.to_thread(finished, proc)
        assert b.publish({"op": "set", "name": "count", "value": {"n": 31}})["rev"] == 31
        assert a.publish({"op": "patch", "name": "count", "patch": [
            {"op": "replace", "path": "/n", "value": 32}]})["rev"] == 32  # fmt: skip
        await until(lambda: all(v.rev("count") == 32 for v in viewers), 20, "every change")
    for viewer in viewers:
        assert viewer.values["count"] == (32, {"n": 32})
        assert not viewer.gaps
        assert [rev for _, _, rev in viewer.changes] == list(range(1, 33))
    # One history: the same revision has the same cursor on both hubs.
    assert len({tuple(v.changes) for v in viewers}) == 1


def test_a_hub_that_starts_late_serves_the_current_snapshot_at_once(
    redis_server: RedisServer, hubs: Callable[[], HubProcess]
) -> None:
    a = hubs()
    a.publish({"op": "declare", "name": "late", "value": [1]})
    a.publish({"op": "patch", "name": "late", "patch": [{"op": "add", "path": "/-", "value": 2}]})
    b = hubs()
    snapshot = httpx.get(
        f"http://127.0.0.1:{b.port}/nb-sse-signals/snapshot?signal=late",
        headers={"Authorization": f"token {TOKEN}"},
        timeout=10,
    ).json()
    assert snapshot == [
        {"name": "late", "rev": 1, "patch": [{"op": "replace", "path": "", "value": [1, 2]}]}
    ]


async def test_a_hub_killed_mid_stream_leaves_its_viewers_to_resume_on_the_other_without_loss(
    redis_server: RedisServer, hubs: Callable[[], HubProcess]
) -> None:
    a, b = hubs(), hubs()
    a.publish({"op": "declare", "name": "run", "value": {"n": 0}})
    viewers = [Viewer([a.port, b.port], ["run"]) for _ in range(10)]
    async with viewing(viewers):
        await until(lambda: all(v.rev("run") == 0 for v in viewers), 10, "snapshots")
        with publisher_process(redis_server.url, "run", "set", 1, 200, 0.01) as proc:
            await until(lambda: all(v.rev("run") >= 40 for v in viewers), 20, "changes")
            a.kill()
            result = await asyncio.to_thread(finished, proc)
        assert result["refused"] == 0  # the publisher never needed hub A
        await until(lambda: all(v.rev("run") == 200 for v in viewers), 20, "the last change")
    for viewer in viewers:
        assert viewer.connects == 2, "moved to hub B once"
        assert viewer.snapshots == 1, "resumed from history, no second snapshot"
        assert not viewer.gaps
        assert [rev for _, _, rev in viewer.changes] == list(range(1, 201))


async def test_a_redis_restart_mid_stream_shows_stale_then_resyncs_to_live_with_the_right_value(
    redis_server: RedisServer, hubs: Callable[[], HubProcess]
) -> None:
    a, b = hubs(), hubs()
    a.publish({"op": "declare", "name": "up", "value": {"n": 0}})
    viewers = [Viewer([a.port], ["up"]), Viewer([b.port], ["up"])]
    async with viewing(viewers):
        await until(lambda: all(v.rev("up") == 0 for v in viewers), 10, "snapshots")
        with publisher_process(redis_server.url, "up", "set", 1, 150, 0.01) as proc:
            await until(lambda: all(v.rev("up") >= 30 for v in viewers), 20, "changes")
            await asyncio.to_thread(redis_server.restart)  # comes back empty
            result = await asyncio.to_thread(finished, proc)
        await until(
            lambda: all(v.values["up"][1] == {"n": 150} for v in viewers), 30, "the last value"
        )
        # A change through a hub works again, on the revisions viewers had.
        reply = a.publish({"op": "set", "name": "up", "value": {"n": 151}})
        assert reply["ok"], reply
        rev = reply["rev"]
        await until(lambda: all(v.rev("up") == rev for v in viewers), 10, "a change after")
    assert result["sent"] == 150
    for viewer in viewers:
        assert viewer.stale >= 1, "viewers were told the hub lost Redis"
        assert viewer.snapshots >= 2, "and got snapshots once it was back"
        assert not viewer.gaps
        assert viewer.values["up"] == (rev, {"n": 151})
    # Revisions never went back across the restart.
    assert rev >= 151


async def test_two_publishers_racing_on_one_signal_never_share_a_revision(
    redis_server: RedisServer, hubs: Callable[[], HubProcess]
) -> None:
    a, b = hubs(), hubs()
    a.publish({"op": "declare", "name": "race", "value": []})
    viewers = [Viewer([a.port], ["race"]), Viewer([b.port], ["race"])]
    async with viewing(viewers):
        await until(lambda: all(v.rev("race") == 0 for v in viewers), 10, "snapshots")
        with (
            publisher_process(redis_server.url, "race", "append", 0, 100, 0) as one,
            publisher_process(redis_server.url, "race", "append", 1000, 100, 0) as two,
        ):
            # and two more racers through the hubs' own publish endpoints
            def through(hub: HubProcess, first: int) -> list[int]:
                patch = [{"op": "add", "path": "/-", "value": 0}]
                revs = []
                for i in range(first, first + 50):
                    patch[0]["value"] = i
                    reply = hub.publish({"op": "patch", "name": "race", "patch": patch})
                    assert "rev" in reply, reply
                    revs.append(reply["rev"])
                return revs

            revs_a, revs_b = await asyncio.gather(
                asyncio.to_thread(through, a, 2000), asyncio.to_thread(through, b, 3000)
            )
            await asyncio.to_thread(finished, one)
            await asyncio.to_thread(finished, two)
        await until(lambda: all(v.rev("race") == 300 for v in viewers), 30, "every append")
    assert not set(revs_a) & set(revs_b), "one revision, one change"
    expected = sorted([*range(100), *range(1000, 1100), *range(2000, 2050), *range(3000, 3050)])
    first = viewers[0].values["race"][1]
    assert sorted(first) == expected, "every append applied once"
    for viewer in viewers:
        assert viewer.values["race"] == (300, first), "every hub saw one order"
        assert [rev for _, _, rev in viewer.changes] == list(range(1, 301))


@pytest.mark.slow
async def test_one_publisher_and_200_viewers_over_two_hubs_converge_with_contiguous_revisions(
    redis_server: RedisServer, hubs: Callable[[], HubProcess]
) -> None:
    a, b = hubs(), hubs()
    a.publish({"op": "declare", "name": "crowd", "value": {"n": 0}})
    viewers = [Viewer([(a.port, b.port)[i % 2]], ["crowd"]) for i in range(200)]
    async with viewing(viewers):
        await until(lambda: all(v.rev("crowd") == 0 for v in viewers), 30, "200 snapshots")
        with publisher_process(redis_server.url, "crowd", "set", 1, 100, 0.01) as proc:
            await asyncio.to_thread(finished, proc)
        await until(lambda: all(v.rev("crowd") == 100 for v in viewers), 30, "convergence")
    for viewer in viewers:
        assert viewer.values["crowd"] == (100, {"n": 100})
        assert not viewer.gaps
        assert [rev for _, _, rev in viewer.changes] == list(range(1, 101))


# -- in process: options, bounds, security ------------------------------------------------


def test_hubs_under_different_prefixes_share_nothing(redis_server: RedisServer) -> None:
    one, two = SignalHub(), SignalHub()
    b1 = RedisBackplane(redis_server.url, prefix="one:").start(one)
    b2 = RedisBackplane(redis_server.url, prefix="two:").start(two)
    try:
        one.declare("x", 1)
        two.declare("x", "other")
        assert one.get("x") == (0, 1)
        assert two.get("x") == (0, "other")
        with RedisPublisher(redis_server.url, prefix="one:") as publisher:
            assert publisher.set("x", 2) == 1
        wait_until(lambda: one.get("x") == (1, 2), what="the change under one:")
        assert two.get("x") == (0, "other")
        keys = _redis_keys(redis_server)
        assert keys
        assert all(k.startswith((b"one:", b"two:")) for k in keys)
    finally:
        b1.stop()
        b2.stop()


def _acl_recipe() -> str:
    """The ``ACL SETUSER`` line of docs/security.md, as a deployment would copy it."""
    text = (ROOT / "docs" / "security.md").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("ACL SETUSER")]
    assert len(lines) == 1, "expected one ACL recipe in docs/security.md"
    return lines[0]


def test_the_documented_acl_confines_each_user_to_their_namespace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    from nb_sse_signals._backplane import tenant_prefix

    with RedisServer(tmp_path / "acl", password="admin-pass") as server:
        admin = redis.Redis.from_url(server.url)
        urls, prefixes = {}, {}
        try:
            for user in ("alice", "bob"):
                prefixes[user] = tenant_prefix("nb_sse_signals:", user=user)
                line = (
                    _acl_recipe()
                    .replace("<user>", f"nbss-{user}")
                    .replace("<password>", f"{user}-pass")
                    .replace("<prefix>", prefixes[user])
                )
                admin.execute_command(*line.split())
                urls[user] = f"redis://nbss-{user}:{user}-pass@127.0.0.1:{server.port}/0"
        finally:
            admin.close()
        alice, bob = SignalHub(), SignalHub()
        b1 = RedisBackplane(urls["alice"], prefix=prefixes["alice"]).start(alice)
        b2 = RedisBackplane(urls["bob"], prefix=prefixes["bob"]).start(bob)
        try:
            # Everything a hub does works under its ACL user ...
            assert alice.declare("diary", {"n": 1}) == 0
            assert alice.set("diary", {"n": 2}) == 1
            assert alice.patch("diary", [{"op": "add", "path": "/m", "value": 3}]) == 2
            assert bob.declare("diary", "his") == 0
            alice.close("diary")
            assert alice.declare("diary", {"n": 4}) == 3
            with RedisPublisher(urls["alice"], prefix=prefixes["alice"]) as publisher:
                assert publisher.set("diary", {"n": 5}) == 4
            wait_until(lambda: alice.get("diary") == (4, {"n": 5}), what="alice's change")
            assert bob.get("diary") == (0, "his")
            caplog.clear()
            time.sleep(2.5)  # idle: the feeds check Redis's epoch and sequence, allowed too
            lost = [r.getMessage() for r in caplog.records if "Redis" in r.getMessage()]
            assert lost == [], "a feed was refused a command by the ACL"
            assert alice.set("diary", 6) == 5
            # ... and nothing outside its namespace: not even with the other's prefix.
            with pytest.raises(BackplaneError):
                RedisBackplane(urls["bob"], prefix=prefixes["alice"], timeout=1).start(
                    SignalHub(), timeout=3
                )
            direct = redis.Redis.from_url(urls["bob"])
            try:
                for command in (
                    ("GET", prefixes["alice"] + "epoch"),
                    ("HMGET", prefixes["alice"] + "sig:diary", "value"),
                    ("KEYS", "*"),
                    ("FLUSHALL",),
                    ("CONFIG", "GET", "requirepass"),
                ):
                    with pytest.raises(redis.exceptions.NoPermissionError):
                        direct.execute_command(*command)
                with pytest.raises(redis.exceptions.NoPermissionError):
                    direct.eval("return redis.call('GET', KEYS[1])", 1, prefixes["alice"] + "seq")
            finally:
                direct.close()
            assert alice.get("diary") == (5, 6)
        finally:
            b1.stop()
            b2.stop()


def test_history_and_values_in_redis_are_bounded_by_maxlen_and_ttl(
    redis_server: RedisServer,
) -> None:
    with RedisPublisher(redis_server.url, maxlen=50, ttl=30) as publisher:
        publisher.declare("many", 0)
        for i in range(1, 500):
            publisher.set("many", i)
    stream = _redis_command(redis_server, "XLEN", "nb_sse_signals:changes")
    assert 50 <= stream < 500  # MAXLEN ~: trimmed in whole nodes
    for key in ("nb_sse_signals:changes", "nb_sse_signals:sig:many", "nb_sse_signals:names"):
        assert 0 < _redis_command(redis_server, "TTL", key) <= 30


def test_a_hub_that_fell_behind_the_trimmed_stream_reloads_snapshots(
    redis_server: RedisServer,
) -> None:
    hub = SignalHub()
    backplane = RedisBackplane(redis_server.url, maxlen=10).start(hub)
    try:
        hub.declare("x", 0)
        # Redis trims what the hub has not read yet: the feed sees the jump and reloads.
        backplane._engine.call(backplane._engine.client.xtrim("nb_sse_signals:changes", 0))
        with RedisPublisher(redis_server.url, maxlen=10) as publisher:
            for i in range(1, 200):
                publisher.set("x", i)
        wait_until(lambda: hub.get("x") == (199, 199), what="the last value")
    finally:
        backplane.stop()


async def test_an_orphan_declared_again_with_its_value_ends_stale_for_a_viewer_that_resumes(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
) -> None:
    # A viewer that drops while the signal is orphaned and comes back (Last-Event-ID)
    # after a publisher declared it again, with the very value it had: the replay
    # must hold that declare (a whole-value replace at a new revision, with its id).
    hub, _ = local_hubs()
    gone, new = object(), object()
    hub.declare("x", {"n": 1}, owner=gone)
    sub = hub.subscribe(["x"])
    cursor = (await _events_of(sub))[-1].id
    hub.mark_orphaned(gone)
    assert [e.event for e in await _events_of(sub)] == ["stale"]
    sub.close()
    assert hub.declare("x", {"n": 1}, owner=new) == 1, "a revision, though equal"
    resumed = await _events_of(hub.subscribe(["x"], cursor))
    assert [e.event for e in resumed] == ["message"], "replayed, and no stale"
    change = parse_change(resumed[0].data)
    assert resumed[0].id, "in history, with its cursor"
    assert change.is_snapshot
    assert (change.rev, change.patch[0]["value"]) == (1, {"n": 1})
    assert hub.declare("x", {"n": 1}, owner=new) == 1, "a live signal's declare diffs"


def test_a_gone_owners_close_spares_a_signal_taken_over_meanwhile_through_redis(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
) -> None:
    hub, _ = local_hubs()
    gone, new = object(), object()
    for name in ("a", "b"):
        hub.declare(name, 0, owner=gone)
    hub.mark_orphaned(gone)

    def keep(name: str) -> bool:
        if name == "a":  # re-declared (with its value) while the reaper works
            hub.declare("a", 0, owner=new)
        return False

    assert hub.close_orphaned(gone, keep) == ["b"]
    assert hub.get("a") == (1, 0)
    assert "a" in hub.names()
    assert "b" not in hub.names()


def test_a_value_in_redis_this_hub_cannot_read_is_never_null_and_a_declare_replaces_it(
    redis_server: RedisServer, local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]]
) -> None:
    hub, _ = local_hubs()
    _write_raw(redis_server, "deeper", b"[" * 1100 + b"]" * 1100)
    wait_until(lambda: "deeper" in hub.names(), what="the refused signal")
    with pytest.raises(BackplaneError, match="refused here"):
        hub.get("deeper")
    with pytest.raises(Exception, match="set or declare it whole"):
        hub.patch("deeper", [{"op": "add", "path": "/0", "value": 1}])
    # null is a value like any other: declaring it is a change, not "equal to nothing".
    assert hub.declare("deeper", None) == 1
    assert hub.get("deeper") == (1, None)
    assert orjson.loads(hub.snapshots(["deeper"])[0])["patch"][0]["value"] is None
    _write_raw(redis_server, "again", b"[" * 1100 + b"]" * 1100)
    wait_until(lambda: "again" in hub.names(), what="the second refused signal")
    assert hub.set("again", {"n": 1}) == 1
    assert hub.get("again") == (1, {"n": 1})
    with pytest.raises(NotJSONError, match="JSON encoders can write"):
        hub.declare("big", 2**70)
    assert "big" not in hub.names()


def test_a_publisher_at_its_quota_may_declare_its_own_signal_again_through_redis(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
) -> None:
    hub, _ = local_hubs(SignalHub(limits=Limits(signals_per_publisher=1)))
    owner = object()
    hub.declare("a", 0, owner=owner)
    assert hub.declare("a", 1, owner=owner) == 1
    with pytest.raises(LimitError):
        hub.declare("b", 0, owner=owner)


async def test_a_publisher_that_takes_over_on_another_hub_ends_the_stale_and_is_not_closed(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
) -> None:
    # Its connection to hub a dropped; it reconnects to hub b (a load balancer) and
    # declares the signal again with the very value it had.
    (a, _), (b, _) = local_hubs(), local_hubs()
    gone, back = object(), object()
    a.declare("x", {"n": 1}, owner=gone)
    wait_until(lambda: "x" in b.names(), what="x on hub b")
    sub = a.subscribe(["x"])
    await _events_of(sub)
    a.mark_orphaned(gone)
    assert [e.event for e in await _events_of(sub)] == ["stale"]
    assert b.declare("x", {"n": 1}, owner=back) == 1, "a revision, though equal"
    (change,) = await _events_of(sub)
    assert (change.event, parse_change(change.data).rev) == ("message", 1)
    assert a.orphaned_by(gone) == [], "live again on hub a"
    assert a.close_orphaned(gone) == [], "so hub a's reaper leaves it open"
    assert b.set("x", {"n": 2}) == 2
    assert b.declare("x", {"n": 2}, owner=back) == 2, "its owner again: a diff"


async def _events_of(sub: Any, timeout: float = 5.0) -> list[Any]:
    batch = await asyncio.wait_for(sub.next_batch(timeout), timeout + 1)
    assert batch, "expected a batch of events, got none before the timeout"
    return SSEDecoder().decode(batch.decode())


def test_a_password_in_the_url_is_used(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "secure", password="s3cret") as server:
        hub = SignalHub()
        backplane = RedisBackplane(server.url).start(hub)
        try:
            assert hub.declare("x", 1) == 0
        finally:
            backplane.stop()
        wrong = server.url.replace("s3cret", "wrong")
        with pytest.raises(BackplaneError, match=r"cannot reach Redis at redis://\*\*\*@127"):
            RedisBackplane(wrong).start(SignalHub(), timeout=2)


def test_a_rediss_url_speaks_tls_and_checks_the_servers_certificate(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "tls", tls=True) as server:
        hub = SignalHub()
        backplane = RedisBackplane(server.url).start(hub)
        try:
            assert hub.declare("x", 1) == 0
            with RedisPublisher(server.url) as publisher:
                assert publisher.set("x", 2) == 1
        finally:
            backplane.stop()
        # Without our CA the certificate is refused: TLS is checked, not only spoken.
        unchecked = server.url.split("?")[0]
        with pytest.raises(BackplaneError, match="cannot reach Redis"):
            RedisBackplane(unchecked, timeout=1.0).start(SignalHub(), timeout=3)


def test_an_unreachable_redis_is_a_clear_error_at_start(redis_server: RedisServer) -> None:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    redis_server.stop()
    with pytest.raises(BackplaneError, match="cannot reach Redis"):
        RedisBackplane(url, timeout=0.5).start(SignalHub(), timeout=2)
    result = subprocess.run(
        [sys.executable, "-m", "nb_sse_signals._cli", "serve", "--port", "0", "--redis", url],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert b"cannot reach Redis" in result.stderr
    # Never said it serves: it exits.
    assert b"serving what this hub has" not in result.stderr, result.stderr


def test_a_publisher_without_a_hub_rejects_a_change_over_the_message_limit(
    redis_server: RedisServer,
) -> None:
    with RedisPublisher(redis_server.url, message_bytes=1_000) as publisher:
        publisher.declare("big", {"xs": []})
        with pytest.raises(LimitError, match="at most 1,000 bytes"):
            publisher.set("big", {"xs": ["y" * 2_000]})
        with pytest.raises(LimitError):
            publisher.declare("other", "y" * 2_000)
        assert publisher.get("big") == (0, {"xs": []}), "nothing changed"
        assert publisher.set("big", {"xs": ["y" * 10]}) == 1, "a change that fits goes"
    # The default: a hub's 16 MiB.
    with (
        RedisPublisher(redis_server.url) as publisher,
        pytest.raises(LimitError, match="16,777,216"),
    ):
        publisher.set("big", {"xs": ["y" * (17 * 1024 * 1024)]})


def test_a_value_grown_by_small_patches_past_the_backplane_bound_is_rejected_unchanged(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
    redis_server: RedisServer,
) -> None:
    # Each patch is small, but every hub refuses to read a value over its
    # backplane_value_bytes from Redis: the change that would cross it is refused here.
    here, _ = local_hubs(SignalHub(limits=Limits(backplane_value_bytes=1_000)))
    other, _ = local_hubs()
    here.declare("log", {"lines": []})
    line = {"op": "add", "path": "/lines/-", "value": "x" * 90}
    revs = [here.patch("log", [line]) for _ in range(10)]  # 941 bytes: under the bound
    with pytest.raises(LimitError) as refused:
        here.patch("log", [line])  # ~93 bytes more: past it
    message = str(refused.value)
    assert "'log'" in message, message
    assert "at most 1,000 bytes" in message, message
    size = int(re.search(r"makes it ([\d,]+)", message).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert 1_000 < size < 1_100, message
    assert revs == list(range(1, 11)), "every patch under the bound went"
    assert here.get("log") == (10, {"lines": ["x" * 90] * 10}), "the refused one changed nothing"
    with RedisPublisher(redis_server.url) as reader:
        assert reader.get("log")[0] == 10, "nor Redis"
    wait_until(lambda: other.info("log") and other.get("log")[0] == 10, 10, "the other hub")
    # In a frame too (one round trip): that message is refused, the others go.
    from nb_sse_signals._messages import handle_payload

    big = {"op": "add", "path": "/lines/-", "value": "y" * 2_000}
    frame = [
        {"op": "set", "name": "log", "value": {"lines": []}},
        {"op": "patch", "name": "log", "patch": [big]},
        {"op": "patch", "name": "log", "patch": [line]},
    ]
    replies = handle_payload(here, frame)
    assert [r["ok"] for r in replies] == [True, False, True], replies
    assert "backplane_value_bytes" in replies[1]["error"]
    assert here.get("log") == (12, {"lines": ["x" * 90]})


def test_the_readmes_one_liner_publishes_to_a_fresh_redis(redis_server: RedisServer) -> None:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r'`(RedisPublisher\("redis://\.\.\."\)\.\w+\([^`]*\))`', readme)
    assert found, "the README shows a RedisPublisher one-liner"
    code = found.group(1).replace('"redis://..."', repr(redis_server.url))
    made: list[RedisPublisher] = []

    class Kept(RedisPublisher):  # as the README's, kept to be stopped (a script's exit would)
        def __init__(self, url: str) -> None:
            super().__init__(url)
            made.append(self)

    try:
        rev = eval(code, {"RedisPublisher": Kept})  # the README's own line, as written
    finally:
        for publisher in made:
            publisher.stop()
    with RedisPublisher(redis_server.url) as publisher:
        assert publisher.get("load") == (rev, 0.7)
        # set is as strict as on a hub: a mistyped name is no new signal.
        with pytest.raises(UnknownSignalError, match="declare it first"):
            publisher.set("lood", 0.8)


def test_bad_options_are_rejected_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="expected a redis://, rediss:// or unix:// URL"):
        RedisBackplane("http://127.0.0.1:6379")
    with pytest.raises(ValueError, match="expected maxlen and ttl of at least 1"):
        RedisPublisher("redis://127.0.0.1:1/0", maxlen=0)
    with pytest.raises(ValueError, match="expected commit_threads of at least 1, got 0"):
        RedisBackplane("redis://127.0.0.1:1/0", commit_threads=0)


def test_changes_rejected_during_an_outage_change_nothing_and_queue_nothing(
    redis_server: RedisServer,
) -> None:
    hub = SignalHub()
    backplane = RedisBackplane(redis_server.url, timeout=1.0).start(hub)
    try:
        hub.declare("x", 1)
        redis_server.stop()
        with pytest.raises(BackplaneError):
            hub.set("x", 2)
        assert hub.get("x") == (0, 1)  # the hub keeps serving what it has
        redis_server.start()
        wait_until(lambda: backplane.live, timeout=15, what="the resync")
        assert hub.get("x") == (0, 1), "put back into the empty Redis, as it was"
        assert hub.set("x", 3) == 1
    finally:
        backplane.stop()


def test_a_close_through_redis_answers_the_last_revision_as_without(
    redis_server: RedisServer,
) -> None:
    hub = SignalHub()
    backplane = RedisBackplane(redis_server.url, timeout=2.0).start(hub)
    try:
        hub.declare("c", 1)
        hub.set("c", 2)
        assert hub.close("c") == 1, "what a close reply carries (docs/protocol.md)"
    finally:
        backplane.stop()


def test_a_publisher_without_a_hub_reads_back_and_keeps_the_hub_rules(
    redis_server: RedisServer,
) -> None:
    with RedisPublisher(redis_server.url) as publisher:
        assert publisher.declare("p", {"a": [1]}) == 0
        assert publisher.patch("p", [{"op": "add", "path": "/a/-", "value": 2}]) == 1
        assert publisher.get("p") == (1, {"a": [1, 2]})
        with pytest.raises(Exception, match="expected a patch of 'p' at revision 1"):
            publisher.patch("p", [{"op": "remove", "path": "/a"}], base=0)
        assert publisher.set("p", {"a": [1, 2]}) == 1, "equal: no change"
        assert publisher.close("p") == 1, "as a hub's close: the last revision"
        with pytest.raises(Exception, match="is closed"):
            publisher.set("p", 1)
        assert publisher.declare("p", "again") == 2


def _redis_command(server: RedisServer, *args: str) -> Any:
    import redis

    client = redis.Redis.from_url(server.url)
    try:
        return client.execute_command(*args)
    finally:
        client.close()


def _redis_keys(server: RedisServer) -> list[bytes]:
    return list(_redis_command(server, "KEYS", "*"))


# -- isolation: a value in Redis this hub cannot serve ----------------------------------------


class RefusalViewer(Viewer):
    """A viewer that also records ``refused`` events, by name."""

    def __init__(self, ports: list[int], names: list[str]) -> None:
        super().__init__(ports, names)
        self.refused: list[dict[str, Any]] = []

    def _event(self, kind: str, data: str, cursor: str) -> None:
        if kind == "refused":
            self.refused.append(orjson.loads(data))
            return
        super()._event(kind, data, cursor)


def _write_raw(server: RedisServer, name: str, value_json: bytes) -> None:
    """Declare ``name`` straight into Redis with ``value_json`` as it is, through the
    commit script and key layout every hub uses: as another hub with other limits, an
    older version, or anyone with access to Redis could."""
    import redis

    from nb_sse_signals._redis_engine import COMMIT

    client = redis.Redis.from_url(server.url)
    try:
        epoch = client.get("nb_sse_signals:epoch") or b""
        keys = [f"nb_sse_signals:{k}" for k in ("seq", "changes", "epoch", "names")]
        key = name.encode()
        entry = b"".join(b"%d:%s" % (len(f), f) for f in (key, b"0", b"n", value_json))
        # one change (the entry's), then the signal's base ('' = new) and state after it
        signal = [key, b"", b"0", b"0", b"0", value_json, b"0"]
        args: list[Any] = [epoch, 1000, 3600, "nb_sse_signals:sig:", 1, entry, *signal]
        reply = client.eval(COMMIT, len(keys), *keys, *args)
        assert reply[0] == b"ok", reply
    finally:
        client.close()


def test_a_parsed_value_nested_too_deep_is_refused_clearly_and_changes_nothing(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]], redis_server: RedisServer
) -> None:
    # 251 levels: orjson could still write it inside a patch (254), so Redis would take
    # it, and then every hub would refuse the signal (and no frame could carry it).
    from nb_sse_signals._messages import handle_payload

    hub, _ = local_hubs()
    hub.declare("n", {"a": 1})
    deep: Any = 0
    for _ in range(251):
        deep = [deep]
    with pytest.raises(NotJSONError) as refused:
        hub.set("n", deep, parsed=True)  # (as the publish endpoint sets: parsed=True)
    message = str(refused.value)
    assert "expected at most 250 levels of nesting" in message, message
    assert "251 levels deep" in message, message
    replies = handle_payload(hub, [{"op": "set", "name": "n", "value": deep}])
    assert not replies[0]["ok"]
    assert "expected at most 250 levels of nesting" in replies[0]["error"]
    assert hub.get("n") == (0, {"a": 1}), "the hub's value is as it was"
    with RedisPublisher(redis_server.url) as reader:
        assert reader.get("n") == (0, {"a": 1}), "and Redis's"
    assert hub.set("n", deep[0], parsed=True) == 1, "250 levels are fine"


async def test_a_value_too_deep_put_into_redis_is_refused_for_its_name_while_others_stream(
    redis_server: RedisServer, hubs: Callable[[], HubProcess], tmp_path: Path
) -> None:
    a = hubs()
    count = 0

    async def canary_moves(viewer: RefusalViewer) -> None:
        nonlocal count
        before = viewer.rev("canary")
        count += 1
        reply = await asyncio.to_thread(a.publish, {"op": "set", "name": "canary", "value": count})
        assert reply["ok"], reply
        await until(lambda: viewer.rev("canary") == before + 1, 20, "the canary streaming on")

    assert a.publish({"op": "declare", "name": "canary", "value": 0})["ok"]
    async with viewing([RefusalViewer([a.port], ["canary"])]) as (before,):
        await until(lambda: before.rev("canary") == 0, 20, "the canary's snapshot")
        # 300 levels: orjson reads it, but cannot write it (254); 1,100: not even read.
        _write_raw(redis_server, "deep", b"[" * 300 + b"]" * 300)
        _write_raw(redis_server, "deeper", b"[" * 1100 + b"]" * 1100)
        await canary_moves(before)
    text = (tmp_path / "hub0.log").read_text()
    assert "refusing to serve 'deep'" in text, "the hub's log names the refused signal"
    assert "refusing to serve 'deeper'" in text

    # On one stream with the canary: the bad ones get a refused event each, and the
    # canary keeps streaming; the snapshot endpoint skips them the same way. Hub b
    # starts now, so it loads them (the other way in); hub a had them from its feed.
    b = hubs()
    for hub in (a, b):
        async with viewing([RefusalViewer([hub.port], ["deep", "canary", "deeper"])]) as (v,):
            await until(lambda v=v: len(v.refused) == 2 and v.rev("canary") >= 0, 20, "events")
            assert sorted(r["name"] for r in v.refused) == ["deep", "deeper"]
            assert all(r["error"] for r in v.refused)
            await canary_moves(v)
            await canary_moves(v)
            assert v.gaps == []
        snapshot = await asyncio.to_thread(
            httpx.get,
            f"http://127.0.0.1:{hub.port}/nb-sse-signals/snapshot",
            params=[("signal", "deep"), ("signal", "canary")],
            headers={"Authorization": f"token {TOKEN}"},
            timeout=10,
        )
        assert snapshot.status_code == 200
        deep, canary = snapshot.json()
        assert deep["name"] == "deep"
        assert "levels of nesting" in deep["error"]
        assert canary["patch"][0]["value"] == count

    # The Python follower likewise: error for the refused one only.
    statuses: dict[str, list[str]] = {"deep": [], "canary": []}
    followers = [
        Follower(
            f"http://127.0.0.1:{b.port}/",
            name,
            lambda value, rev: None,
            statuses[name].append,
            headers={"Authorization": f"token {TOKEN}"},
        )
        for name in statuses
    ]
    try:
        await until(lambda: statuses["deep"][-1:] == ["error"], 20, "the follower's error")
        await until(lambda: statuses["canary"][-1:] == ["live"], 20, "the canary live")

        # A publisher sets a value every hub can serve: viewers get a snapshot of it.
        async with viewing([RefusalViewer([b.port], ["deep", "canary"])]) as (v,):
            await until(lambda: len(v.refused) == 1, 20, "the refusal")
            with RedisPublisher(redis_server.url) as publisher:
                await asyncio.to_thread(publisher.set, "deep", {"fixed": True})
            await until(lambda: v.values.get("deep", (0, None))[1] == {"fixed": True}, 20, "fixed")
        await until(lambda: statuses["deep"][-1:] == ["live"], 20, "the follower live again")
    finally:
        for follower in followers:
            follower.stop()


async def test_a_publisher_gone_from_one_hub_shows_stale_on_every_hub_until_declared_again(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
) -> None:
    (a, _), (b, _) = local_hubs(), local_hubs()
    gone, back = object(), object()
    a.declare("x", {"n": 1}, owner=gone)
    a.declare("y", 0)  # nobody's: never stale
    wait_until(lambda: {"x", "y"} <= set(b.names()), what="x and y on hub b")
    sub = b.subscribe(["x", "y"])
    await _events_of(sub)
    a.mark_orphaned(gone)  # its connection to hub a dropped
    (stale,) = await _events_of(sub)
    assert (stale.event, orjson.loads(stale.data)) == ("stale", {"name": "x", "rev": 0})
    assert shows_stale(b, "x")
    assert not shows_stale(b, "y")
    # A hub that starts now loads it stale, and tells its viewers after the snapshot.
    c, _ = local_hubs()
    assert shows_stale(c, "x")
    assert [e.event for e in await _events_of(c.subscribe(["x"]))] == ["message", "stale"]
    # Its publisher comes back through hub b: live again everywhere.
    assert b.declare("x", {"n": 1}, owner=back) == 1
    (change,) = await _events_of(sub)
    assert (change.event, parse_change(change.data).rev) == ("message", 1)
    for hub in (a, b, c):
        wait_until(lambda hub=hub: hub.get("x")[0] == 1, what="revision 1 everywhere")
        assert not shows_stale(hub, "x")
    assert a.orphaned_by(gone) == []
    c2, _ = local_hubs()
    assert not shows_stale(c2, "x"), "Redis says live too"


def test_a_stale_of_a_revision_that_changed_since_ends_nothing_and_changes_still_follow(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
) -> None:
    (a, plane), (b, _) = local_hubs(), local_hubs()
    a.declare("x", 0)
    assert a.set("x", 1) == 1
    plane.orphaned("x", 0)  # late: said of revision 0
    plane.orphaned("nope", 0)  # of no signal at all
    assert a.set("x", 2) == 2
    wait_until(lambda: b.get("x") == (2, 2), what="revision 2 on hub b")
    for hub in (a, b):
        assert not shows_stale(hub, "x")
    # A stale between two changes is an entry of the stream: the feed goes on past it.
    plane.orphaned("x", 2)
    wait_until(lambda: shows_stale(b, "x"), what="stale on b")
    assert a.set("x", 3) == 3
    wait_until(lambda: b.get("x") == (3, 3), what="revision 3 on hub b")
    assert not shows_stale(b, "x")


async def test_a_kernel_whose_connection_to_one_hub_drops_shows_stale_to_viewers_of_another(
    hubs: Callable[[], HubProcess],
) -> None:
    first, second = hubs(), hubs()
    request = httpclient.HTTPRequest(
        f"ws://127.0.0.1:{first.port}/{PUBLISH_PATH}",
        headers={SECRET_HEADER: first.secret},
        request_timeout=10,
    )
    kernel = await asyncio.wait_for(websocket.websocket_connect(request), 10)
    closed = False
    try:
        kernel.write_message(orjson.dumps({"op": "declare", "name": "k-1/x", "value": 1}))
        assert orjson.loads(await asyncio.wait_for(kernel.read_message(), 10))["ok"]
        async with viewing([Viewer([second.port], ["k-1/x"])]) as (viewer,):
            await until(lambda: viewer.rev("k-1/x") == 0, 10, "the value on the second hub")
            assert viewer.stale == 0
            await close_websocket(kernel)  # the kernel restarts, say
            closed = True
            await until(lambda: viewer.stale == 1, 10, "stale on the other hub")
            # The restarted kernel reaches the second hub, and runs its cell again.
            assert second.publish({"op": "declare", "name": "k-1/x", "value": 1})["ok"]
            await until(lambda: viewer.rev("k-1/x") == 1, 10, "the declare on the second hub")
            assert viewer.gaps == []
    finally:
        if not closed:
            await close_websocket(kernel)


def test_an_orphan_stays_stale_and_closable_when_redis_comes_back_empty(
    redis_server: RedisServer, local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]]
) -> None:
    a, plane = local_hubs()
    gone = object()
    a.declare("x", {"n": 1}, owner=gone)
    a.mark_orphaned(gone)
    before = a.epoch
    redis_server.restart()  # empty: hub a puts back what it has, the mark included
    wait_until(lambda: plane.live and a.epoch != before, what="a new epoch")
    b, _ = local_hubs()
    wait_until(lambda: "x" in b.names(), what="x put back")
    assert shows_stale(b, "x")
    assert a.orphaned_by(gone) == ["x"], "still hub a's orphan"
    assert a.close_orphaned(gone) == ["x"], "which its reaper closes"
    wait_until(lambda: "x" not in b.names(), what="closed on hub b too")


def test_another_hubs_stale_never_lets_this_hubs_old_owner_close_the_signal(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
) -> None:
    (a, _), (b, _) = local_hubs(), local_hubs()
    old, new = object(), object()
    b.declare("x", 0, owner=old)  # a kernel's first connection, to hub b
    wait_until(lambda: "x" in a.names(), what="x on hub a")
    assert a.declare("x", 0, owner=new) == 1  # it reconnected to hub a
    wait_until(lambda: b.get("x")[0] == 1, what="the takeover on hub b")
    a.mark_orphaned(new)  # and dropped again; hub a keeps it (its kernel lives, say)
    wait_until(lambda: shows_stale(b, "x"), what="stale on b")
    assert b.orphaned_by(old) == [], "not hub b's orphan: its old owner left long ago"
    assert b.close_orphaned(old) == []
    assert "x" in b.names()
    assert "x" in a.names()


def test_a_server_that_stops_with_a_publisher_connected_stops_cleanly(
    redis_server: RedisServer,
) -> None:
    # Stopping ends the publisher's WebSocket; one that never answers the close is cut
    # when the server's tasks are cancelled, after the backplane stopped, and its
    # signals then go stale: that must be nothing, not a call into a closed engine.
    server = Server(port=0, token=TOKEN, publish_secret=SECRET, redis=redis_server.url)
    server.start()
    sock = raw_publisher(server.port, SECRET)
    try:
        payload = orjson.dumps({"op": "declare", "name": "k-1/x", "value": 1})
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        assert b'"ok":true' in sock.recv(4096)
        server.stop()
    finally:
        sock.close()
        server.stop()


def _commit_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("nb_sse_signals-commit")}


def test_a_servers_commits_wait_in_its_backplanes_own_threads_which_stop_with_it(
    redis_server: RedisServer,
) -> None:
    before = _commit_threads()
    backplane = RedisBackplane(redis_server.url, commit_threads=2)
    server = Server(port=0, token=TOKEN, publish_secret=SECRET, backplane=backplane)
    server.start()
    try:
        url = server.url + "nb-sse-signals/publish"
        headers = {"X-Signals-Publish-Secret": SECRET}
        declare = {"op": "declare", "name": "n", "value": 0}
        assert httpx.post(url, json=declare, headers=headers, timeout=30).json()["ok"]

        def post(i: int) -> None:
            # (a declare: a frame of changes would commit from the loop, no thread)
            declare = {"op": "declare", "name": f"n{i}", "value": i}
            httpx.post(url, json=declare, headers=headers, timeout=30).raise_for_status()

        posters = [threading.Thread(target=post, args=(i,)) for i in range(8)]
        for t in posters:
            t.start()
        for t in posters:
            t.join(30)
        mine = _commit_threads() - before
        assert 1 <= len(mine) <= 2, f"at most commit_threads=2 threads, got {len(mine)}"
    finally:
        server.stop()
    assert backplane.executor is None
    assert all(not t.is_alive() for t in mine), "closing the server stops its commit threads"
    assert _commit_threads() - before == set()


# -- batched commits: one frame's changes in one round trip ------------------------------


def _script_calls(server: RedisServer) -> int:
    """How many scripts Redis ran so far (EVALSHA and EVAL): its own count."""
    stats = _redis_command(server, "INFO", "commandstats")
    return sum(
        int(stats[key]["calls"]) for key in ("cmdstat_evalsha", "cmdstat_eval") if key in stats
    )


def test_one_frame_of_patches_is_one_round_trip_with_contiguous_revisions(
    redis_server: RedisServer, served: tuple[Server, Post]
) -> None:
    server, post = served
    declare = [{"op": "declare", "name": "log", "value": []}]
    assert post(json=declare).json()[0]["ok"]
    frame: list[dict[str, Any]] = [
        {"op": "patch", "name": "log", "patch": [{"op": "add", "path": "/-", "value": i}]}
        for i in range(100)
    ]
    # A bad one in the middle is refused alone, as without Redis; the rest commit.
    frame[50] = {"op": "patch", "name": "log", "patch": [{"op": "remove", "path": "/999"}]}
    before = _script_calls(redis_server)
    entries = _redis_command(redis_server, "XLEN", "nb_sse_signals:changes")
    replies = post(json=frame).json()
    assert _script_calls(redis_server) - before == 1, "one script for the whole frame"
    # ... one stream entry for it, its changes in order, and the signal's hash
    # written with its state after the last of them.
    assert _redis_command(redis_server, "XLEN", "nb_sse_signals:changes") == entries + 1
    [(entry_id, _)] = _redis_command(
        redis_server, "XREVRANGE", "nb_sse_signals:changes", "+", "-", "COUNT", "1"
    )
    assert [(c.name, c.rev) for c in _stream_changes(redis_server)[-99:]] == [
        ("log", rev) for rev in range(1, 100)
    ]
    stored = _redis_command(redis_server, "HGETALL", "nb_sse_signals:sig:log")
    assert stored[b"rev"] == b"99"
    assert b"0-" + stored[b"seq"] == entry_id
    assert not replies[50]["ok"]
    assert "999" in replies[50]["error"]
    oks = [r for i, r in enumerate(replies) if i != 50]
    assert all(r["ok"] for r in oks)
    assert [r["rev"] for r in oks] == list(range(1, 100))
    expected = [i for i in range(100) if i != 50]
    assert server.hub.get("log") == (99, expected)
    with RedisPublisher(redis_server.url) as publisher:
        assert publisher.get("log") == (99, expected)


def test_frames_behind_redis_commit_from_the_servers_loop_and_use_threads_only_when_they_must(
    served: tuple[Server, Post], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Handing a frame to a commit thread and back cost two thread switches, more than
    # its round trip: a frame of changes commits from the server's loop, its round trip
    # awaited there. One with a declare or close (each commits alone, mid-frame) goes
    # to a commit thread, and ends as on a hub alone.
    server, post = served
    assert server.backplane is not None
    engine = server.backplane._engine
    blocking = engine.commit  # (the commit threads' round trip; the loop awaits another)
    calls: list[int] = []

    def counted(*args: Any) -> Any:
        calls.append(1)
        return blocking(*args)

    monkeypatch.setattr(engine, "commit", counted)
    before = _commit_threads()
    assert post(json=[{"op": "declare", "name": "a", "value": []}]).json()[0]["ok"]
    assert len(calls) == 1
    threads = _commit_threads() - before  # (a declare goes to one)
    assert len(threads) == 1
    frame = [
        {"op": "patch", "name": "a", "patch": [{"op": "add", "path": "/-", "value": i}]}
        for i in range(50)
    ] + [{"op": "set", "name": "a", "value": [0]}]
    for _ in range(3):
        assert all(r["ok"] for r in post(json=frame).json())
    assert len(calls) == 1, "no frame of changes went to a thread"
    assert server.hub.get("a") == (153, [0])
    mixed = [
        {"op": "patch", "name": "a", "patch": [{"op": "add", "path": "/-", "value": 1}]},
        {"op": "declare", "name": "b", "value": 1},
        {"op": "set", "name": "b", "value": 2},
        {"op": "close", "name": "b"},
        {"op": "patch", "name": "a", "patch": [{"op": "remove", "path": "/9"}]},
        {"op": "patch", "name": "a", "patch": [{"op": "add", "path": "/-", "value": 2}]},
    ]
    alone = SignalHub()
    alone.declare("a", [0])
    from nb_sse_signals._messages import handle_payload

    expected = handle_payload(alone, mixed)
    got = post(json=mixed).json()
    assert [r["ok"] for r in got] == [r["ok"] for r in expected] == [
        True, True, True, True, False, True,
    ]  # fmt: skip
    assert [r.get("rev") for r in got] == [154, 0, 1, 1, None, 155]
    assert server.hub.get("a") == (155, [0, 1, 2])
    assert server.hub.info("b")[0].closed


def test_a_frame_that_goes_to_a_thread_after_all_runs_its_messages_as_they_were_sent(
    served: tuple[Server, Post],
) -> None:
    # Planned on the loop, the patch changes the set's value in place; the declare
    # then sends the whole frame to a commit thread, which must read the set's value
    # as sent (else the patch would apply twice).
    server, post = served
    frame = [
        {"op": "declare", "name": "x", "value": {"l": []}},
        {"op": "set", "name": "x", "value": {"l": [0]}},
        {"op": "patch", "name": "x", "patch": [{"op": "add", "path": "/l/-", "value": 1}]},
        {"op": "declare", "name": "y", "value": 0},
    ]
    assert post(json=frame[:1]).json()[0]["ok"]
    alone = SignalHub()
    from nb_sse_signals._messages import handle_payload

    handle_payload(alone, frame[:1])
    assert post(json=frame[1:]).json() == handle_payload(alone, frame[1:])
    assert server.hub.get("x") == alone.get("x") == (2, {"l": [0, 1]})


async def test_a_publisher_told_its_frame_is_committed_reads_it_back_through_this_hub(
    redis_server: RedisServer,
) -> None:
    # The reply leaves as soon as Redis committed the frame, and the hub records the
    # frame in the same turn of its loop: whatever this hub serves after the reply
    # shows the change.
    server = Server(port=0, token=TOKEN, publish_secret=SECRET, redis=redis_server.url)
    server.start()
    try:
        request = httpclient.HTTPRequest(
            f"ws://127.0.0.1:{server.port}/{PUBLISH_PATH}",
            headers={SECRET_HEADER: SECRET},
            request_timeout=10,
        )
        conn = await asyncio.wait_for(websocket.websocket_connect(request), 10)
        try:

            async def publish(frame: list[dict[str, Any]]) -> list[dict[str, Any]]:
                conn.write_message(orjson.dumps(frame), binary=True)
                reply = await asyncio.wait_for(conn.read_message(), 10)
                assert reply is not None
                return cast(list[dict[str, Any]], orjson.loads(reply))

            assert (await publish([{"op": "declare", "name": "n", "value": [0]}]))[0]["ok"]
            snapshot = f"{server.url}nb-sse-signals/snapshot?signal=n"
            headers = {"Authorization": f"token {TOKEN}"}
            with RedisPublisher(redis_server.url) as other:
                other.declare("z", 0)
                async with httpx.AsyncClient(timeout=10) as client:
                    for i in range(1, 21):
                        # (another writer's change just before: this hub may not have it
                        # yet when the frame commits, and cannot apply the frame at once)
                        other.set("z", i)
                        add = {"op": "add", "path": "/-", "value": i}
                        replies = await publish([{"op": "patch", "name": "n", "patch": [add]}] * 3)
                        assert [r["rev"] for r in replies] == [3 * i - 2, 3 * i - 1, 3 * i]
                        shown = (await client.get(snapshot, headers=headers)).json()[0]
                        assert shown["patch"][0]["value"][-3:] == [i, i, i], shown
        finally:
            await close_websocket(conn)
    finally:
        server.stop()


def test_a_frame_planned_on_the_loop_that_meets_a_racing_writer_ends_as_if_sent_one_by_one(
    redis_server: RedisServer, served: tuple[Server, Post], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, post = served
    assert post(json=[{"op": "declare", "name": "n", "value": {"a": 0}}]).json()[0]["ok"]
    assert server.backplane is not None
    engine = server.backplane._engine
    commit = engine.commit_on_loop
    raced: list[int] = []

    async def racing(*args: Any) -> Any:
        # Another writer changes the signal between this frame's plan and its
        # round trip (made here, where the race is certain): its script then
        # commits nothing.
        if not raced:
            with RedisPublisher(redis_server.url) as other:
                raced.append(other.set("n", {"a": 100, "b": 1}))
        return await commit(*args)

    monkeypatch.setattr(engine, "commit_on_loop", racing)
    frame = [
        {"op": "patch", "name": "n", "patch": [{"op": "replace", "path": "/a", "value": v}]}
        for v in (1, 2)
    ]
    replies = post(json=frame).json()
    assert raced == [1]
    assert replies == [{"ok": True, "rev": 2}, {"ok": True, "rev": 3}]
    assert server.hub.get("n") == (3, {"a": 2, "b": 1})
    with RedisPublisher(redis_server.url) as reader:
        assert reader.get("n") == (3, {"a": 2, "b": 1})


def test_a_frame_on_the_loop_whose_round_trip_fails_is_refused_and_the_loop_serves_on(
    redis_server: RedisServer,
) -> None:
    # Redis stops answering (SIGSTOP) while a frame awaits its round trip: after the
    # backplane's deadline every change of that frame is refused, saying why (whether
    # Redis has it is unknown: a publisher sends the whole value again), and the
    # server's loop answered others all along. Once Redis is back, all converge.
    assert redis_server.proc is not None
    pid = redis_server.proc.pid  # the redis-server this test started, and only it
    backplane = RedisBackplane(redis_server.url, timeout=1.0)
    server = Server(port=0, token=TOKEN, publish_secret=SECRET, backplane=backplane)
    server.start()
    stopped = False
    try:
        url = server.url + "nb-sse-signals/publish"
        headers = {"X-Signals-Publish-Secret": SECRET}
        post = functools.partial(httpx.post, url, headers=headers, timeout=30)
        assert post(json=[{"op": "declare", "name": "n", "value": 0}]).json()[0]["ok"]
        frame = [{"op": "set", "name": "n", "value": v} for v in (1, 2)]
        os.kill(pid, signal.SIGSTOP)
        stopped = True
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(post, json=frame)
            time.sleep(0.3)  # (the frame awaits Redis now)
            answered = httpx.get(
                server.url + "nb-sse-signals/snapshot?signal=n",
                headers={"Authorization": f"token {TOKEN}"},
                timeout=5,
            )
            assert answered.status_code == 200, "the loop serves while the frame waits"
            replies = pending.result(30).json()
        os.kill(pid, signal.SIGCONT)
        stopped = False
        assert [r["ok"] for r in replies] == [False, False], replies
        assert all("Redis did not answer in time" in r["error"] for r in replies), replies
        wait_until(lambda: backplane.live, 30, "the backplane back in step")
        assert post(json=[{"op": "set", "name": "n", "value": 3}]).json()[0]["ok"]
        with RedisPublisher(redis_server.url) as reader:
            wait_until(lambda: server.hub.get("n") == reader.get("n"), 10, "one value")
            assert reader.get("n")[1] == 3
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
        server.stop()


def test_changes_by_another_writer_right_after_this_hubs_frames_follow_without_a_reload(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The feed skips this hub's own frames (applied from their replies): never a change
    # that comes after one, which no later change would bring back.
    from nb_sse_signals._messages import handle_payload

    caplog.set_level("INFO", "nb_sse_signals")
    hub, _ = local_hubs()
    hub.declare("a", [])
    hub.declare("x", 0)
    with RedisPublisher(redis_server.url) as other:
        for n in range(1, 4):
            frame = [
                {"op": "patch", "name": "a", "patch": [{"op": "add", "path": "/-", "value": i}]}
                for i in range(10)
            ]
            assert all(r["ok"] for r in handle_payload(hub, frame))
            other.set("x", n)
            wait_until(lambda n=n: hub.get("x") == (n, n), 10, f"the other writer's change {n}")
    assert hub.get("a")[0] == 30
    assert "reloading" not in caplog.text, "followed change by change, never reloaded"


def test_a_frame_leaves_each_signal_in_redis_as_its_last_change_did(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]], redis_server: RedisServer
) -> None:
    from nb_sse_signals._messages import handle_payload

    hub, _ = local_hubs()
    hub.declare("a", [])
    hub.declare("b", {"n": 0})
    frame: list[dict[str, Any]] = []
    for i in range(1, 6):
        frame.append(
            {"op": "patch", "name": "a", "patch": [{"op": "add", "path": "/-", "value": i}]}
        )
        frame.append({"op": "set", "name": "b", "value": {"n": i}})
    assert all(r["ok"] for r in handle_payload(hub, frame))
    first = _stream_changes(redis_server)[-10].seq
    # What a hub that starts now loads, and a publisher without a hub reads: the state
    # after each signal's last change of the frame, at that change's sequence number.
    for name, value, last in (("a", b"[1,2,3,4,5]", 8), ("b", b'{"n":5}', 9)):
        stored = _redis_command(redis_server, "HGETALL", f"nb_sse_signals:sig:{name}")
        assert (stored[b"rev"], stored[b"value"]) == (b"5", value)
        assert int(stored[b"seq"]) == first + last
    late, _ = local_hubs()
    assert late.get("a") == (5, [1, 2, 3, 4, 5])
    assert late.get("b") == (5, {"n": 5})


def test_another_writers_changes_apply_while_this_hub_commits_frames_without_pause(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]], redis_server: RedisServer
) -> None:
    # The feed holds what it reads while this hub commits, until those commits are done:
    # never until no commit runs at all, which frames from six threads keep from coming.
    from nb_sse_signals._messages import handle_payload

    hub, _ = local_hubs()
    names = [f"s{i}" for i in range(6)]
    for name in names:
        hub.declare(name, 0)
    hub.declare("x", 0)
    stop = threading.Event()

    def publish(name: str) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            assert all(
                r["ok"] for r in handle_payload(hub, [{"op": "set", "name": name, "value": n}])
            )

    threads = [threading.Thread(target=publish, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    try:
        with RedisPublisher(redis_server.url) as other:
            for n in range(1, 6):
                other.set("x", n)
                wait_until(lambda n=n: hub.get("x") == (n, n), 10, f"the other writer's {n}")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert all(hub.get(name)[0] >= 5 for name in names), "every thread committed meanwhile"


def _xread_calls(server: RedisServer) -> int:
    """How many XREADs Redis served so far (every feed's): its own count."""
    stats = _redis_command(server, "INFO", "commandstats")
    return int(stats.get("cmdstat_xread", {}).get("calls", 0))


def test_a_hub_committing_frames_back_to_back_reads_its_own_entries_in_few_reads(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]], redis_server: RedisServer
) -> None:
    # A feed blocked in XREAD is woken by each of its hub's own entries, just as that
    # commit's reply comes: two threads then take turns at the interpreter lock in the
    # middle of every commit. While its hub commits, the feed reads every few ms
    # instead, and skips what its hub applied. (Small frames: their gaps stay far
    # below the feed's "busy" window even on a loaded machine.)
    from nb_sse_signals._messages import handle_payload

    hub, _ = local_hubs()
    hub.declare("n", {"n": 0})
    frames = 200
    before = _xread_calls(redis_server)
    for i in range(frames):
        frame = [
            {"op": "patch", "name": "n", "patch": [{"op": "replace", "path": "/n", "value": k}]}
            for k in range(10 * i, 10 * i + 10)
        ]
        assert all(r["ok"] for r in handle_payload(hub, frame))
    reads = _xread_calls(redis_server) - before
    assert hub.get("n") == (10 * frames, {"n": 10 * frames - 1})
    assert reads < frames / 4, f"{reads} reads of the stream for {frames} frames"
    # ... and it still follows every other writer once its hub stops committing.
    with RedisPublisher(redis_server.url) as other:
        other.set("n", {"n": -1})
    wait_until(lambda: hub.get("n") == (10 * frames + 1, {"n": -1}), 10, "the other writer's")


def test_a_frame_with_declares_and_closes_ends_as_on_a_hub_alone_in_few_round_trips(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]], redis_server: RedisServer
) -> None:
    from nb_sse_signals._messages import handle_payload

    def add(value: int, base: int | None = None) -> dict[str, Any]:
        patch = [{"op": "add", "path": "/-", "value": value}]
        message = {"op": "patch", "name": "a", "patch": patch}
        return message if base is None else {**message, "base": base}

    frame = [
        add(0),
        add(1),
        {"op": "declare", "name": "b", "value": 1},  # commits alone, after what came before
        add(2),
        {"op": "set", "name": "b", "value": 2},
        {"op": "close", "name": "b"},
        add(3, base=0),  # made at a revision long gone: refused
        {"op": "set", "name": "b", "value": 3},  # closed: refused
        add(4),
    ]
    alone = SignalHub()
    alone.declare("a", [])
    hub, _ = local_hubs()
    hub.declare("a", [])
    before = _script_calls(redis_server)
    assert handle_payload(hub, frame) == handle_payload(alone, frame)
    assert hub.get("a") == alone.get("a") == (4, [0, 1, 2, 4])
    assert hub.info("b")[0].closed
    # [0, 1] | declare b | [2, set b] | close b | [4]
    assert _script_calls(redis_server) - before == 5


def test_a_frame_that_meets_a_racing_change_ends_as_if_sent_one_by_one(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]], redis_server: RedisServer
) -> None:
    from nb_sse_signals._messages import handle_message

    hub, _ = local_hubs()
    hub.declare("a", [])
    hub.declare("b", 0)
    raced = False

    def run(message: dict[str, Any]) -> dict[str, Any]:
        nonlocal raced
        if message["name"] == "b" and not raced:
            # Another publisher changes a after this frame planned its first changes of
            # a (on revision 0) and before they are sent: the script stops at the first.
            raced = True
            with RedisPublisher(redis_server.url) as other:
                other.set("a", ["x"])
        return handle_message(hub, message)

    frame = [
        *({"op": "patch", "name": "a", "patch": [{"op": "add", "path": "/-", "value": i}]}
          for i in range(5)),
        {"op": "set", "name": "b", "value": 1},
        *({"op": "patch", "name": "a", "patch": [{"op": "add", "path": "/-", "value": i}]}
          for i in range(5, 10)),
        {"op": "patch", "name": "a", "patch": [{"op": "remove", "path": "/0"}], "base": 0},
    ]  # fmt: skip
    replies = hub.batched(run, frame)
    assert [r["rev"] for r in replies[:5]] == [2, 3, 4, 5, 6], "re-based on the race"
    assert replies[5] == {"ok": True, "rev": 1}
    assert [r["rev"] for r in replies[6:11]] == [7, 8, 9, 10, 11]
    assert not replies[11]["ok"]
    assert "at revision 11, got one made at 0" in replies[11]["error"]
    assert hub.get("a") == (11, ["x", *range(10)])
    assert hub.get("b") == (1, 1)
    # Redis's stream has the frame's changes in its order, after the race.
    order = [(c.name, c.rev) for c in _stream_changes(redis_server) if c.rev > 0]
    assert order == [*(("a", r) for r in range(1, 7)), ("b", 1), *(("a", r) for r in range(7, 12))]


# -- nothing goes back in time ------------------------------------------------------------


def _restore_older_snapshot(server: RedisServer, saved: bool) -> None:
    server.restart()  # loads dump.rdb: the state at the SAVE, older than what hubs saw


def _flushall(server: RedisServer, saved: bool) -> None:
    _redis_command(server, "FLUSHALL")


@pytest.mark.parametrize(
    "lose", [_restore_older_snapshot, _flushall], ids=["older-rdb", "flushall"]
)
def test_after_redis_loses_data_no_viewer_goes_back_and_publishers_stay_in_step(
    redis_server: RedisServer, lose: Callable[[RedisServer, bool], None]
) -> None:
    from nb_sse_signals import Publisher, ServerSignal

    servers = [
        Server(port=0, token=TOKEN, publish_secret=SECRET, redis=redis_server.url).start()
        for _ in range(2)
    ]
    publisher = Publisher.connect(servers[0].url, SECRET, timeout=5)
    seen: list[list[tuple[int, int]]] = [[], []]  # (rev, v) each viewer was shown
    followers = [
        Follower(
            server.url,
            "n",
            lambda value, rev, out=out: out.append((rev, value["v"])),  # type: ignore[misc]
            lambda status: None,
            headers={"Authorization": f"token {TOKEN}"},
        )
        for server, out in zip(servers, seen, strict=True)
    ]
    direct = RedisPublisher(redis_server.url)
    try:
        signal = ServerSignal("n", {"v": 0}, publisher=publisher, max_rate=1000)

        def publish(v: int) -> None:
            signal.set({"v": v})
            publisher.flush()

        def everywhere(name: str, expected: Any) -> None:
            for server in servers:
                wait_until(lambda s=server: s.hub.get(name) == expected, 20, f"{name} {expected}")

        for v in range(1, 4):
            publish(v)
        direct.declare("p", [0])
        direct.patch("p", [{"op": "add", "path": "/-", "value": 1}])
        everywhere("n", (3, {"v": 3}))
        _redis_command(redis_server, "SAVE")  # what an older snapshot has
        for v in range(4, 11):
            publish(v)
        for i in (2, 3):
            direct.patch("p", [{"op": "add", "path": "/-", "value": i}])
        everywhere("n", (10, {"v": 10}))
        everywhere("p", (3, [0, 1, 2, 3]))

        lose(redis_server, True)

        # Each hub puts back what it has (the newest wins), and changes go on from it:
        # the publisher's next patch (made on revision 10) and the script's (on [0..3]).
        publish(11)
        direct.patch("p", [{"op": "add", "path": "/-", "value": 4}])
        everywhere("n", (11, {"v": 11}))
        everywhere("p", (4, [0, 1, 2, 3, 4]))
        assert direct.get("n") == (11, {"v": 11})
        for out in seen:
            wait_until(lambda out=out: out and out[-1] == (11, 11), 20, "the viewer at 11")
            shown = [v for _, v in out]
            assert shown == sorted(shown), f"a viewer went back in time: {out}"
    finally:
        for follower in followers:
            follower.stop()
        direct.stop()
        publisher.shutdown()
        for server in servers:
            server.stop()


# -- bounded and validated: what is read from Redis ---------------------------------------


def _xadd(server: RedisServer, *changes: tuple[bytes, bytes, bytes, bytes]) -> None:
    """Append one raw entry to the stream, of ``(name, rev, kind, payload)`` changes at
    the next sequence numbers, as anyone with access to Redis could: the fields as they
    are (framed as ``_redis_entry`` says), checked by nobody."""
    blob = b"".join(b"%d:%s" % (len(f), f) for change in changes for f in change)
    _xadd_raw(server, {b"c": b"%d" % len(changes), b"b": blob}, len(changes))


def _xadd_raw(server: RedisServer, fields: dict[bytes, bytes], count: int) -> None:
    """Append an entry of ``fields`` as they are, numbered as ``count`` changes."""
    import redis

    client = redis.Redis.from_url(server.url)
    try:
        seq = client.incrby("nb_sse_signals:seq", count)
        client.xadd("nb_sse_signals:changes", fields, id=f"0-{seq}")  # type: ignore[arg-type]
    finally:
        client.close()


def _stream_changes(server: RedisServer) -> list[Any]:
    """Every change the stream holds, in order, as every hub reads it."""
    from nb_sse_signals._redis_entry import read_entry

    entries = _redis_command(server, "XRANGE", "nb_sse_signals:changes", "-", "+")
    return [c for entry_id, f in entries for c in read_entry(entry_id, f)]


async def test_a_malformed_change_in_redis_is_refused_for_its_signal_only(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub, _ = local_hubs()
    hub.declare("good", {"a": 0})
    hub.declare("bad", {"a": 0})
    hub.declare("odd", {"a": 0})
    sub = hub.subscribe(["good", "bad", "odd"])
    await _events_of(sub)  # the snapshots
    # Valid JSON with line breaks between its tokens: framed as it is, the second line
    # would end the event's data and the rest would be read as other SSE fields.
    _xadd(redis_server, (b"good", b"1", b"c", b'[{"op":"replace",\n"path":"/a",\r\n"value":1}]'))
    _xadd(redis_server, (b"bad", b"one", b"c", b"[]"))  # a revision that is not a number
    _xadd(redis_server, (b"no spaces", b"1", b"c", b"[]"))  # a name no publisher may use
    _xadd(redis_server, (b"odd", b"1", b"q", b"[]"))  # a kind there is not
    _xadd(redis_server, (b"good", b"2", b"c", b'[{"op":"replace","path":"/a","value":2}]'))
    events: list[Any] = []
    while not any(e.event == "message" and '"rev":2' in e.data for e in events):
        events += await _events_of(sub)
    changes = [orjson.loads(e.data) for e in events if e.event == "message"]
    assert changes[0] == {
        "name": "good", "rev": 1, "patch": [{"op": "replace", "path": "/a", "value": 1}]
    }  # fmt: skip
    refused = [orjson.loads(e.data)["name"] for e in events if e.event == "refused"]
    assert sorted(refused) == ["bad", "odd"]
    with pytest.raises(BackplaneError, match="'bad'"):
        hub.get("bad")
    logged = caplog.text
    assert "'bad'" in logged
    assert "no spaces" in logged
    assert hub.get("good") == (2, {"a": 2}), "every other signal went on"
    # A whole value brings a refused signal back.
    assert hub.declare("bad", {"a": 5}) >= 1
    assert hub.get("bad")[1] == {"a": 5}
    sub.close()


async def test_an_entry_of_many_changes_from_another_writer_applies_them_in_its_order(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", "nb_sse_signals")
    hub, _ = local_hubs()
    hub.declare("a", [])
    hub.declare("b", [])
    hub.declare("odd", 0)
    sub = hub.subscribe(["a", "b", "odd"])
    await _events_of(sub)  # the snapshots

    def add(name: bytes, rev: int, value: int) -> tuple[bytes, bytes, bytes, bytes]:
        patch = b'[{"op":"add","path":"/-","value":%d}]' % value
        return (name, b"%d" % rev, b"c", patch)

    # One frame of another writer: two signals interleaved, and in the middle a change
    # of a kind there is not, refused for its signal only.
    _xadd(
        redis_server,
        add(b"a", 1, 1),
        add(b"b", 1, 10),
        add(b"a", 2, 2),
        (b"odd", b"1", b"q", b"[]"),
        add(b"b", 2, 20),
        add(b"a", 3, 3),
    )
    events: list[Any] = []
    while len([e for e in events if e.event in ("message", "refused")]) < 6:
        events += await _events_of(sub)
    changes = [orjson.loads(e.data) for e in events if e.event in ("message", "refused")]
    assert [(c["name"], c.get("rev")) for c in changes] == [
        ("a", 1), ("b", 1), ("a", 2), ("odd", 0), ("b", 2), ("a", 3)
    ], "each change as a change, in the entry's order"  # fmt: skip
    assert [e.id.rsplit("-", 1)[1] for e in events if e.event == "message"] == [
        str(s) for s in (4, 5, 6, 8, 9)
    ], "numbered by their places in the entry"  # (a declare each before: 1, 2, 3)
    assert hub.get("a") == (3, [1, 2, 3])
    assert hub.get("b") == (2, [10, 20])
    assert "reloading" not in caplog.text, "followed change by change, never reloaded"
    sub.close()


def test_an_entry_that_cannot_be_cut_into_changes_reloads_every_signal(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub, _ = local_hubs()
    hub.declare("a", 0)
    with RedisPublisher(redis_server.url) as other:
        _xadd_raw(redis_server, {b"c": b"2", b"b": b"1:a1:11:c"}, 2)  # cut short
        other.set("a", 5)  # written after it: the hub reloads, and follows on
        wait_until(lambda: hub.get("a") == (1, 5), 10, "the change after the bad entry")
        other.set("a", 6)
        wait_until(lambda: hub.get("a") == (2, 6), 10, "the next change")
    assert "a stream entry in Redis is refused" in caplog.text
    assert "cannot be cut into 2 changes" in caplog.text


@pytest.mark.parametrize("ahead", ["*", "0-1000000"])
def test_an_entry_with_an_id_no_hub_writes_starts_a_new_epoch_once_and_hubs_go_on(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    ahead: str,
) -> None:
    # Someone with access to Redis appends an entry past every ``0-<seq>`` of ours: an
    # id of Redis's own making (``*``), or ours but numbered past the sequence.
    # Reloading would read it again and again, and no hub could append after it:
    # the hubs start a new epoch (the stream is dropped, each puts back what it has),
    # once, and all go on.
    a, _ = local_hubs()
    b, _ = local_hubs()
    a.declare("x", 1)
    wait_until(lambda: b.info("x") and b.get("x") == (0, 1), 10, "x on b")
    epoch = a.epoch
    entry = b"1:x1:51:c2:[]"  # (a change of x to revision 5, cut right)
    _redis_command(redis_server, "XADD", "nb_sse_signals:changes", ahead, "c", "1", "b", entry)
    wait_until(lambda: a.epoch != epoch and b.epoch == a.epoch, 10, "one new epoch on both")
    assert a.get("x") == b.get("x") == (0, 1), "nothing lost"
    assert a.set("x", 2) == 1
    wait_until(lambda: b.get("x") == (1, 2), 10, "a change after it, on b")
    assert b.set("x", 3) == 2
    wait_until(lambda: a.get("x") == (2, 3), 10, "and back")
    time.sleep(1.0)  # (a hub that reloaded again and again would log each time)
    assert caplog.text.count("Redis lost data; new epoch") == 1, caplog.text
    assert caplog.text.count("reloading from Redis") <= 2, caplog.text
    assert "an entry no hub wrote" in caplog.text


def test_the_commit_script_changes_nothing_while_an_entry_no_hub_wrote_tops_the_stream(
    redis_server: RedisServer,
) -> None:
    import redis

    from nb_sse_signals._redis_engine import COMMIT

    client = redis.Redis.from_url(redis_server.url)
    try:
        p = "foreign-top:"
        client.set(p + "epoch", "r0123456789")
        client.set(p + "seq", 5)
        client.xadd(p + "changes", {"c": "1", "b": "?"}, id="*")
        keys = [p + k for k in ("seq", "changes", "epoch", "names")]
        entry = b"1:n1:11:n1:1"
        signal = [b"n", b"", b"0", b"1", b"0", b"1", b"0"]
        args: list[Any] = ["r0123456789", 1000, 3600, p + "sig:", 1, entry, *signal]
        reply = client.eval(COMMIT, len(keys), *keys, *args)
        assert reply == [b"epoch", b"r0123456789"], "told to wait for a new epoch"
        assert client.get(p + "seq") == b"5", "the sequence as it was"
        assert not client.exists(p + "sig:n")
        assert not client.exists(p + "names")
        assert client.xlen(p + "changes") == 1
    finally:
        client.close()


def test_bad_fields_in_redis_hashes_refuse_their_signal_only_and_a_bad_epoch_is_renewed(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
    redis_server: RedisServer,
) -> None:
    one, _ = local_hubs()
    one.declare("fine", 1)
    one.declare("bad-rev", 1)
    one.declare("bad-stale", 1)
    _redis_command(redis_server, "HSET", "nb_sse_signals:sig:bad-rev", "rev", "NaN")
    _redis_command(redis_server, "HSET", "nb_sse_signals:sig:bad-stale", "stale", "x")
    _redis_command(redis_server, "SADD", "nb_sse_signals:names", "bad name")
    _redis_command(redis_server, "HSET", "nb_sse_signals:sig:bad name", "rev", "1", "value", "1")
    _redis_command(redis_server, "SET", "nb_sse_signals:epoch", "not an epoch!")
    two, backplane = local_hubs()  # loads all that, at once
    assert two.get("fine") == (0, 1)
    assert two.get("bad-stale") == (0, 1), "a stale mark that is not a number is no mark"
    assert "bad name" not in two.names()
    assert two.epoch != "not an epoch!"
    assert backplane.live
    assert two.set("fine", 2) == 1, "changes go on in the renewed epoch"
    # bad-rev is refused, not served, until declared whole again.
    with pytest.raises(BackplaneError):
        two.get("bad-rev")
    two.declare("bad-rev", 7)
    assert two.get("bad-rev")[1] == 7


def test_other_hubs_signals_have_their_own_bound_and_leave_this_hubs_own_alone(
    local_hubs: Callable[..., tuple[SignalHub, RedisBackplane]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    other, _ = local_hubs()
    for i in range(3):
        other.declare(f"theirs-{i}", i)
    here, _ = local_hubs(SignalHub(limits=Limits(signals=1, backplane_signals=2)))
    assert len(here.names()) == 2, "two of theirs are served here, no more"
    assert "not served here" in caplog.text
    assert here.declare("mine", 0) == 0, "theirs do not use this hub's own signals limit"
    with pytest.raises(LimitError, match="signals"):
        here.declare("mine-too", 0)
    other.declare("theirs-3", 3)  # one more from the feed: beyond the bound, not served
    wait_until(lambda: other.get("theirs-3") == (0, 3))
    served = sorted(n for n in here.names() if n.startswith("theirs-"))
    assert len(served) == 2
    other.set(served[0], 10)  # and changes of those served go on
    wait_until(lambda: here.get(served[0])[1] == 10, 10, "the change")
    assert sorted(n for n in here.names() if n.startswith("theirs-")) == served
