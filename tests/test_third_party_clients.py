"""Standard SSE clients of other projects follow our stream (the default shape) through
a server restart, resuming with ``Last-Event-ID``, on both servers: Node's
``eventsource`` with ``rfc6902``, and Python's ``sseclient-py`` with ``jsonpatch``.

The restart keeps the hub (as a hub behind a Redis backplane, or one the application
owns, outlives its server): the client must get exactly the changes it missed, in
order, and no snapshot. Then a restart with a new hub: a snapshot.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import pytest
import sseclient

from nb_sse_signals import SignalHub

from .conftest import SECRET, TOKEN
from .jupyter import free_port
from .servers import start_server

pytestmark = pytest.mark.both_servers

JS = Path(__file__).parent.parent / "js"


class NodeClient:
    """``js/harness/third_party.js`` (npm ``eventsource`` + ``rfc6902``) in a process,
    stopped by closing its stdin, then by its pid."""

    def __init__(self, url: str) -> None:
        node = shutil.which("node")
        assert node, "node is needed (scripts/setup.sh installs it)"
        self.proc = subprocess.Popen(
            [node, str(JS / "harness" / "third_party.js"), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"the Node client printed nothing in {timeout} s")
        assert "error" not in line, line["error"]
        return line

    def stop(self) -> None:
        proc = self.proc
        assert proc.stdin is not None
        assert proc.stderr is not None
        proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        self._reader.join(5)
        proc.stderr.close()
        assert proc.stdout is not None
        proc.stdout.close()


class SseclientFollower(threading.Thread):
    """``sseclient-py`` over an httpx stream, with ``jsonpatch``. sseclient-py only
    parses; reconnecting is its user's job, done here as the SSE spec has browsers do
    it: after the stream ends or a connection fails, wait the server's ``retry:`` and
    reconnect with the last id seen as ``Last-Event-ID``."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.lines: queue.Queue[dict[str, Any] | BaseException] = queue.Queue()
        self.values: dict[str, Any] = {}
        self.revs: dict[str, int] = {}
        self.last_id = ""
        self.stopping = threading.Event()

    def run(self) -> None:
        retry = 0.1
        # The read timeout is above the fixture's keep-alive interval (0.5 s).
        with httpx.Client(timeout=httpx.Timeout(5.0, read=3.0)) as http:
            while not self.stopping.is_set():
                headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
                try:
                    with http.stream("GET", self.url, headers=headers) as resp:
                        resp.raise_for_status()
                        chunks = self._until_stopped(resp.iter_bytes())
                        for event in sseclient.SSEClient(chunks).events():
                            if event.retry:
                                retry = int(event.retry) / 1000
                            self.lines.put(self.apply(event))
                            if self.stopping.is_set():
                                return
                except httpx.TransportError:
                    pass  # the server is away: wait, then reconnect
                except Exception as exc:  # reported to the test, which fails on it
                    self.lines.put(exc)
                    return
                self.stopping.wait(retry)

    def _until_stopped(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        # Keep-alives (every 0.5 s here) come as chunks but never as events.
        for chunk in chunks:
            if self.stopping.is_set():
                return
            yield chunk

    def apply(self, event: Any) -> dict[str, Any]:
        message = json.loads(event.data)
        name, rev, patch = message["name"], message["rev"], message["patch"]
        snapshot = len(patch) == 1 and patch[0]["op"] == "replace" and patch[0]["path"] == ""
        if not snapshot:
            have = self.revs.get(name, -2)
            assert rev == have + 1, f"{name}: rev {rev} after {have}"
        # jsonpatch applies a root replace too; it raises on a patch that does not apply.
        self.values[name] = jsonpatch.apply_patch(self.values.get(name), patch)
        self.revs[name] = rev
        if event.id is not None:  # as per the SSE spec, kept across events without one
            self.last_id = event.id
        return {"name": name, "rev": rev, "value": self.values[name], "snapshot": snapshot}

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"sseclient-py applied nothing in {timeout} s")
        if isinstance(line, BaseException):
            raise line
        return line

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        assert not self.is_alive(), "the sseclient-py follower did not stop"


@pytest.fixture(params=["eventsource+rfc6902", "sseclient-py+jsonpatch"])
def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def follow(client_kind: str, url: str) -> Any:
    if client_kind.startswith("eventsource"):
        return NodeClient(url)
    follower = SseclientFollower(url)
    follower.start()
    return follower


def changes(client: Any, count: int) -> Iterator[dict[str, Any]]:
    for _ in range(count):
        yield client.next()


def test_a_third_party_client_follows_through_a_server_restart(kind: str, client_kind: str) -> None:
    port = free_port()
    hub = SignalHub()
    hub.declare("doc", {"items": [], "meta": {"n": 0}})
    options = {"token": TOKEN, "publish_secret": SECRET, "keepalive": 0.5, "port": port}
    srv = start_server(kind, hub, **options)
    url = f"{srv.url}nb-sse-signals/events?signal=doc&token={TOKEN}"
    client = follow(client_kind, url)
    try:
        assert client.next()["snapshot"]
        for i in range(3):
            hub.patch("doc", [{"op": "add", "path": "/items/-", "value": {"i": i}}])
        assert [c["rev"] for c in changes(client, 3)] == [1, 2, 3]
        srv.stop()
        # While the server is away the hub changes on.
        hub.patch("doc", [{"op": "remove", "path": "/items/0"}])
        hub.patch("doc", [{"op": "replace", "path": "/meta/n", "value": 5}])
        srv = start_server(kind, hub, **options)  # the same address, the same hub
        resumed = list(changes(client, 2))
        assert [(c["rev"], c["snapshot"]) for c in resumed] == [(4, False), (5, False)], (
            "Last-Event-ID should replay exactly the missed changes"
        )
        hub.patch("doc", [{"op": "add", "path": "/meta/done", "value": True}])
        live = client.next()
        assert live["value"] == hub.get("doc")[1]
        assert live["value"] == {"items": [{"i": 1}, {"i": 2}], "meta": {"n": 5, "done": True}}
        # A restart with a new hub: the old cursor is of another epoch, so a snapshot.
        srv.stop()
        fresh = SignalHub()
        fresh.declare("doc", ["another", "value"])
        srv = start_server(kind, fresh, **options)
        after = client.next()
        assert (after["snapshot"], after["value"]) == (True, ["another", "value"])
    finally:
        client.stop()
        srv.stop()
