"""A signal's outbox on its own: what it measures, seals, takes and refuses.

Driven through its public interface, as the publisher drives it; the end-to-end
behaviour (through a real hub and the publish WebSocket) is in test_transport.py.
"""

from __future__ import annotations

import threading

import pytest

from nb_sse_signals import _codec
from nb_sse_signals._errors import LimitError
from nb_sse_signals._outbox import Entry, Outbox
from nb_sse_signals._types import JSON


class Box:
    """An outbox with a value of its own, a settable limit, and a record of its wake-ups."""

    def __init__(self, key: str = "k", value: JSON = None, limit: int | None = None) -> None:
        self.value = value
        self.limit = limit
        self.woken = 0
        self.revs: list[int] = []
        self.outbox = Outbox(
            key,
            threading.RLock(),
            max_rate=10.0,
            limit=lambda: self.limit,
            schedule=self._wake,
            value=lambda: self.value,
            revision=lambda: self.revs[-1] if self.revs else 0,
            observed=lambda: self.revs.append,
        )

    def _wake(self, outbox: Outbox) -> None:
        assert outbox is self.outbox
        self.woken += 1

    def change(self, *ops: dict[str, JSON]) -> None:
        entries: list[Entry] = [(str(op["op"]), str(op["path"]), _codec.dumps(op)) for op in ops]
        size = sum(len(e[2]) for e in entries)
        self.outbox.record(entries, size, self.value)


def replace(path: str, value: JSON) -> dict[str, JSON]:
    return {"op": "replace", "path": path, "value": value}


def add(path: str, value: JSON) -> dict[str, JSON]:
    return {"op": "add", "path": path, "value": value}


@pytest.mark.parametrize(
    "ops",
    [
        [replace("/a", 1)],
        [add("/xs/0", "x" * 100), add("/xs/1", "y"), replace("/n", None)],
        [replace("", {"deep": [1, 2, {"k": "é"}]})],
    ],
)
def test_the_size_checked_is_the_size_of_the_message_taken(ops: list[dict[str, JSON]]) -> None:
    box = Box(key="k-1/some name")
    box.change(*ops)
    parcel = box.outbox.take(0.0)
    assert parcel is not None
    assert not parcel.whole
    message = _codec.loads(parcel.message)
    assert message == {"op": "patch", "name": "k-1/some name", "patch": ops, "base": 0}
    # In the frame's brackets, as the transports count, with the revision the patch is
    # made on ("base", added as it is taken): the message as it leaves.
    framed = len(parcel.message) + 2

    exact = Box(key="k-1/some name", limit=framed)
    exact.change(*ops)  # fits exactly
    over = Box(key="k-1/some name", limit=framed - 1)
    with pytest.raises(LimitError, match=f"at most {framed - 1:,} bytes.*got {framed:,}"):
        over.change(*ops)
    assert over.outbox.take(0.0) is None, "a refused change leaves nothing queued"


def test_the_size_checked_counts_every_digit_of_the_revision_the_patch_is_made_on() -> None:
    ops = [replace("/a", "x" * 50)]
    sized = Box()
    sized.revs.append(123_456)
    sized.change(*ops)
    parcel = sized.outbox.take(0.0)
    assert parcel is not None
    assert _codec.loads(parcel.message)["base"] == 123_456
    framed = len(parcel.message) + 2
    exact = Box(limit=framed)
    exact.revs.append(123_456)
    exact.change(*ops)  # fits exactly
    over = Box(limit=framed - 1)
    over.revs.append(123_456)
    with pytest.raises(LimitError, match=f"got {framed:,}"):
        over.change(*ops)


def test_changes_that_would_not_fit_one_message_together_leave_in_order_each_whole() -> None:
    first = [add("/xs/0", "a" * 40)]
    second = [add("/xs/1", "b" * 40)]
    alone = Box()
    alone.change(*first, *second)
    together = alone.outbox.take(0.0)
    assert together is not None
    box = Box(limit=len(together.message) + 1)  # framed, one byte short of both
    box.change(*first)
    box.change(*second)
    assert box.outbox.backlog(), "the first change was sealed as a message of its own"
    taken = [box.outbox.take(t) for t in (0.0, 0.0)]
    assert [_codec.loads(p.message)["patch"] for p in taken if p] == [first, second]
    assert not box.outbox.backlog()
    assert box.outbox.take(0.0) is None
    assert box.woken == 1, "one wake-up of the publisher for the burst"


def test_a_later_replace_makes_earlier_replaces_of_its_path_moot() -> None:
    box = Box()
    for n in range(100):
        box.change(replace("/n", n), replace("/m/x", n))
    box.change(replace("/m", {}))
    parcel = box.outbox.take(0.0)
    assert parcel is not None
    assert _codec.loads(parcel.message)["patch"] == [replace("/n", 99), replace("/m", {})]


def test_coalesced_changes_too_big_are_sent_again_as_the_whole_value() -> None:
    box = Box(value={"n": 1})
    box.change(replace("/n", 1))
    parcel = box.outbox.take(0.0)
    assert parcel is not None
    assert not parcel.whole
    assert box.outbox.mark_too_big(parcel), "take again at once"
    again = box.outbox.take(0.0)
    assert again is not None
    assert again.whole
    assert _codec.loads(again.message) == {"op": "declare", "name": "k", "value": {"n": 1}}


def test_a_whole_value_too_big_is_not_taken_again_until_it_changes() -> None:
    box = Box(value="big")
    box.outbox.resend_whole()
    parcel = box.outbox.take(0.0)
    assert parcel is not None
    assert parcel.whole
    assert not box.outbox.mark_too_big(parcel)
    assert box.outbox.take(0.0) is None, "the same value would be refused again"
    box.value = "small"
    box.change(replace("", "small"))
    after = box.outbox.take(0.0)
    assert after is not None
    assert after.whole, "the hub lacks the value: it goes whole"
    assert _codec.loads(after.message)["value"] == "small"


def test_while_the_hub_lacks_a_value_too_big_a_change_that_keeps_it_too_big_is_rejected() -> None:
    box = Box(value="x" * 100)
    box.outbox.resend_whole()
    parcel = box.outbox.take(0.0)
    assert parcel is not None
    box.outbox.mark_too_big(parcel)
    box.limit = 90  # a small change fits; the whole value does not
    with pytest.raises(LimitError, match="must hold the whole value"):
        box.change(replace("/0", 1))  # small, but the next message must carry all of it


def test_what_was_taken_is_observed_with_the_hubs_revision() -> None:
    box = Box()
    box.change(replace("/a", 1))
    parcel = box.outbox.take(5.0)
    assert parcel is not None
    parcel.sent(7)
    assert box.revs == [7]
    assert box.outbox.next_send == pytest.approx(5.1), "one send per 1/max_rate s"
    box.outbox.lift_rate_limit()
    assert box.outbox.next_send == 0.0


def test_a_superseded_outbox_drops_what_waits_for_good() -> None:
    box = Box()
    box.change(replace("/a", 1))
    box.outbox.resend_whole()
    box.outbox.supersede()
    assert box.outbox.superseded
    assert box.outbox.take(0.0) is None
