"""Subscription: one subscriber's bounded backlog, driven through a real SignalHub."""

from __future__ import annotations

import asyncio

import pytest

from nb_sse_signals._hub import SignalHub, Subscription
from nb_sse_signals._protocol import SSEDecoder, parse_change


async def changes_of(sub: Subscription) -> list[tuple[int, bool]]:
    """(revision, is a snapshot) of every event of the next batch."""
    batch = await asyncio.wait_for(sub.next_batch(1.0), 2.0)
    assert batch, "expected a batch of events, got none before the timeout"
    return [
        (change.rev, change.is_snapshot)
        for change in (parse_change(e.data) for e in SSEDecoder().decode(batch.decode()))
    ]


@pytest.mark.parametrize("bound", [1, 3, 10])
async def test_a_backlog_of_buffer_events_is_kept_and_one_more_turns_it_into_a_snapshot(
    bound: int,
) -> None:
    hub = SignalHub(buffer_events=bound)
    hub.declare("a", {"n": 0})
    sub = hub.subscribe(["a"])
    assert await changes_of(sub) == [(0, True)]
    for n in range(1, bound + 1):
        hub.set("a", {"n": n})
    assert await changes_of(sub) == [(n, False) for n in range(1, bound + 1)], (
        "up to the bound, every change is sent as it was"
    )
    assert sub.resyncs == 0
    for n in range(bound + 1, 2 * bound + 2):
        hub.set("a", {"n": n})
    assert await changes_of(sub) == [(2 * bound + 1, True)], (
        "one event past the bound: the backlog is dropped and the latest state is sent"
    )
    assert sub.resyncs == 1
    sub.close()


async def test_the_byte_bound_is_kept_to_the_byte() -> None:
    hub = SignalHub()
    hub.declare("a", {"v": ""})
    sub = hub.subscribe(["a"])
    await changes_of(sub)
    hub.set("a", {"v": "x"})
    frame = await asyncio.wait_for(sub.next_batch(1.0), 2.0)
    assert frame
    # Two frames of the same size fit in exactly twice that size, and not one byte less.
    for bound, resynced in ((2 * len(frame), False), (2 * len(frame) - 1, True)):
        hub.buffer_bytes = bound
        hub.set("a", {"v": "y"})
        hub.set("a", {"v": "x"})
        assert (await changes_of(sub))[-1][1] is resynced, f"bound {bound}"
    sub.close()


async def test_a_waiting_subscriber_is_woken_with_what_was_pushed_not_a_keep_alive() -> None:
    hub = SignalHub()
    hub.declare("a", {"n": 0})
    sub = hub.subscribe(["a"])
    await changes_of(sub)
    waiting = asyncio.ensure_future(sub.next_batch(5.0))
    await asyncio.sleep(0.05)  # it waits
    hub.set("a", {"n": 1})
    batch = await asyncio.wait_for(waiting, 2.0)
    assert batch, "woken by the change: its frames, not an empty keep-alive"
    assert [parse_change(e.data).rev for e in SSEDecoder().decode(batch.decode())] == [1]
    sub.close()


async def test_with_no_timeout_a_subscriber_waits_until_there_is_something() -> None:
    hub = SignalHub()
    hub.declare("a", {"n": 0})
    sub = hub.subscribe(["a"])
    await sub.next_batch()
    waiting = asyncio.ensure_future(sub.next_batch())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    hub.set("a", {"n": 1})
    assert await asyncio.wait_for(waiting, 2.0)
    closing = asyncio.ensure_future(sub.next_batch())
    await asyncio.sleep(0.01)
    sub.close()
    assert await asyncio.wait_for(closing, 2.0) is None, "closing ends a wait with None"


async def test_a_waiting_subscriber_that_falls_behind_is_woken_at_once_with_the_state() -> None:
    hub = SignalHub(buffer_bytes=100)
    hub.declare("a", {"pad": ""})
    sub = hub.subscribe(["a"])
    await changes_of(sub)
    waiting = asyncio.ensure_future(sub.next_batch(30.0))
    await asyncio.sleep(0.05)
    hub.set("a", {"pad": "x" * 200})  # one frame past the bound
    batch = await asyncio.wait_for(waiting, 2.0)
    assert [parse_change(e.data).is_snapshot for e in SSEDecoder().decode(batch.decode())] == [True]
    assert sub.pending_bytes == 0
    sub.close()


async def test_after_a_snapshot_of_the_state_changes_come_as_patches_again() -> None:
    hub = SignalHub(buffer_events=2)
    hub.declare("a", {"n": 0})
    sub = hub.subscribe(["a"])
    await changes_of(sub)
    for n in range(1, 5):
        hub.set("a", {"n": n})
    assert await changes_of(sub) == [(4, True)]
    assert sub.pending_bytes == 0
    hub.set("a", {"n": 5})
    assert sub.pending_bytes > 0
    assert await changes_of(sub) == [(5, False)]
    assert sub.pending_bytes == 0
    sub.close()


async def test_resend_snapshot_drops_what_is_pending_and_sends_the_state() -> None:
    hub = SignalHub()
    hub.declare("a", {"n": 0})
    sub = hub.subscribe(["a"])
    await changes_of(sub)
    hub.set("a", {"n": 1})
    sub.resend_snapshot()
    assert sub.pending_bytes == 0
    assert await changes_of(sub) == [(1, True)]
    hub.set("a", {"n": 2})
    assert await changes_of(sub) == [(2, False)]
    assert sub.resyncs == 0, "asked for, not fallen behind"
    sub.close()


async def test_closed_says_whether_the_subscription_has_left() -> None:
    hub = SignalHub()
    hub.declare("a", 1)
    sub = hub.subscribe(["a"])
    assert sub.closed is False
    sub.close()
    assert sub.closed is True


async def test_a_replay_that_ends_on_a_whole_part_hands_over_to_what_came_meanwhile() -> None:
    # A resume replays history in parts (64 events each: _hub._REPLAY_PART); a change
    # published while the replay is going waits in the backlog. When the replay ends
    # exactly on a part, the next batch is empty of history and must be that backlog.
    hub = SignalHub()
    hub.declare("a", {"n": 0})
    first = hub.subscribe(["a"])
    batch = await asyncio.wait_for(first.next_batch(1.0), 2.0)
    assert batch
    cursor = [e.id for e in SSEDecoder().decode(batch.decode())][-1]
    first.close()
    for n in range(1, 65):
        hub.set("a", {"n": n})
    sub = hub.subscribe(["a"], cursor)
    assert await changes_of(sub) == [(n, False) for n in range(1, 65)]
    hub.set("a", {"n": 65})
    assert await changes_of(sub) == [(65, False)]
    sub.close()
