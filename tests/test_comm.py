"""The comm transport: a kernel's own hub relayed to widget comms, within Jupyter's limits.

A recording ``send`` stands in for the widget's comm (no kernel needed here; the
browser tests drive the real one). What it records is applied with ``SignalState``,
the Python twin of the browser's ``Signal``, so every test also checks that a
client following the relay shows only values the publisher had.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nb_sse_signals import ServerSignal, _default
from nb_sse_signals._comm import CommRelay
from nb_sse_signals._hub import SignalHub
from nb_sse_signals._protocol import ENV_SECRET, ENV_URL, parse_change, parse_closed
from nb_sse_signals._signal_state import SignalState

from ._docs import promised
from .conftest import wait_until


class Recorder:
    """A comm that keeps what it was sent, and a client that applies it."""

    def __init__(self, name: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self.times: list[float] = []  # time.monotonic() of each message (the loop's clock)
        self.state = SignalState(name)
        self.shown: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, message: dict[str, Any]) -> None:
        with self.lock:
            self.messages.append(message)
            self.times.append(time.monotonic())
            if message["type"] == "events":
                for event, data in message["events"]:
                    if event == "closed":
                        self.state.close(parse_closed(data)[1])
                    elif self.state.receive(parse_change(data)):
                        self.shown.append(self.state.rev)
            elif message["type"] == "snapshot" and self.state.snapshot(
                parse_change(message["data"])
            ):
                self.shown.append(self.state.rev)

    def events(self) -> int:
        return sum(1 for m in self.messages if m["type"] == "events")


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A kernel with no server extension: signals live in this process."""
    for var in (ENV_URL, ENV_SECRET):
        monkeypatch.delenv(var, raising=False)
    _default.reset_default_publisher()
    try:
        yield
    finally:
        _default.reset_default_publisher()


def relay_of(signal: ServerSignal) -> CommRelay:
    return _default.comm_relay(signal._publisher)


# asyncio runs a timer up to its clock's resolution early; a flush is never sooner.
EARLY = 1e-3


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_a_channel_gets_a_snapshot_then_contiguous_changes(local: None) -> None:
    s = ServerSignal("count", {"n": 0}, scope="k-t", max_rate=1000)
    rec = Recorder(s.key)
    channel = relay_of(s).attach(s.key, rec)
    try:
        wait_until(lambda: rec.state.rev == 0, what="the first snapshot")
        for n in range(1, 6):
            s.set({"n": n})
            s._publisher.flush()
        wait_until(lambda: rec.state.rev == 5, what="five changes")
    finally:
        channel.detach()
    assert rec.state.value == {"n": 5}
    assert rec.state.state == "live"
    first = rec.messages[0]["events"][0]
    assert first[0] == "message"
    assert parse_change(first[1]).is_snapshot, "a snapshot first, as over SSE"
    patches = [parse_change(d) for m in rec.messages[1:] for _, d in m.get("events", [])]
    assert any(not p.is_snapshot for p in patches), "changes travel as patches, not values"


def test_ten_thousand_sets_in_a_second_stay_far_under_jupyters_limits(local: None) -> None:
    s = ServerSignal("burst", {"i": 0, "xs": []}, scope="k-t")
    rec = Recorder(s.key)
    relay = relay_of(s)
    channel = relay.attach(s.key, rec)
    try:
        wait_until(lambda: rec.state.rev >= 0, what="the first snapshot")
        start, before = time.monotonic(), relay.messages_sent
        for i in range(10_000):
            s.set({"i": i, "xs": [i % 7]})
        s._publisher.flush()
        wait_until(lambda: rec.state.value == {"i": 9999, "xs": [9999 % 7]}, what="the last value")
        elapsed = time.monotonic() - start
        sent = relay.messages_sent - before
    finally:
        channel.detach()
    # Coalesced by the publisher's rate limit (30/s) and the relay's spacing (60/s at
    # most): a slow machine only sends fewer. Jupyter's limit is 1,000/s.
    assert sent <= 60 * elapsed + 5, f"{sent} messages in {elapsed:.2f} s"
    assert sent >= 2, "the burst is relayed as it goes, not only at the end"
    shortest = min(gaps(rec.times))
    assert shortest >= relay.min_interval - EARLY, f"two flushes {shortest * 1000:.1f} ms apart"
    assert rec.state.state == "live"
    assert rec.shown == sorted(set(rec.shown)), "revisions only go forward"


def test_one_busy_channel_is_flushed_at_most_sixty_times_a_second(local: None) -> None:
    # A publisher of 1,000 changes a second, so only the relay's own spacing
    # (min_interval, 1/60 s) keeps its flushes apart.
    s = ServerSignal("busy", 0, scope="k-t", max_rate=1000)
    rec = Recorder(s.key)
    relay = relay_of(s)
    channel = relay.attach(s.key, rec)
    try:
        wait_until(lambda: rec.state.rev >= 0, what="the first snapshot")
        deadline = time.monotonic() + 0.6
        n = 0
        while time.monotonic() < deadline:
            n += 1
            s.set(n)
            time.sleep(0.001)
        s._publisher.flush()
        wait_until(lambda: rec.state.value == n, what="the last value")
    finally:
        channel.detach()
    assert len(rec.times) >= 5, rec.times
    shortest = min(gaps(rec.times))
    assert shortest >= relay.min_interval - EARLY, f"two flushes {shortest * 1000:.1f} ms apart"


def test_many_widgets_share_one_message_budget(local: None) -> None:
    signals = [ServerSignal(f"w{i}", 0, scope="k-m", max_rate=1000) for i in range(40)]
    relay = relay_of(signals[0])
    relay.max_messages = 100.0  # tighter than the default, to see it bind
    recorders = [Recorder(s.key) for s in signals]
    # (relay.messages_sent, time) per message: the count moves only at the end of a
    # flush, so the messages of one flush share it.
    stamps: list[tuple[int, float]] = []

    def stamped(recorder: Recorder) -> Callable[[dict[str, Any]], None]:
        def send(message: dict[str, Any]) -> None:
            stamps.append((relay.messages_sent, time.monotonic()))
            recorder(message)

        return send

    channels = [relay.attach(s.key, stamped(r)) for s, r in zip(signals, recorders, strict=True)]
    try:
        wait_until(lambda: all(r.state.rev >= 0 for r in recorders), what="every first snapshot")
        start, before = time.monotonic(), relay.messages_sent
        deadline = start + 1.5
        n = 0
        while time.monotonic() < deadline:
            n += 1
            for s in signals:
                s.set(n)
            time.sleep(0.005)
        for s in signals:
            s._publisher.flush()
        wait_until(
            lambda: all(r.state.value == n for r in recorders), timeout=10, what="every last value"
        )
        elapsed = time.monotonic() - start
        sent = relay.messages_sent - before
    finally:
        for channel in channels:
            channel.detach()
    # One message per channel per flush, flushes spaced so the total stays in budget:
    # after a flush of k messages, the next waits k / max_messages seconds.
    assert sent <= relay.max_messages * elapsed + len(signals), f"{sent} in {elapsed:.2f} s"
    flushes = [
        (min(t for n, t in stamps if n == flush), sum(1 for n, _ in stamps if n == flush))
        for flush in sorted({n for n, _ in stamps})
    ]
    assert len(flushes) >= 3, flushes
    for (at, count), (next_at, _) in itertools.pairwise(flushes):
        wait = max(relay.min_interval, count / relay.max_messages)
        assert next_at - at >= wait - EARLY, f"{count} messages, then {next_at - at:.3f} s"


async def test_the_byte_budget_spaces_flushes_by_the_bytes_they_carried() -> None:
    hub = SignalHub()
    hub.declare("big", "")
    loop = asyncio.get_running_loop()
    # 20 kB/s and values of 2 kB: a flush of k values must be followed by k * 0.1 s
    # of quiet, far more than the message budget (1 / 1,000 per s) or min_interval ask.
    relay = CommRelay(hub, loop, max_messages=1_000.0, max_bytes=20_000.0, min_interval=0.001)
    sent: list[tuple[float, int]] = []
    done = asyncio.Event()

    def send(message: dict[str, Any]) -> None:
        size = sum(len(data) for _, data in message["events"])
        sent.append((loop.time(), size))
        if '"00020' in message["events"][-1][1]:
            done.set()

    channel = relay.attach("big", send)
    try:
        for n in range(1, 21):
            hub.set("big", f"{n:05d}" + "x" * 2_000)
            await asyncio.sleep(0.05)
        await asyncio.wait_for(done.wait(), 10)
    finally:
        channel.detach()
    assert len(sent) >= 3, sent
    for (at, size), (next_at, _) in itertools.pairwise(sent):
        wait = size / relay.max_bytes
        assert next_at - at >= wait - EARLY, f"{size} bytes, then {next_at - at:.3f} s"
    assert relay.bytes_sent == sum(size for _, size in sent)
    assert relay.messages_sent == len(sent), "the budget counts each message sent, once"


def test_a_view_that_says_hello_gets_the_snapshot_on_the_stream(local: None) -> None:
    s = ServerSignal("hello", [1, 2], scope="k-t")
    rec = Recorder(s.key)
    channel = relay_of(s).attach(s.key, rec)
    try:
        wait_until(lambda: rec.messages, what="the first snapshot")
        rec.messages.clear()
        channel.receive({"type": "hello"})
        wait_until(lambda: rec.messages, what="the answer to hello")
    finally:
        channel.detach()
    (answer,) = rec.messages
    ((event, data),) = answer["events"]
    assert event == "message"
    assert parse_change(data).patch == [{"op": "replace", "path": "", "value": [1, 2]}]


def test_a_snapshot_request_is_answered_as_the_snapshot_endpoint_would(local: None) -> None:
    s = ServerSignal("asked", {"a": 1}, scope="k-t")
    rec = Recorder(s.key)
    channel = relay_of(s).attach(s.key, rec)
    try:
        wait_until(lambda: rec.messages, what="the first snapshot")
        channel.receive({"type": "snapshot"})
        wait_until(lambda: rec.messages[-1]["type"] == "snapshot", what="the snapshot reply")
    finally:
        channel.detach()
    assert parse_change(rec.messages[-1]["data"]).patch[0]["value"] == {"a": 1}


def test_a_message_of_no_known_type_is_ignored_and_logged(
    local: None, caplog: pytest.LogCaptureFixture
) -> None:
    s = ServerSignal("odd", 1, scope="k-t")
    rec = Recorder(s.key)
    channel = relay_of(s).attach(s.key, rec)
    try:
        channel.receive({"type": "set", "value": 2})  # viewers never write a signal
        channel.receive("not an object")
        s.set(3)
        s._publisher.flush()
        wait_until(lambda: rec.state.value == 3, what="the relay to carry on")
    finally:
        channel.detach()
    assert "ignoring a comm message of no known type" in caplog.text


def test_closing_the_signal_reaches_the_channel_as_closed(local: None) -> None:
    s = ServerSignal("bye", 1, scope="k-t")
    rec = Recorder(s.key)
    channel = relay_of(s).attach(s.key, rec)
    try:
        wait_until(lambda: rec.state.rev == 0, what="the first snapshot")
        s.set(2)
        s.close()
        wait_until(lambda: rec.state.state == "closed", what="the closed event")
    finally:
        channel.detach()
    assert rec.state.value == 2


def test_a_detached_channel_hears_nothing_more_and_leaves_the_hub(local: None) -> None:
    s = ServerSignal("gone", 1, scope="k-t")
    rec = Recorder(s.key)
    hub = _default.local_hub(s._publisher)
    channel = relay_of(s).attach(s.key, rec)
    wait_until(lambda: hub.subscriber_count(s.key) == 1, what="the relay to subscribe")
    channel.detach()
    channel.detach()  # idempotent
    wait_until(lambda: hub.subscriber_count(s.key) == 0, what="the relay to leave")
    count = len(rec.messages)
    s.set(2)
    s._publisher.flush()
    time.sleep(0.3)
    assert len(rec.messages) == count


def test_a_send_that_fails_does_not_stop_other_channels(
    local: None, caplog: pytest.LogCaptureFixture
) -> None:
    s = ServerSignal("shared", 0, scope="k-t", max_rate=1000)

    def broken(message: dict[str, Any]) -> None:
        raise RuntimeError("the comm closed")

    rec = Recorder(s.key)
    relay = relay_of(s)
    channels = [relay.attach(s.key, broken), relay.attach(s.key, rec)]
    try:
        s.set(1)
        s._publisher.flush()
        wait_until(lambda: rec.state.value == 1, what="the healthy channel")
    finally:
        for channel in channels:
            channel.detach()
    assert "could not send" in caplog.text


def test_the_comm_transport_needs_no_thread_and_no_socket() -> None:
    # Pyodide (JupyterLite) has neither; it cannot run here (docs/design facts), so a
    # fresh interpreter takes both away before the package starts anything.
    code = textwrap.dedent(
        """
        import asyncio, socket, threading

        def no_thread(self, *a, **k):
            raise RuntimeError("can't start new thread")

        async def main():
            threading.Thread.start = no_thread
            socket.socket = None  # any socket use fails
            from nb_sse_signals import ServerSignal, _default
            from nb_sse_signals._protocol import parse_change
            from nb_sse_signals._signal_state import SignalState

            s = ServerSignal("lite", {"n": 0}, scope="k-lite")
            assert s.transport == "comm", s.transport
            state = SignalState(s.key)
            def send(message):
                for _, data in message.get("events", []):
                    state.receive(parse_change(data))
            channel = _default.comm_relay(s._publisher).attach(s.key, send)
            for n in range(1, 200):
                s.set({"n": n})
            for _ in range(100):
                await asyncio.sleep(0.05)
                if state.value == {"n": 199}:
                    break
            assert state.value == {"n": 199}, state.value
            assert threading.active_count() == 1, threading.enumerate()
            channel.detach()
            print("ok")

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_snapshot_requests_in_a_loop_are_answered_within_the_shared_budget(local: None) -> None:
    # A view (or any script in the page) asking for snapshots as fast as it can: the
    # answers share the budget with the events, as every message to iopub must.
    s = ServerSignal("asked-often", {"a": "x" * 1000}, scope="k-b")
    relay = relay_of(s)
    relay.max_messages = 20.0
    rec = Recorder(s.key)
    channel = relay.attach(s.key, rec)
    try:
        wait_until(lambda: rec.messages, what="the first snapshot")
        start, before = time.monotonic(), relay.messages_sent
        while time.monotonic() < start + 1.0:
            channel.receive({"type": "snapshot"})
            time.sleep(0.001)
        s.set({"a": "y"})
        s._publisher.flush()
        channel.receive({"type": "snapshot"})
        wait_until(
            lambda: any(m["type"] == "snapshot" and '"y"' in m["data"] for m in rec.messages),
            what="an answer to the last request, with the last value",
        )
        elapsed = time.monotonic() - start
        answers = sum(1 for m in rec.messages if m["type"] == "snapshot")
        sent = relay.messages_sent - before
    finally:
        channel.detach()
    assert sent <= relay.max_messages * elapsed + 3, f"{sent} messages in {elapsed:.2f} s"
    assert answers <= sent, "every answer counted"
    assert answers >= 2


@pytest.mark.parametrize(("messages", "size"), [(0.0, 1.0), (1.0, 0.0), (-1.0, 1.0), (1.0, -5.0)])
async def test_a_budget_that_is_not_positive_is_rejected(messages: float, size: float) -> None:
    with pytest.raises(ValueError, match="expected positive message and byte budgets"):
        CommRelay(SignalHub(), asyncio.get_running_loop(), max_messages=messages, max_bytes=size)


def test_a_snapshot_request_is_answered_once_and_changes_then_travel_as_events(
    local: None,
) -> None:
    s = ServerSignal("asked-once", 0, scope="k-t", max_rate=1000)
    rec = Recorder(s.key)
    relay = relay_of(s)
    channel = relay.attach(s.key, rec)
    try:
        wait_until(lambda: rec.messages, what="the first snapshot")
        channel.receive({"type": "snapshot"})
        wait_until(lambda: rec.messages[-1]["type"] == "snapshot", what="the snapshot reply")
        for n in range(1, 6):
            s.set(n)
            s._publisher.flush()
            wait_until(lambda n=n: rec.state.value == n, what=f"change {n}")
    finally:
        channel.detach()
    answers = [m for m in rec.messages if m["type"] == "snapshot"]
    assert len(answers) == 1, f"one request, {len(answers)} answers"
    assert relay.messages_sent == len(rec.messages), "the budget counts answers too, once"


async def test_a_signal_the_hub_does_not_know_is_an_error_for_its_view_and_no_one_else(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Attached on the loop itself (as a kernel without threads does): an unknown name
    # is the view's problem, told when it asks; it never raises into the kernel, and
    # never holds up a channel flushed after it.
    hub = SignalHub()
    hub.declare("a", 1)
    hub.declare("b", 1)
    loop = asyncio.get_running_loop()
    relay = CommRelay(hub, loop)
    lost: list[dict[str, Any]] = []
    good = Recorder("a")
    heard = asyncio.Event()

    def to(target: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        def send(message: dict[str, Any]) -> None:
            target(message)
            heard.set()

        return send

    async def until(done: Callable[[], bool]) -> None:
        async with asyncio.timeout(5):
            while not done():
                heard.clear()
                await heard.wait()

    quiet = Recorder("b")  # asks for a snapshot too, with nothing else to send
    unknown = relay.attach("nope", to(lost.append))
    channels = [relay.attach("b", to(quiet)), relay.attach("a", to(good))]
    try:
        for channel in channels:
            channel.receive({"type": "hello"})  # a view is there: no repeated snapshots
        await until(lambda: good.state.rev == quiet.state.rev == 0)
        unknown.receive({"type": "snapshot"})  # these wait for the next flush...
        channels[0].receive({"type": "snapshot"})
        hub.set("a", 2)  # ...and so does this change, behind them in the same flush
        await until(lambda: good.state.value == 2 and bool(lost))
    finally:
        for channel in (unknown, *channels):
            channel.detach()
    assert [m["type"] for m in quiet.messages][-1] == "snapshot"
    assert "cannot relay nope" in caplog.text
    assert [m["type"] for m in lost] == ["error"]
    assert "nope" in lost[0]["error"]


async def test_the_default_budget_is_the_one_docs_protocol_md_promises() -> None:
    found = promised(
        "protocol.md",
        r"at most (\d+) flushes a second, and spaces flushes so that all its widgets"
        r" together stay under (\d+) messages and (\d+) kB a second",
    )
    relay = CommRelay(SignalHub(), asyncio.get_running_loop())
    flushes, messages, kilobytes = map(int, found)
    assert relay.min_interval == 1 / flushes
    assert relay.max_messages == messages
    assert relay.max_bytes == kilobytes * 1000


@pytest.mark.parametrize(("messages", "size"), [(1.0, 1.0), (0.5, 0.5), (1e-3, 1.0)])
async def test_any_positive_budget_is_taken_and_only_by_name(messages: float, size: float) -> None:
    hub, loop = SignalHub(), asyncio.get_running_loop()
    relay = CommRelay(hub, loop, max_messages=messages, max_bytes=size)
    assert (relay.max_messages, relay.max_bytes) == (messages, size)
    with pytest.raises(TypeError):
        CommRelay(hub, loop, messages, size)  # type: ignore[misc]


# Last: it waits 8.5 s for the repeats it checks (a mutation run stops at the first
# failing test, so the quicker tests first).
def test_until_a_view_says_hello_the_snapshot_is_repeated_then_no_more(
    local: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Messages sent before the browser set the widget up are lost, and a hello waits
    # while a cell keeps the kernel busy: repeat the base value a few times.
    s = ServerSignal("greet", 1, scope="k-t")
    hub = _default.local_hub(s._publisher)
    rec, silent = Recorder(s.key), Recorder(s.key)  # a view says hello; no view ever does
    relay = relay_of(s)
    # (the repeats are timed from the attach, not from the first message, which a busy
    # machine may deliver late: the repeats would then look early)
    start = time.monotonic()
    channels = [relay.attach(s.key, rec), relay.attach(s.key, silent)]
    try:
        # Repeated 0.5, 1, 2, 4 and 8 s after the start: never sooner, and less than a
        # second later (a late timer on a busy machine).
        wait_until(lambda: rec.events() >= 5, timeout=6, what="repeated snapshots")
        channels[0].receive({"type": "hello"})
        wait_until(lambda: rec.events() >= 6, what="the answer to hello")
        settled = rec.events()
        wait_until(lambda: silent.events() >= 6, timeout=6, what="the repeat at 8 s")
        since = [t - start for t in silent.times[1:6]]
        for at, due in zip(since, (0.5, 1.0, 2.0, 4.0, 8.0), strict=True):
            assert due - EARLY <= at < due + 0.9, f"repeats at {since} s"
        time.sleep(0.2)
        assert rec.events() == settled, "no repeats once a view said hello (none at 8 s)"
    finally:
        for channel in channels:
            channel.detach()
    # Detached after the repeats ended (no timer left to cancel): both leave the hub.
    wait_until(lambda: hub.subscriber_count(s.key) == 0, what="both channels to leave")
    assert rec.events() == silent.events() == 6
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "the end of the repeats"
    for client in (rec, silent):
        assert (client.state.value, client.state.rev) == (1, 0)
