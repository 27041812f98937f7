"""SignalHub on its own: revisions, snapshots, resume, slow consumers, bad input, threads."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import math
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import jsonpatch
import orjson
import pytest

from nb_sse_signals import _protocol as proto
from nb_sse_signals._errors import (
    CursorError,
    LimitError,
    NotJSONError,
    PatchError,
    ProtocolError,
    SignalClosedError,
    UnknownSignalError,
)
from nb_sse_signals._hub import SignalHub, Subscription
from nb_sse_signals._limits import Limits
from nb_sse_signals._memory import MemoryBackplane
from nb_sse_signals._protocol import ServerSentEvent, SSEDecoder, parse_change
from nb_sse_signals._store import SignalStore

from ._docs import promised
from ._values import nested


async def events_of(sub: Subscription, timeout: float = 2.0) -> list[ServerSentEvent]:
    batch = await asyncio.wait_for(sub.next_batch(timeout), timeout + 1)
    assert batch, "expected a batch of events, got none before the timeout"
    return SSEDecoder().decode(batch.decode())


class Mirror:
    """A client that applies what it receives with the reference library, checking revisions."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.revs: dict[str, int] = {}
        self.cursor = ""

    def apply(self, events: list[ServerSentEvent]) -> None:
        for event in events:
            if event.id:
                self.cursor = event.id
            if event.event != "message":
                continue
            change = parse_change(event.data)
            if change.is_snapshot:
                self.values[change.name] = copy.deepcopy(change.patch[0]["value"])
            else:
                assert change.rev == self.revs[change.name] + 1, "revision gap or duplicate"
                self.values[change.name] = jsonpatch.apply_patch(
                    self.values[change.name], change.patch
                )
            self.revs[change.name] = change.rev


async def test_first_batch_is_a_snapshot_of_each_signal_then_patches() -> None:
    hub = SignalHub()
    hub.declare("a", {"value": 0})
    hub.declare("b", [1, 2])
    sub = hub.subscribe(["a", "b"])
    first = await events_of(sub)
    assert [parse_change(e.data).is_snapshot for e in first] == [True, True]
    mirror = Mirror()
    mirror.apply(first)
    hub.set("a", {"value": 1})
    hub.patch("b", [{"op": "add", "path": "/-", "value": 3}])
    mirror.apply(await events_of(sub))
    assert mirror.values == {"a": {"value": 1}, "b": [1, 2, 3]}
    assert mirror.revs == {"a": 1, "b": 1}


async def test_only_the_last_snapshot_of_a_batch_carries_the_cursor() -> None:
    hub = SignalHub()
    hub.declare("a", 1)
    hub.declare("b", 2)
    batch = await hub.subscribe(["a", "b"]).next_batch(1)
    assert batch is not None
    assert batch.count(b"id: ") == 1
    assert batch.rstrip().split(b"\n\n")[-1].startswith(b"id: ")


async def test_setting_an_equal_value_sends_nothing_and_keeps_the_revision() -> None:
    hub = SignalHub()
    hub.declare("a", {"x": [1, 2]})
    assert hub.set("a", {"x": [1, 2]}) == 0
    assert hub.set("a", {"x": [1, 2.0]}) == 1, "1 and 1.0 are different JSON values"
    assert hub.set("a", {"x": [True, 2.0]}) == 2, "1 and True are different JSON values"


async def test_resume_replays_exactly_the_missed_changes() -> None:
    hub = SignalHub()
    hub.declare("a", 0)
    hub.declare("b", "x")
    mirror = Mirror()
    sub = hub.subscribe(["a", "b"])
    mirror.apply(await events_of(sub))
    sub.close()
    for i in range(1, 6):
        hub.set("a", i)
        hub.set("b", "x" * (i + 1))
    hub.declare("other", 0)
    hub.set("other", 1)
    resumed = hub.subscribe(["a", "b"], mirror.cursor)
    events = await events_of(resumed)
    assert [parse_change(e.data).rev for e in events] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    mirror.apply(events)
    assert mirror.values == {"a": 5, "b": "xxxxxx"}


async def test_resume_beyond_history_falls_back_to_a_snapshot() -> None:
    hub = SignalHub(history=3)
    hub.declare("a", {"n": 0})
    hub.declare("quiet", {"n": 0})
    mirror = Mirror()
    mirror.apply(await events_of(hub.subscribe(["a", "quiet"])))
    for i in range(1, 10):
        hub.set("a", {"n": i})
    hub.set("quiet", {"n": 1})
    events = await events_of(hub.subscribe(["a", "quiet"], mirror.cursor))
    changes = [parse_change(e.data) for e in events]
    # The quiet signal is replayed from its own history; the busy one is snapshotted, last.
    assert [(c.name, c.is_snapshot) for c in changes] == [("quiet", False), ("a", True)]
    mirror.apply(events)
    assert mirror.values == {"a": {"n": 9}, "quiet": {"n": 1}}
    assert events[-1].id == f"{hub.epoch}-{12}"


async def test_a_replay_bigger_than_a_subscribers_buffer_is_sent_as_snapshots() -> None:
    # A client chooses its cursor: the oldest of a full history must not make one
    # connection hold every signal's history; it gets the state instead.
    hub = SignalHub(buffer_bytes=20_000)
    names = [f"s{i}" for i in range(5)]
    for name in names:
        hub.declare(name, {"n": 0, "pad": "x" * 500})
    mirror = Mirror()
    mirror.apply(await events_of(hub.subscribe(names)))
    for i in range(1, 11):
        for name in names:
            hub.set(name, {"n": i, "pad": str(i) * 500})  # 50 changes of 500+ bytes
    resumed = hub.subscribe(names, mirror.cursor)
    assert resumed.pending_bytes <= 20_000, resumed.pending_bytes
    events = await events_of(resumed)
    assert all(parse_change(e.data).is_snapshot for e in events), "state, not events"
    mirror.apply(events)
    assert mirror.values == {name: {"n": 10, "pad": "10" * 500} for name in names}
    # Under the buffer, the same cursor replays the changes themselves.
    small = hub.subscribe(names[:1], f"{hub.epoch}-{hub.store.seq - 10}")  # two rounds back
    replayed = [parse_change(e.data) for e in await events_of(small)]
    assert [(c.rev, c.is_snapshot) for c in replayed] == [(9, False), (10, False)]


async def test_subscribers_are_handed_the_hubs_own_frames_never_copies() -> None:
    hub = SignalHub()
    hub.declare("a", {"n": 0})
    first = hub.subscribe(["a"])
    cursor = SSEDecoder().decode(b"".join(first.take_frames()).decode())[-1].id
    subs = [hub.subscribe(["a"]) for _ in range(3)]
    for sub in subs:
        sub.take_frames()  # the first snapshots
    hub.set("a", {"n": 1})
    resumed = [hub.subscribe(["a"], cursor) for _ in range(3)]
    taken = [sub.take_frames() for sub in subs + resumed]
    (frame,) = taken[0]
    assert all(len(t) == 1 and t[0] is frame for t in taken), "one frame object for all"


async def test_a_cursor_from_another_hub_gets_snapshots() -> None:
    old, new = SignalHub(), SignalHub()
    new.declare("a", {"v": 1})
    events = await events_of(new.subscribe(["a"], f"{old.epoch}-5"))
    assert [parse_change(e.data).is_snapshot for e in events] == [True]


async def test_malformed_cursor_and_unknown_names_are_rejected_without_subscribing() -> None:
    hub = SignalHub()
    hub.declare("a", 1)
    with pytest.raises(CursorError, match="<epoch>-<sequence>"):
        hub.subscribe(["a"], "garbage")
    with pytest.raises(UnknownSignalError, match="'nope', 'nada'"):
        hub.subscribe(["a", "nope", "nada"])
    assert hub.subscriber_count() == 0


async def test_values_that_are_not_json_change_nothing() -> None:
    hub = SignalHub()
    hub.declare("a", {"ok": [1]})
    sub = hub.subscribe(["a"])
    await events_of(sub)
    for bad in ({"s": {1, 2}}, {"n": math.nan}, {1: "x"}):
        with pytest.raises(NotJSONError):
            hub.set("a", bad)
    with pytest.raises(NotJSONError, match="/0/value"):
        hub.patch("a", [{"op": "add", "path": "/x", "value": {3}}])
    assert hub.get("a") == (0, {"ok": [1]})
    assert await sub.next_batch(0.05) == b"", "a refused change must not reach subscribers"


async def test_a_patch_that_fails_half_way_leaves_the_value_as_it_was() -> None:
    hub = SignalHub()
    hub.declare("a", {"xs": [1, 2]})
    ops = [{"op": "add", "path": "/xs/-", "value": 3}, {"op": "remove", "path": "/missing"}]
    with pytest.raises(PatchError):
        hub.patch("a", ops)
    assert hub.get("a") == (0, {"xs": [1, 2]})
    with pytest.raises(PatchError, match="revision 0, got one made at 4"):
        hub.patch("a", [{"op": "add", "path": "/y", "value": 1}], base=4)


async def test_unknown_and_closed_signals_reject_changes() -> None:
    hub = SignalHub()
    with pytest.raises(UnknownSignalError, match="'ghost'"):
        hub.set("ghost", 1)
    hub.declare("a", 1)
    hub.close("a")
    with pytest.raises(SignalClosedError, match="closed"):
        hub.set("a", 2)


async def test_closing_tells_subscribers_and_late_subscribers() -> None:
    hub = SignalHub()
    hub.declare("a", 1)
    sub = hub.subscribe(["a"])
    await events_of(sub)
    hub.close("a")
    (closed,) = await events_of(sub)
    assert (closed.event, orjson.loads(closed.data)) == ("closed", {"name": "a", "rev": 0})
    (late,) = await events_of(hub.subscribe(["a"]))
    assert late.event == "closed"
    assert hub.names() == []


async def test_declaring_a_closed_signal_reopens_it_with_the_next_revision() -> None:
    hub = SignalHub()
    hub.declare("a", 1)
    sub = hub.subscribe(["a"])
    mirror = Mirror()
    mirror.apply(await events_of(sub))
    hub.close("a")
    hub.declare("a", {"new": True})
    mirror.apply(await events_of(sub))
    assert mirror.values["a"] == {"new": True}
    assert mirror.revs["a"] == 1


async def test_a_subscriber_that_falls_behind_gets_the_latest_state_within_its_bound() -> None:
    hub = SignalHub(buffer_bytes=2_000)
    hub.declare("a", {"n": 0, "pad": "x" * 50})
    slow = hub.subscribe(["a"])
    fast = hub.subscribe(["a"])
    fast_mirror, slow_mirror = Mirror(), Mirror()
    fast_mirror.apply(await events_of(fast))
    for n in range(1, 500):
        hub.set("a", {"n": n, "pad": "x" * 50})
        assert slow.pending_bytes <= 2_000
        fast_mirror.apply(await events_of(fast))  # keeps up: sees every revision in order
    assert fast_mirror.values["a"]["n"] == 499
    assert slow.resyncs >= 1
    events = await events_of(slow)
    assert [parse_change(e.data).is_snapshot for e in events] == [True]
    slow_mirror.apply(events)
    assert slow_mirror.values["a"]["n"] == 499, "the latest value is never skipped"


async def test_closed_subscriptions_leave_at_once() -> None:
    hub = SignalHub()
    hub.declare("a", 1)
    subs = [hub.subscribe(["a"]) for _ in range(10)]
    assert hub.subscriber_count("a") == 10
    for sub in subs:
        sub.close()
    assert hub.subscriber_count("a") == hub.subscriber_count() == 0
    assert await subs[0].next_batch(0.01) is None


async def test_publishing_from_many_threads_keeps_revisions_contiguous() -> None:
    hub = SignalHub()
    hub.declare("a", {"n": 0})
    sub = hub.subscribe(["a"])
    mirror = Mirror()
    mirror.apply(await events_of(sub))
    counter = iter(range(1, 10**9))
    lock = threading.Lock()

    def publish() -> None:
        for _ in range(200):
            with lock:
                n = next(counter)
            hub.set("a", {"n": n, f"t{threading.get_ident()}": n})

    threads = [threading.Thread(target=publish) for _ in range(4)]
    for t in threads:
        t.start()
    while mirror.revs["a"] < 800:
        mirror.apply(await events_of(sub))
    for t in threads:
        t.join(5)
    assert mirror.revs["a"] == 800
    assert mirror.values["a"] == hub.get("a")[1]


async def test_many_changes_in_one_loop_turn_arrive_as_one_batch() -> None:
    hub = SignalHub()
    hub.declare("a", 0)
    sub = hub.subscribe(["a"])
    await events_of(sub)
    for i in range(1, 101):
        hub.set("a", i)
    events = await events_of(sub)
    assert [parse_change(e.data).rev for e in events] == list(range(1, 101))


def test_info_reports_revisions_subscribers_and_rates() -> None:
    hub = SignalHub()
    hub.declare("a", 0)
    for i in range(5):
        hub.set("a", i + 1)
    (info,) = hub.info()
    assert (info.name, info.rev, info.subscribers, info.changes) == ("a", 5, 0, 5)
    assert info.rate == pytest.approx(1.0)


@pytest.mark.parametrize("epoch", ["a\nb", "\nabc", "abc ", "a-b", "x" * 33])
def test_a_hub_epoch_that_cannot_start_a_cursor_is_rejected(epoch: str) -> None:
    with pytest.raises(ValueError, match="letters and digits"):
        SignalHub(epoch=epoch)


async def test_a_subscriber_whose_listener_fails_is_dropped_and_the_others_still_get_everything(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = SignalHub()
    hub.declare("a", 0)
    bad = hub.subscribe(["a"])
    good = [hub.subscribe(["a"]) for _ in range(20)]
    got: list[list[int]] = [[] for _ in good]
    for sub in [bad, *good]:
        sub.take()  # the snapshots

    def broken() -> None:
        raise RuntimeError("a writer that broke")

    bad.on_ready(broken)
    for i, sub in enumerate(good):
        sub.on_ready(lambda i=i, sub=sub: got[i].extend(_revs(sub.take())))
    for n in range(1, 4):
        hub.set("a", n)
        await asyncio.sleep(0.01)
    assert bad.closed, "the failing subscriber should have been dropped"
    assert got == [[1, 2, 3]] * len(good)
    assert "waking a subscriber failed" in caplog.text


def _revs(frames: bytes) -> list[int]:
    return [parse_change(e.data).rev for e in SSEDecoder().decode(frames.decode()) if e.data]


# -- a publisher that is gone: its signals go stale, at once ------------------------------


def _kinds(events: list[ServerSentEvent]) -> list[tuple[str, Any]]:
    return [(e.event, orjson.loads(e.data)) for e in events]


async def test_a_gone_owners_signals_go_stale_at_once_on_every_stream_that_carries_them() -> None:
    hub = SignalHub()
    gone, alive = object(), object()
    hub.declare("a", 1, owner=gone)
    hub.declare("b", 2, owner=alive)
    both, only_b = hub.subscribe(["a", "b"]), hub.subscribe(["b"])
    await events_of(both)
    await events_of(only_b)
    assert hub.mark_orphaned(gone) == ["a"]
    assert hub.mark_orphaned(gone) == [], "said once"
    (stale,) = await events_of(both)
    assert (stale.event, stale.id) == ("stale", ""), "named, with no cursor"
    assert orjson.loads(stale.data) == {"name": "a", "rev": 0}
    assert await only_b.next_batch(0.1) == b"", "a stream without that signal hears nothing"
    assert hub.get("a") == (0, 1), "the value and revision stay"
    assert hub.mark_orphaned(None) == [], "signals nobody owns are nobody's orphans"


async def test_a_late_or_resuming_subscriber_learns_a_signal_is_stale_after_its_snapshot() -> None:
    hub = SignalHub()
    gone = object()
    hub.declare("a", {"n": 1}, owner=gone)
    hub.declare("b", 0)
    cursor = (await events_of(hub.subscribe(["a", "b"])))[-1].id
    hub.mark_orphaned(gone)
    late = _kinds(await events_of(hub.subscribe(["a", "b"])))
    assert [k for k, _ in late] == ["message", "message", "stale"]
    assert late[2][1] == {"name": "a", "rev": 0}
    resumed = _kinds(await events_of(hub.subscribe(["a", "b"], cursor)))
    assert resumed == [("stale", {"name": "a", "rev": 0})], "nothing to replay; still stale"
    fetched = [orjson.loads(d) for d in hub.snapshots(["a", "b"])]
    assert fetched[0]["stale"] is True, "the snapshot endpoint says so too"
    assert "stale" not in fetched[1]
    assert parse_change(orjson.dumps(fetched[0])).orphaned


async def test_an_orphan_declared_again_with_an_equal_value_ends_its_stale_by_a_snapshot() -> None:
    hub = SignalHub()
    gone, new = object(), object()
    hub.declare("a", {"n": 1}, owner=gone)
    sub = hub.subscribe(["a"])
    await events_of(sub)
    hub.mark_orphaned(gone)
    await events_of(sub)
    assert hub.declare("a", {"n": 1}, owner=new) == 1, "a revision, though the value is equal"
    (event,) = await events_of(sub)
    change = parse_change(event.data)
    assert event.event == "message"
    assert event.id, "in history, with its cursor"
    assert change.is_snapshot
    assert change.patch[0]["value"] == {"n": 1}
    assert "stale" not in orjson.loads(hub.snapshots(["a"])[0])
    assert [e.event for e in await events_of(hub.subscribe(["a"]))] == ["message"]
    assert hub.declare("a", {"n": 1}, owner=new) == 1, "a declare of a live signal is a diff again"


async def test_a_change_of_an_orphan_ends_its_stale() -> None:
    hub = SignalHub()
    gone = object()
    hub.declare("a", 0, owner=gone)
    hub.mark_orphaned(gone)
    hub.set("a", 1)
    assert "stale" not in orjson.loads(hub.snapshots(["a"])[0])


async def test_closing_what_a_gone_owner_left_keeps_what_keep_says_to() -> None:
    hub = SignalHub()
    gone = object()
    for name in ("k-abc/x", "k-def/y"):
        hub.declare(name, 0, owner=gone)
    hub.mark_orphaned(gone)
    closed = hub.close_orphaned(gone, keep=lambda name: name.startswith("k-abc/"))
    assert closed == ["k-def/y"]
    assert hub.owned_by(gone) == ["k-abc/x"], "kept, and still the gone owner's"
    assert "stale" in orjson.loads(hub.snapshots(["k-abc/x"])[0]), "kept stale"
    assert hub.close_orphaned(gone) == ["k-abc/x"]
    assert hub.owned_by(gone) == []


async def test_closing_what_a_gone_owner_left_spares_a_signal_taken_over_meanwhile() -> None:
    # Another thread (a worker applying a large message) re-declares it between the
    # listing of the gone owner's signals and their closing: here, inside keep().
    hub = SignalHub()
    gone, new = object(), object()
    hub.declare("a", 0, owner=gone)
    hub.declare("b", 0, owner=gone)
    hub.mark_orphaned(gone)

    def keep(name: str) -> bool:
        if name == "a":
            hub.declare("a", 5, owner=new)
        return False

    assert hub.close_orphaned(gone, keep) == ["b"]
    assert hub.get("a") == (1, 5), "the fresh declare stays open"
    assert hub.owned_by(new) == ["a"]
    assert hub.orphaned_by(gone) == []


async def test_a_gone_owners_signal_that_someone_changed_is_no_longer_its_orphan() -> None:
    hub = SignalHub()
    gone = object()
    hub.declare("a", 0, owner=gone)
    hub.mark_orphaned(gone)
    assert hub.orphaned_by(gone) == ["a"]
    hub.set("a", 1)  # live again: the change ended its stale
    assert hub.orphaned_by(gone) == []
    assert hub.close_orphaned(gone) == []
    assert hub.get("a") == (1, 1)


async def test_a_scopes_kept_orphans_count_against_its_next_publishers_quota() -> None:
    # As the server extension scopes a living kernel's keys: its orphans (kept while it
    # lives) and its next connection's signals share one signals_per_publisher.
    hub = SignalHub(
        limits=Limits(signals_per_publisher=2),
        quota_scope=lambda name: name.partition("/")[0] if name.startswith("k-") else None,
    )
    first, second = object(), object()
    hub.declare("k-a/x", 0, owner=first)
    hub.declare("k-a/y", 0, owner=first)
    hub.mark_orphaned(first)  # the kernel reconnects: first is gone, its signals kept
    with pytest.raises(LimitError, match="signals per publisher"):
        hub.declare("k-a/z", 0, owner=second)
    assert hub.declare("k-a/x", 1, owner=second) == 1, "taking its own back adds nothing"
    assert hub.declare("k-a/x", 2, owner=second) == 2, "nor does declaring it again"
    with pytest.raises(LimitError, match="in this scope"):
        hub.declare("k-a/z", 0, owner=second)
    assert hub.declare("other", 0, owner=second) == 0, "outside the scope: its own quota"
    assert hub.declare("k-b/x", 0, owner=second) == 0, "another scope has its own"
    assert hub.close_orphaned(first) == ["k-a/y"]
    assert hub.declare("k-a/z", 0, owner=second) == 0, "room once the orphan closed"


async def test_a_publisher_at_its_quota_may_declare_its_own_signals_again() -> None:
    hub = SignalHub(limits=Limits(signals_per_publisher=1))
    owner = object()
    hub.declare("a", 0, owner=owner)
    assert hub.declare("a", 1, owner=owner) == 1
    with pytest.raises(LimitError):
        hub.declare("b", 0, owner=owner)


# -- isolation: a signal this hub cannot serve never breaks the others --------------------


async def test_a_first_declare_of_a_value_no_encoder_can_write_is_rejected_and_stores_nothing() -> (
    None
):
    hub = SignalHub()
    with pytest.raises(NotJSONError, match="JSON encoders can write"):
        hub.declare("big", 2**70)
    with pytest.raises(NotJSONError, match="JSON encoders can write"):
        hub.declare("big", 2**70, parsed=True)
    assert hub.names() == []


async def test_a_value_that_cannot_be_written_when_served_is_refused_not_a_broken_stream() -> None:
    # The last line of defence: a value no check caught on its way in (put here by hand).
    hub = SignalHub()
    hub.declare("bad", 0)
    hub.declare("ok", 0)
    hub.store.entries["bad"].value = nested(300)
    hub.store.entries["bad"].snapshot = None
    events = _kinds(await events_of(hub.subscribe(["bad", "ok"])))
    assert [k for k, _ in events] == ["refused", "message"]
    assert "error" in orjson.loads(hub.snapshots(["bad"])[0])


async def test_a_value_found_unwritable_when_served_tells_the_subscribers_it_already_has() -> None:
    hub = SignalHub()
    hub.declare("bad", 0)
    hub.declare("ok", 0)
    early = hub.subscribe(["bad", "ok"])
    cursor = (await events_of(early))[-1].id
    hub.set("ok", 1)
    await events_of(early)
    hub.store.entries["bad"].value = nested(300)  # (by hand: no check caught it on its way in)
    hub.store.entries["bad"].snapshot = None
    late = _kinds(await events_of(hub.subscribe(["bad", "ok"])))
    assert [k for k, _ in late] == ["refused", "message"]
    (told,) = await events_of(early)
    assert told.event == "refused", "the subscriber it already had is told too"
    assert told.id, "with the cursor it was refused at"
    assert orjson.loads(told.data)["name"] == "bad"
    # Its history restarted: resuming from before the refusal gets it, not silence.
    resumed = _kinds(await events_of(hub.subscribe(["bad", "ok"], cursor)))
    assert ("refused", "bad") in [(k, d.get("name")) for k, d in resumed]
    hub.set("bad", 1)  # a publisher fixes it: served again, as a snapshot
    assert orjson.loads(hub.snapshots(["bad"])[0])["patch"][0]["value"] == 1


async def test_snapshots_are_the_bytes_built_for_the_revision_not_serialised_again() -> None:
    hub = SignalHub()
    hub.declare("a", {"x": 1})
    sub = hub.subscribe(["a"])  # a subscriber's snapshot builds the revision's frame
    frame = b"".join(sub.take_frames())
    # Behind the hub's back (no revision): a snapshot served from the built bytes
    # cannot see it; one serialised again per request would.
    hub.store.entries["a"].value["x"] = 2  # type: ignore[index]
    (data,) = hub.snapshots(["a"])
    assert data in frame, "the endpoint serves the frame's own data"
    assert parse_change(data.decode()).patch[0]["value"] == {"x": 1}
    hub.set("a", {"x": 3})
    (data,) = hub.snapshots(["a"])
    assert parse_change(data.decode()).patch[0]["value"] == {"x": 3}, "a new revision, new bytes"


def test_frame_data_takes_the_one_data_line_out_of_a_built_frame() -> None:
    assert proto.frame_data(proto.encode_event(b'{"a":1}')) == b'{"a":1}'
    assert proto.frame_data(proto.encode_event(b"{}", event="closed")) == b"{}"
    with pytest.raises(ProtocolError, match="one data line"):
        proto.frame_data(proto.encode_event(b"a\nb"))


async def test_a_replay_is_read_from_history_a_part_at_a_time_and_resyncs_if_history_moves_on() -> (
    None
):
    hub = SignalHub(history=300)
    hub.declare("a", {"n": 0})
    mirror = Mirror()
    mirror.apply(await events_of(hub.subscribe(["a"])))
    for i in range(1, 201):
        hub.set("a", {"n": i})
    resumed = hub.subscribe(["a"], mirror.cursor)
    assert resumed.pending_bytes == 0, "nothing is copied out of history up front"
    first = resumed.take_frames()
    assert 0 < len(first) < 200, "one part, not the whole replay"
    mirror.apply(SSEDecoder().decode(b"".join(first).decode()))
    # History moves past where the replay is: the rest would not lead to the value.
    for i in range(201, 601):
        hub.set("a", {"n": i})
    rest = b"".join(resumed.take_frames()).decode()
    events = SSEDecoder().decode(rest)
    assert [parse_change(e.data).is_snapshot for e in events] == [True], "state instead"
    mirror.apply(events)
    assert mirror.values == {"a": {"n": 600}}


async def test_closing_a_subscription_gives_its_place_back_to_the_next_subscriber() -> None:
    # A browser that reconnects a thousand times must not use up the hub's
    # subscriber limit: every close hands its place back.
    hub = SignalHub(limits=Limits(subscribers=2, subscribers_per_signal=2))
    hub.declare("a", 1)
    for cycle in range(5):
        first, second = hub.subscribe(["a"]), hub.subscribe(["a"])
        with pytest.raises(LimitError, match="expected at most 2 subscribers, got one more"):
            hub.subscribe(["a"])
        first.close()
        second.close()
        first.close()  # a second close gives nothing back twice
        assert hub.subscriber_count() == 0, f"cycle {cycle}"
    again = hub.subscribe(["a"])
    assert (await events_of(again))[0].event == "message"
    again.close()


def test_snapshots_serve_every_name_after_a_closed_one() -> None:
    hub = SignalHub()
    for name in ("gone", "live", "also"):
        hub.declare(name, {"n": name})
    hub.close("gone")
    snaps = [orjson.loads(data) for data in hub.snapshots(["gone", "live", "also"])]
    assert [s["name"] for s in snaps] == ["gone", "live", "also"]
    assert snaps[1]["patch"][0]["value"] == {"n": "live"}


def test_the_buffer_and_closed_memory_defaults_are_the_ones_docs_security_md_states() -> None:
    found = promised(
        "security.md",
        r"bounded by its buffer \((\d+) MiB or ([\d,]+) events\).*"
        r"closed signals remembered: ([\d,]+)\.",
    )
    mib, events, remembered = (int(g.replace(",", "")) for g in found)
    hub = SignalHub()
    assert (hub.buffer_bytes, hub.buffer_events) == (mib << 20, events)
    # One more closed signal than it remembers: the oldest is forgotten (unknown), the
    # next is still known to be closed (a late subscriber learns it closed, not 404).
    for i in range(remembered + 1):
        hub.declare(f"c{i}", i)
        hub.close(f"c{i}")
    with pytest.raises(UnknownSignalError):
        hub.snapshots(["c0"])
    (closed,) = hub.snapshots(["c1"])
    assert orjson.loads(closed)["name"] == "c1"


def test_parsed_is_a_keyword_only_promise_never_a_stray_positional() -> None:
    # parsed=True skips the check and the copy of a value: a third positional argument
    # must not turn it on by accident.
    hub = SignalHub()
    hub.declare("a", [1])
    with pytest.raises(TypeError):
        hub.set("a", [2], True)  # type: ignore[misc]
    with pytest.raises(TypeError):
        hub.declare("a", [2], None, True)  # type: ignore[misc]
    assert hub.set(name="a", value=[3]) == 1
    assert hub.get("a") == (1, [3])


def test_info_gives_every_signal_or_the_one_named() -> None:
    hub = SignalHub()
    hub.declare("a", 1)
    hub.declare("b", 2)
    hub.set("b", 3)
    hub.close("a")
    assert [(i.name, i.rev, i.closed) for i in hub.info()] == [("a", 0, True), ("b", 1, False)]
    (b,) = hub.info("b")
    assert (b.name, b.rev, b.changes, b.subscribers) == ("b", 1, 1, 0)
    assert hub.info("unknown") == []


async def test_subscriber_count_counts_a_signals_subscribers_or_each_subscription_once() -> None:
    hub = SignalHub()
    hub.declare("a", 1)
    hub.declare("b", 2)
    both, only_a = hub.subscribe(["a", "b"]), hub.subscribe(["a"])
    try:
        assert (hub.subscriber_count("a"), hub.subscriber_count("b")) == (2, 1)
        assert hub.subscriber_count() == 2, "a subscription to two signals is one subscriber"
        assert hub.subscriber_count("unknown") == 0
    finally:
        both.close()
        only_a.close()
    assert hub.subscriber_count() == hub.subscriber_count("a") == 0


@pytest.mark.parametrize("parsed", [False, True])
def test_a_patch_of_more_ops_than_the_limit_is_rejected_and_changes_nothing(parsed: bool) -> None:
    hub = SignalHub(limits=Limits(ops_per_patch=3))
    hub.declare("xs", [])
    add = {"op": "add", "path": "/-", "value": 1}
    assert hub.patch("xs", [dict(add) for _ in range(3)], parsed=parsed) == 1, "at the limit"
    with pytest.raises(LimitError, match="expected at most 3 ops per patch"):
        hub.patch("xs", [dict(add) for _ in range(4)], parsed=parsed)
    with pytest.raises(LimitError, match="expected at most 3 ops per patch"):
        hub.patch("xs", [dict(add) for _ in range(40)], parsed=parsed)
    assert hub.get("xs") == (1, [1, 1, 1])


def test_owned_by_lists_only_the_owners_open_signals() -> None:
    hub = SignalHub()
    mine, theirs = object(), object()
    hub.declare("a", 1, owner=mine)
    hub.declare("b", 2, owner=mine)
    hub.declare("c", 3, owner=theirs)
    hub.declare("free", 4)
    hub.close("b")
    assert hub.owned_by(mine) == ["a"]
    assert hub.owned_by(theirs) == ["c"]
    assert hub.owned_by(object()) == []


def test_the_rate_counts_only_the_last_five_seconds_of_changes() -> None:
    hub = SignalHub()
    hub.declare("a", 0)
    for n in range(1, 6):
        hub.set("a", n)
    (now,) = hub.info("a")
    assert (now.changes, now.rate) == (5, 1.0), "five changes in the last five seconds"
    # Earlier changes (their times set by hand: a test must not wait for them): those
    # of the last five seconds count, older ones no longer do.
    now = time.monotonic()
    hub.store.entries["a"].times.extendleft([now - 60] * 10 + [now - 5.5] * 10 + [now - 4.5] * 5)
    (later,) = hub.info("a")
    assert later.rate == 2.0, "ten changes in the last five seconds"


class _Telling(MemoryBackplane):
    """The in-memory backplane, keeping what the hub asks it to tell other hubs (a
    shared one sends it through Redis: tests/test_redis.py; alone, there is nobody)."""

    def __init__(self, store: SignalStore) -> None:
        super().__init__(store)
        self.told: list[tuple[str, int]] = []

    def orphaned(self, name: str, rev: int) -> None:
        self.told.append((name, rev))


def test_a_gone_owners_signals_are_told_to_the_other_hubs_once_each() -> None:
    hub = SignalHub()
    backplane = _Telling(hub.store)
    hub.attach_backplane(backplane)
    gone, alive = object(), object()
    hub.declare("a", 1, owner=gone)
    hub.set("a", 2)
    hub.declare("b", 1, owner=gone)
    hub.declare("c", 1, owner=alive)
    assert hub.mark_orphaned(gone) == ["a", "b"]
    assert hub.mark_orphaned(gone) == []
    assert backplane.told == [("a", 1), ("b", 0)], "each once, at its revision"


def test_declare_checks_and_copies_a_value_unless_told_it_is_parsed_json() -> None:
    hub = SignalHub()
    for bad in ({"s": {1, 2}}, {"n": math.nan}, {1: "x"}):
        with pytest.raises(NotJSONError):
            hub.declare("bad", bad)
    assert hub.names() == [], "nothing declared"
    mine: dict[str, Any] = {"xs": (1, 2)}
    hub.declare("a", mine)
    mine["ys"] = 1  # the hub holds its own copy, as JSON (a tuple is a list)
    assert hub.get("a") == (0, {"xs": [1, 2]})
    parsed: Any = orjson.loads(b'{"xs": [1, 2]}')
    hub.declare("p", parsed, parsed=True)
    assert hub.get("p") == (0, {"xs": [1, 2]})


def test_close_if_orphaned_says_no_for_a_signal_closed_or_unknown() -> None:
    hub = SignalHub()
    gone = object()
    hub.declare("a", 1, owner=gone)
    hub.mark_orphaned(gone)
    hub.close("a")
    assert hub.close_if_orphaned("a", gone) is False, "closed already"
    assert hub.close_if_orphaned("unknown", gone) is False
    hub.declare("b", 1, owner=gone)
    hub.mark_orphaned(gone)
    assert hub.close_if_orphaned("b", gone) is True
    assert hub.close_if_orphaned("b", gone) is False, "closed once"


class _Waiting(MemoryBackplane):
    """The in-memory backplane, saying its commits wait (as Redis's round trips do)."""

    waits = True

    def __init__(self, store: SignalStore, executor: Executor) -> None:
        super().__init__(store)
        self.executor = executor


def test_commits_leave_the_loop_only_for_a_backplane_that_waits() -> None:
    hub = SignalHub()
    assert isinstance(hub.backplane, MemoryBackplane)
    assert hub.commit_executor is None, "the in-memory hub commits on the loop"
    with ThreadPoolExecutor(1) as pool:
        waiting = _Waiting(hub.store, pool)
        hub.attach_backplane(waiting)
        assert (hub.backplane, hub.commit_executor) == (waiting, pool)


def test_a_signals_info_is_a_snapshot_no_reader_can_change() -> None:
    hub = SignalHub()
    hub.declare("a", 1)
    (info,) = hub.info("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.rev = 5  # type: ignore[misc]
    hub.set("a", 2)
    assert (info.rev, hub.info("a")[0].rev) == (0, 1)


def test_the_hubs_options_are_taken_only_by_name() -> None:
    with pytest.raises(TypeError):
        SignalHub(Limits())  # type: ignore[misc]
    assert SignalHub(limits=Limits(signals=3)).limits.signals == 3


@pytest.mark.parametrize("parsed", [False, True])
def test_a_patch_that_is_not_a_list_is_refused_as_such(parsed: bool) -> None:
    hub = SignalHub()
    hub.declare("a", {"n": 1})
    for ops in ({"op": "add", "path": "/m", "value": 2}, "add /m 2", None):
        with pytest.raises(PatchError, match="expected a list of operations"):
            hub.patch("a", ops, parsed=parsed)  # type: ignore[arg-type]
    assert hub.get("a") == (0, {"n": 1})
