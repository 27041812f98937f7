"""Faults: a server killed mid-stream, a publisher cut off mid-frame, and random
disconnects while values change. Clients converge to the publisher's last value and
never show one it did not have (issue 12, faults and the convergence property)."""

from __future__ import annotations

import contextlib
import json
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nb_sse_signals._follow import Follower
from nb_sse_signals._server import Server

from ..conftest import SECRET, TOKEN, wait_until
from ..jupyter import free_port
from ..ws import raw_publisher
from .faultnet import CutRelay, JsFollower


class Seen:
    """What a follower showed, for the assertions: values with their revisions."""

    def __init__(self) -> None:
        self.values: list[tuple[Any, int]] = []
        self.statuses: list[str] = []
        self.lock = threading.Lock()

    def value(self, value: Any, rev: int) -> None:
        with self.lock:
            self.values.append((json.loads(json.dumps(value)), rev))

    def status(self, status: str) -> None:
        self.statuses.append(status)

    def last(self) -> Any:
        with self.lock:
            return self.values[-1][0] if self.values else None


def start_cli(tmp_path: Path, port: int, name: str) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).parent / "nb-sse-signals"
    with (tmp_path / f"{name}.out").open("wb") as out:  # the child keeps its own copy
        proc = subprocess.Popen(
            [str(script), "serve", "--port", str(port), "--token", TOKEN],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_until(
        lambda: "serving at" in (tmp_path / f"{name}.out").read_text() or proc.poll() is not None,
        timeout=20,
        what="the server to start",
    )
    assert proc.poll() is None, (tmp_path / f"{name}.out").read_text()
    return proc


def secret_of(tmp_path: Path, name: str) -> str:
    text = (tmp_path / f"{name}.out").read_text()
    match = re.search(r"publish secret:\s+(\S+)", text)
    assert match, text
    return match.group(1)


def publish(port: int, secret: str, body: Any) -> Any:
    answer = httpx.post(
        f"http://127.0.0.1:{port}/nb-sse-signals/publish",
        json=body,
        headers={"X-Signals-Publish-Secret": secret},
        timeout=5,
    )
    return answer.json()


def test_kill_9_of_the_server_mid_stream_then_a_restart_resyncs_the_follower_to_the_truth(
    tmp_path: Path,
) -> None:
    port = free_port()
    first = start_cli(tmp_path, port, "first")
    published: list[Any] = []
    seen = Seen()
    follower = None
    second = None
    try:
        secret = secret_of(tmp_path, "first")
        published.append({"n": 0})
        publish(port, secret, {"op": "declare", "name": "s", "value": {"n": 0}})
        follower = Follower(
            f"http://127.0.0.1:{port}/", "s", seen.value, seen.status,
            headers={"Authorization": f"token {TOKEN}"}, timeout=5,
        )  # fmt: skip
        for n in range(1, 4):
            published.append({"n": n})
            publish(port, secret, {"op": "set", "name": "s", "value": {"n": n}})
        wait_until(lambda: seen.last() == {"n": 3}, what="the follower to catch up")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        wait_until(lambda: seen.statuses[-1] in ("stale", "connecting"), what="stale")
        # A new hub (a new epoch) on the same port, with the publisher's new truth.
        second = start_cli(tmp_path, port, "second")
        secret = secret_of(tmp_path, "second")
        published.append({"n": 100, "restarted": True})
        publish(port, secret, {"op": "declare", "name": "s", "value": published[-1]})
        wait_until(lambda: seen.last() == published[-1], timeout=30, what="the new truth")
        wait_until(lambda: seen.statuses[-1] == "live", what="live again")
    finally:
        if follower is not None:
            follower.stop()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(5)
    assert all(value in published for value, _ in seen.values), seen.values


def test_a_publisher_cut_off_mid_frame_changes_nothing(server: Server) -> None:
    server.hub.declare("s", {"n": 1})
    sock = raw_publisher(server.port, SECRET)
    try:
        payload = b'[{"op":"set","name":"s","value":{"n":2}}]'
        # A masked binary frame that announces the whole payload but carries half of it.
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(bytes([0x82, 0x80 | len(payload)]) + mask + masked[: len(payload) // 2])
    finally:
        sock.close()  # the publisher dies mid-frame
    time.sleep(0.3)
    assert server.hub.get("s") == (0, {"n": 1})
    server.hub.set("s", {"n": 3})  # and the hub goes on
    assert server.hub.get("s") == (1, {"n": 3})


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    values=st.lists(
        st.dictionaries(
            st.sampled_from(["a", "b", "c"]),
            st.one_of(st.integers(-5, 5), st.lists(st.integers(0, 3), max_size=4)),
            max_size=3,
        ),
        min_size=5,
        max_size=30,
    ),
    seed=st.integers(0, 1000),
)
def test_random_values_and_random_disconnects_converge_to_the_last_value(
    server: Server, values: list[dict[str, Any]], seed: int
) -> None:
    """A Python follower and the browser's client code (in Node, through a relay the
    test cuts) both end at the publisher's last value, and show only values it had."""
    rng = random.Random(seed)
    name = f"prop{seed}-{len(values)}"
    server.hub.declare(name, values[0])
    published = [values[0]]
    seen = Seen()
    relay = CutRelay(server.port)
    js = None
    follower = Follower(
        server.url, name, seen.value, seen.status,
        headers={"Authorization": f"token {TOKEN}"}, timeout=5,
    )  # fmt: skip
    try:
        js = JsFollower(f"http://127.0.0.1:{relay.port}/", name, TOKEN)
        # Changes begin once both have their first value, so the disconnects below
        # land mid-stream rather than before anyone connected.
        wait_until(lambda: js.values and seen.values, timeout=30, what="both to subscribe")
        for value in values[1:]:
            server.hub.set(name, value)
            published.append(value)
            if rng.random() < 0.3:
                conn = follower._conn
                if conn is not None and conn.sock is not None:
                    # The network drops the stream (unless it is between two: a socket
                    # still connecting, or already shut, has nothing to drop).
                    with contextlib.suppress(OSError):
                        conn.sock.shutdown(socket.SHUT_RDWR)
            if rng.random() < 0.3:
                relay.cut()  # and the JS client's stream and snapshot fetches
            time.sleep(rng.random() * 0.02)
        wait_until(lambda: seen.last() == published[-1], timeout=20, what="convergence")
        wait_until(
            lambda: js.last() == published[-1] and js.status() == "live",
            timeout=30,
            what=f"the JS client's convergence; it printed:\n{''.join(js.lines)}{js.stderr}",
        )
    finally:
        follower.stop()
        if js is not None:
            js.stop()
        relay.stop()
    for who, shown in (("python", seen.values), ("js", js.values)):
        assert all(value in published for value, _ in shown), f"{who}: only values it had"
        revs = [rev for _, rev in shown]
        assert revs == sorted(revs), f"{who}: revisions only go forward"
