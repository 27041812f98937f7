"""What a hub on a shared backplane applies from its feed (``_remote.Mirror``), driven
through the mirror's public interface, as an engine's feed drives it (Redis itself:
tests/test_redis.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from nb_sse_signals._errors import BackplaneError
from nb_sse_signals._hub import SignalHub, Subscription
from nb_sse_signals._limits import Limits
from nb_sse_signals._protocol import ServerSentEvent, SSEDecoder, parse_change
from nb_sse_signals._remote import Mirror, Unreadable

from ._values import nested, nested_json


def _mirrored(limits: Limits | None = None) -> tuple[SignalHub, Mirror]:
    """A hub and the mirror an engine's feed calls (as ``RedisBackplane.start`` makes)."""
    hub = SignalHub(limits=limits)
    return hub, Mirror(hub.store, hub.limits)


async def events_of(sub: Subscription, timeout: float = 2.0) -> list[ServerSentEvent]:
    batch = await asyncio.wait_for(sub.next_batch(timeout), timeout + 1)
    assert batch, "expected a batch of events, got none before the timeout"
    return SSEDecoder().decode(batch.decode())


def _kinds(events: list[ServerSentEvent]) -> list[tuple[str, Any]]:
    return [(e.event, orjson.loads(e.data)) for e in events]


async def test_changes_from_a_backplane_apply_in_its_order_with_its_cursors() -> None:
    hub, feed = _mirrored()
    feed.load("redis1", 5, [("s", 3, False, {"n": 3}, False)])
    sub = hub.subscribe(["s"])
    first = await events_of(sub)
    assert first[0].id == "redis1-5"
    assert feed.apply(6, "s", 4, "c", b'[{"op":"replace","path":"/n","value":4}]')
    assert feed.apply(6, "s", 4, "c", b"[]"), "a duplicate is skipped"
    (change,) = await events_of(sub)
    assert change.id == "redis1-6"
    assert parse_change(change.data).rev == 4
    assert hub.get("s") == (4, {"n": 4})


async def test_a_backplane_change_that_does_not_follow_is_rejected_and_changes_nothing() -> None:
    hub, feed = _mirrored()
    feed.load("redis1", 5, [("s", 3, False, {"n": 3}, False)])
    assert not feed.apply(6, "s", 5, "c", b"[]"), "rev 4 is missing"
    assert not feed.apply(6, "s", 4, "c", b'[{"op":"remove","path":"/nope"}]')
    assert not feed.apply(6, "gone", 1, "c", b"[]")
    assert hub.get("s") == (3, {"n": 3})


async def test_stale_then_a_reload_sends_every_subscriber_snapshots_at_the_new_cursor() -> None:
    hub, feed = _mirrored()
    feed.load("redis1", 5, [("s", 3, False, {"n": 3}, False)])
    sub = hub.subscribe(["s"])
    await events_of(sub)
    feed.lost()
    (stale,) = await events_of(sub)
    assert stale.event == "stale"
    assert stale.id == "", "stale moves no cursor"
    feed.load("redis2", 1, [("s", 3, False, {"n": 3}, False)])  # Redis lost data: a new epoch
    (snapshot,) = await events_of(sub)
    assert snapshot.id == "redis2-1"
    assert parse_change(snapshot.data).is_snapshot


async def test_a_loaded_value_too_deep_to_write_is_refused_for_that_signal_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub, feed = _mirrored()
    with caplog.at_level("WARNING", "nb_sse_signals"):
        feed.load(
            "redis1",
            5,
            [("ok", 0, False, {"n": 0}, False), ("deep", 2, False, nested(300), False)],
        )
    assert "'deep'" in caplog.text, "the log line names the signal"
    sub = hub.subscribe(["deep", "ok"])
    first = _kinds(await events_of(sub))
    assert first[0][0] == "refused"
    assert (first[0][1]["name"], first[0][1]["rev"]) == ("deep", 2)
    assert "levels of nesting" in first[0][1]["error"]
    assert first[1] == ("message", orjson.loads(hub.snapshots(["ok"])[0]))
    assert orjson.loads(hub.snapshots(["deep", "ok"])[0])["error"], "the endpoint skips it too"
    assert feed.apply(6, "ok", 1, "c", b'[{"op":"replace","path":"/n","value":1}]')
    (change,) = await events_of(sub)
    assert parse_change(change.data).rev == 1, "the other signal keeps streaming"


async def test_a_whole_value_too_deep_from_the_backplane_is_refused_then_served_again() -> None:
    hub, feed = _mirrored()
    feed.load("redis1", 5, [("s", 3, False, {"n": 3}, False), ("ok", 0, False, 0, False)])
    sub = hub.subscribe(["s", "ok"])
    await events_of(sub)
    assert feed.apply(6, "s", 4, "n", nested_json(300))
    (refused,) = await events_of(sub)
    assert (refused.event, refused.id) == ("refused", "redis1-6")
    assert orjson.loads(refused.data)["rev"] == 4
    # Changes while refused keep the hub in step with Redis, and send nothing...
    assert feed.apply(7, "s", 5, "c", b'[{"op":"add","path":"/0","value":1}]')
    assert await sub.next_batch(0.1) == b""
    # ...until one makes it servable: then a snapshot, since viewers lack its base.
    assert feed.apply(8, "s", 6, "c", b'[{"op":"replace","path":"","value":{"n":6}}]')
    (snapshot,) = await events_of(sub)
    change = parse_change(snapshot.data)
    assert snapshot.id == "redis1-8"
    assert change.is_snapshot
    assert (change.rev, change.patch[0]["value"]) == (6, {"n": 6})
    assert feed.apply(9, "ok", 1, "c", b'[{"op":"replace","path":"","value":1}]')
    assert parse_change((await events_of(sub))[0].data).name == "ok"


async def test_a_value_too_deep_even_to_read_is_refused_not_raised() -> None:
    hub, feed = _mirrored()
    feed.load("redis1", 1, [("ok", 0, False, 0, False)])
    assert feed.apply(2, "deep", 0, "n", nested_json(1100)), "a new signal"
    assert feed.apply(3, "ok", 1, "c", b'[{"op":"replace","path":"","value":1}]')
    assert "cannot be read" in orjson.loads(hub.snapshots(["deep"])[0])["error"]
    assert [e.event for e in await events_of(hub.subscribe(["deep", "ok"]))] == [
        "refused",
        "message",
    ]
    # A change it cannot apply (its value is unknown here) keeps it refused, never null;
    # a whole new value brings it back.
    assert feed.apply(4, "deep", 1, "c", b'[{"op":"add","path":"/0/0","value":1}]')
    assert hub.info("deep")[0].rev == 1
    assert "error" in orjson.loads(hub.snapshots(["deep"])[0])
    assert feed.apply(5, "deep", 2, "c", b'[{"op":"replace","path":"","value":[2]}]')
    assert orjson.loads(hub.snapshots(["deep"])[0])["patch"][0]["value"] == [2]


async def test_a_change_that_does_not_apply_to_a_refused_value_it_has_reloads_from_redis() -> None:
    hub, feed = _mirrored()
    feed.load("redis1", 5, [("deep", 2, False, nested(300), False)])
    bad = b'[{"op":"remove","path":"/nope"}]'
    assert not feed.apply(6, "deep", 3, "c", bad), "out of step: reload"
    assert hub.info("deep")[0].rev == 2, "nothing changed"
    # The reload at the same revision reads the value again, not skipped as known.
    feed.load("redis1", 5, [("deep", 2, False, [1], False)])
    assert hub.get("deep") == (2, [1])


async def test_a_value_it_never_could_read_is_unknown_never_null_and_a_reload_reads_it() -> None:
    hub, feed = _mirrored()
    feed.load("redis1", 1, [("deep", 0, False, Unreadable("cannot be read as JSON: deep"), False)])
    with pytest.raises(BackplaneError, match=r"'deep'.*refused here"):
        hub.get("deep")
    assert feed.apply(2, "deep", 1, "c", b'[{"op":"add","path":"/0/0","value":1}]')
    with pytest.raises(BackplaneError, match="refused here"):
        hub.get("deep")
    assert "error" in orjson.loads(hub.snapshots(["deep"])[0])
    # A reload at that very revision takes what Redis has (it never had it here).
    feed.load("redis1", 2, [("deep", 1, False, {"fine": True}, False)])
    assert hub.get("deep") == (1, {"fine": True})
    assert orjson.loads(hub.snapshots(["deep"])[0])["patch"][0]["value"] == {"fine": True}


async def test_an_orphan_refused_by_a_value_from_the_backplane_is_refused_not_stale() -> None:
    hub, feed = _mirrored()
    gone = object()
    hub.declare("s", 0, gone)  # (before the feed's first load: owned here)
    feed.load("redis1", 1, [("s", 0, False, 0, False)])
    assert hub.mark_orphaned(gone) == ["s"]
    assert feed.apply(2, "s", 1, "n", nested_json(300))
    assert [e.event for e in await events_of(hub.subscribe(["s"]))] == ["refused"]
    assert "stale" not in orjson.loads(hub.snapshots(["s"])[0])
    feed.load("redis1", 2, [("s", 1, False, Unreadable("bad"), False)])
    assert feed.apply(3, "s", 2, "c", b'[{"op":"add","path":"/0/0","value":1}]')
    assert hub.orphaned_by(gone) == []


# -- a hub's own commits, applied from its plan and the engine's reply ---------------------

_N4 = b'[{"op":"replace","path":"/n","value":4}]'
_N5 = b'[{"op":"replace","path":"/n","value":5}]'


async def test_a_hubs_own_changes_apply_from_its_plan_at_once_and_the_feed_skips_them() -> None:
    hub, feed = _mirrored()
    feed.load("redis1", 5, [("s", 3, False, {"n": 3}, False)])
    sub = hub.subscribe(["s"])
    await events_of(sub)
    own = [("s", 4, 6, _N4), ("s", 5, 7, _N5)]
    assert feed.applied("redis1", own, {"s": {"n": 5}})
    assert hub.get("s") == (5, {"n": 5}), "read your writes without the feed"
    changes = await events_of(sub)
    assert [(e.id, parse_change(e.data).rev) for e in changes] == [("redis1-6", 4), ("redis1-7", 5)]
    # The feed brings them back later: skipped, nothing sent twice; the next one follows.
    assert feed.apply(6, "s", 4, "c", _N4)
    assert feed.apply(7, "s", 5, "c", _N5)
    assert feed.apply(8, "s", 6, "c", b'[{"op":"replace","path":"/n","value":6}]')
    (next_change,) = await events_of(sub)
    assert (next_change.id, parse_change(next_change.data).rev) == ("redis1-8", 6)
    assert hub.get("s") == (6, {"n": 6})


async def test_a_hubs_own_changes_wait_for_the_feed_when_others_changes_come_before() -> None:
    hub, feed = _mirrored()
    feed.load("redis1", 5, [("s", 3, False, {"n": 3}, False), ("t", 0, False, 0, False)])
    own = [("s", 4, 7, _N4)]  # change 6 is another hub's, not applied here yet
    assert not feed.applied("redis1", own, {"s": {"n": 4}}), "never ahead of Redis's order"
    assert hub.get("s") == (3, {"n": 3}), "nothing changed"
    assert not feed.applied("redis2", own, {"s": {"n": 4}}), "nor in another epoch"
    assert feed.apply(6, "t", 1, "c", b'[{"op":"replace","path":"","value":1}]')
    assert feed.applied("redis1", own, {"s": {"n": 4}})
    assert hub.get("s") == (4, {"n": 4})


async def test_a_hubs_own_changes_the_feed_applied_first_are_not_applied_twice() -> None:
    hub, feed = _mirrored()
    feed.load("redis1", 5, [("s", 3, False, {"n": 3}, False)])
    sub = hub.subscribe(["s"])
    await events_of(sub)
    assert feed.apply(6, "s", 4, "c", _N4)  # the feed won the race for the first
    assert feed.applied("redis1", [("s", 4, 6, _N4), ("s", 5, 7, _N5)], {"s": {"n": 5}})
    revs = [parse_change(e.data).rev for e in await events_of(sub)]
    assert revs == [4, 5], "each revision once"
    assert hub.get("s") == (5, {"n": 5})
    assert feed.applied("redis1", [("s", 5, 7, _N5)], {"s": {"n": 5}}), "all there already"
    assert hub.info("s")[0].rev == 5


async def test_a_refused_signals_own_changes_are_left_to_the_feed() -> None:
    hub, feed = _mirrored()
    feed.load("redis1", 5, [("s", 3, False, Unreadable("bad"), False)])
    assert not feed.applied("redis1", [("s", 4, 6, _N4)], {"s": {"n": 4}})
    assert hub.info("s")[0].rev == 3
