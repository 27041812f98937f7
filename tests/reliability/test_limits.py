"""Every limit of Limits refuses with a JSON message naming it, and changes nothing
(issue 12, items 3 and 4)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tornado import httpclient, websocket

from nb_sse_signals import SignalHub
from nb_sse_signals._depth import MAX_DEPTH
from nb_sse_signals._errors import LimitError
from nb_sse_signals._limits import Limits
from nb_sse_signals._server import Server

from ..conftest import SECRET, TOKEN
from ..ws import close_websocket
from .conftest import Canary


@pytest.fixture
def small() -> Iterator[Server]:
    """A server whose limits are small enough to reach in a test."""
    limits = Limits(
        message_bytes=64 * 1024,
        ops_per_patch=10,
        signals=5,
        signals_per_publisher=3,
        subscribers=3,
        subscribers_per_signal=2,
        signals_per_subscription=4,
        history_events=100,
        history_bytes=10_000,
    )
    srv = Server(port=0, token=TOKEN, publish_secret=SECRET, keepalive=0.5, limits=limits)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def post(server: Server, body: Any) -> httpx.Response:
    return httpx.post(
        server.url + "nb-sse-signals/publish",
        content=body if isinstance(body, bytes) else orjson.dumps(body),
        headers={"X-Signals-Publish-Secret": SECRET},
        timeout=10,
    )


def test_a_message_too_large_is_rejected_with_413_and_json(small: Server) -> None:
    body = orjson.dumps({"op": "declare", "name": "big", "value": "x" * 70_000})
    answer = post(small, body)
    assert answer.status_code == 413
    assert answer.json()["error"] == (f"expected at most 65,536 message bytes, got {len(body):,}")
    assert small.hub.names() == []


def test_a_websocket_frame_too_large_closes_the_connection_with_1009(small: Server) -> None:
    async def run() -> tuple[int | None, str | None]:
        request = httpclient.HTTPRequest(
            small.url.replace("http", "ws") + "nb-sse-signals/publish",
            headers={"X-Signals-Publish-Secret": SECRET},
            request_timeout=5,
        )
        conn = await websocket.websocket_connect(request)
        try:
            big = b'[{"op":"declare","name":"a","value":"' + b"x" * 70_000 + b'"}]'
            await conn.write_message(big)
            assert await asyncio.wait_for(conn.read_message(), 5) is None
            return conn.close_code, conn.close_reason
        finally:
            await close_websocket(conn)

    code, _ = asyncio.run(run())
    assert code == 1009, "message too big"
    assert small.hub.names() == []


def test_too_many_ops_in_one_patch_are_rejected(small: Server) -> None:
    post(small, {"op": "declare", "name": "p", "value": []})
    ops = [{"op": "add", "path": "/-", "value": i} for i in range(11)]
    reply = post(small, {"op": "patch", "name": "p", "patch": ops}).json()
    assert reply == {"ok": False, "error": "expected at most 10 ops per patch, got 11"}
    assert small.hub.get("p") == (0, [])


def test_the_hub_holds_at_most_its_limit_of_signals(small: Server) -> None:
    for i in range(5):
        assert small.hub.declare(f"s{i}", i) == 0
    with pytest.raises(LimitError, match="expected at most 5 signals"):
        small.hub.declare("one-too-many", 0)
    small.hub.close("s0")
    small.hub.declare("now-there-is-room", 0)  # closed signals do not count


def test_one_publishing_connection_declares_at_most_its_limit() -> None:
    hub = SignalHub(limits=Limits(signals_per_publisher=2))
    owner, other = object(), object()
    hub.declare("a", 0, owner)
    hub.declare("b", 0, owner)
    with pytest.raises(LimitError, match="signals per publisher"):
        hub.declare("c", 0, owner)
    hub.declare("c", 0, other)  # another publisher has its own allowance
    hub.close("a")
    hub.declare("d", 0, owner)  # closing frees one


def test_history_keeps_a_byte_budget_as_well_as_a_count() -> None:
    hub = SignalHub(limits=Limits(history_events=1_000, history_bytes=50_000))
    hub.declare("big", "")
    for i in range(100):
        hub.set("big", str(i) * 1_000)  # ~1-3 kB frames
    sig = hub.store.entries["big"]
    assert sig.history_bytes <= 50_000
    assert 0 < len(sig.history) < 100
    assert sum(len(frame) for _, frame in sig.history) == sig.history_bytes


def test_subscribers_past_the_hubs_limit_get_503_with_json(small: Server) -> None:
    canary = Canary(small)  # 1 subscriber; two streams of "s" make the limit of 3
    small.hub.declare("s", 1)
    url = small.url + "nb-sse-signals/events"
    auth = {"Authorization": f"token {TOKEN}"}
    try:
        with (
            httpx.Client(timeout=5) as client,
            client.stream("GET", url, params={"signal": "s"}, headers=auth) as first,
            client.stream("GET", url, params={"signal": "s"}, headers=auth) as second,
        ):
            assert (first.status_code, second.status_code) == (200, 200)
            # Its own connection: the client's pool is busy with the two streams.
            answer = httpx.get(url, params={"signal": "canary"}, headers=auth, timeout=5)
            assert answer.status_code == 503
            assert answer.json() == {
                "error": "expected at most 3 subscribers, got one more on this hub"
            }
            assert canary.alive(), "those already subscribed keep receiving"
    finally:
        canary.stop()


def test_subscribers_past_a_signals_limit_are_rejected() -> None:
    async def run() -> None:
        hub = SignalHub(limits=Limits(subscribers_per_signal=1))
        hub.declare("s", 1)
        hub.declare("t", 1)
        first = hub.subscribe(["s"])
        with pytest.raises(LimitError, match="subscribers per signal, got one more of 's'"):
            hub.subscribe(["t", "s"])
        assert hub.subscriber_count("t") == 0, "nothing half-subscribed"
        first.close()
        hub.subscribe(["s"]).close()  # room again

    asyncio.run(run())


def test_a_subscription_names_at_most_its_limit_of_signals(small: Server) -> None:
    answer = httpx.get(
        small.url + "nb-sse-signals/events",
        params={"signal": [f"s{i}" for i in range(5)]},
        headers={"Authorization": f"token {TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json() == {"error": "expected at most 4 'signal' parameters, got 5"}


def test_limits_themselves_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive number for the limit signals, got 0"):
        Limits(signals=0)
    with pytest.raises(ValueError, match=r"positive number for the limit write_timeout, got -1\.5"):
        Limits(write_timeout=-1.5)
    with pytest.raises(ValueError, match="positive number for the limit subscribers, got True"):
        Limits(subscribers=True)
    with pytest.raises(ValueError, match="positive number for the limit signals, got '5'"):
        Limits(signals="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most 250"):
        Limits(depth=300)


def test_limits_cannot_change_once_a_hub_holds_them() -> None:
    limits = Limits(signals=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.signals = 6  # type: ignore[misc]
    assert limits.signals == 5


def test_a_depth_limit_may_be_anything_up_to_what_the_encoders_can_write() -> None:
    assert Limits(depth=1).depth == 1
    assert Limits(depth=MAX_DEPTH).depth == MAX_DEPTH
    with pytest.raises(ValueError, match=f"at most {MAX_DEPTH} .*got {MAX_DEPTH + 1}"):
        Limits(depth=MAX_DEPTH + 1)


def test_the_defaults_are_the_ones_docs_security_md_lists() -> None:
    # The table users read is the contract: a default changed in one place only fails.
    text = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    units = {"": 1, "MiB": 1 << 20, "KiB": 1 << 10, "s": 1}
    documented = {
        name: int(number.replace(",", "")) * units[unit]
        for name, number, unit in re.findall(
            r"^\| `(\w+)` \| ([\d,]+)(?: (MiB|KiB|s)\b)?", text, re.MULTILINE
        )
    }
    defaults = {f.name: getattr(Limits(), f.name) for f in dataclasses.fields(Limits)}
    assert documented == defaults
