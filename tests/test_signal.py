"""ServerSignal through a real standalone server: what a viewer sees of set/update/mutate."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import math
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from nb_sse_signals import NotJSONError, Publisher, ServerSignal, SignalClosedError, _codec
from nb_sse_signals._errors import LimitError
from nb_sse_signals._limits import Limits
from nb_sse_signals._server import Server

from .conftest import SECRET, TOKEN, wait_until
from .test_handlers import AUTH, data_events, parse_change, read_events, reconstruct


def hub_value(server: Server, signal: ServerSignal) -> Any:
    return server.hub.get(signal.key)[1]


@dataclasses.dataclass
class Count:
    value: int


def test_a_new_signal_is_on_the_hub_before_the_constructor_returns(
    server: Server, publisher: Publisher
) -> None:
    s = ServerSignal("count", Count(0), publisher=publisher, scope="k-test")
    assert s.key == "k-test/count"
    assert hub_value(server, s) == {"value": 0}
    assert s.url == f"{server.url}nb-sse-signals/events?signal=k-test/count"
    assert s.token == server.token


def test_set_update_and_mutate_reach_a_third_party_client(
    server: Server, publisher: Publisher
) -> None:
    s = ServerSignal("doc", {"items": [1, 2], "meta": {}}, publisher=publisher, max_rate=1000)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reader = pool.submit(read_events, server, [s.key], 4)
        wait_until(lambda: server.hub.subscriber_count(s.key) == 1, what="the subscriber")
        s.set({"items": [1, 2, 3], "meta": {"n": 1}})
        publisher.flush()
        s.update(lambda v: {**v, "meta": {"n": 2}})  # type: ignore[dict-item]
        publisher.flush()
        with s.mutate() as doc:
            doc["items"].insert(0, 0)
            del doc["items"][-1]
            doc["meta"]["deep"] = {"x": [True, 1, 1.0]}
        events = reader.result(timeout=10)
    assert reconstruct(events)[s.key] == {
        "items": [0, 1, 2],
        "meta": {"n": 2, "deep": {"x": [True, 1, 1.0]}},
    }
    assert s.value == hub_value(server, s)


def test_the_value_is_a_copy_that_cannot_change_what_was_published(
    server: Server, publisher: Publisher
) -> None:
    initial = {"xs": [1]}
    s = ServerSignal("v", initial, publisher=publisher)
    initial["xs"].append(2)
    s.value["xs"].append(3)  # type: ignore[index,union-attr]
    publisher.flush()
    assert s.value == {"xs": [1]}
    assert hub_value(server, s) == {"xs": [1]}


@pytest.mark.parametrize(
    ("bad", "path"),
    [({"a": {1, 2}}, "/a"), ({"a": [math.nan]}, "/a/0"), ({"a": {3: 1}}, "/a"), (object(), "")],
)
def test_a_value_that_is_not_json_raises_naming_the_path_and_keeps_the_old_value(
    server: Server, publisher: Publisher, bad: object, path: str
) -> None:
    s = ServerSignal("v", {"ok": 1}, publisher=publisher)
    with pytest.raises(TypeError) as info:
        s.set(bad)
    assert isinstance(info.value, NotJSONError)
    assert info.value.path == path
    publisher.flush()
    assert s.value == {"ok": 1}
    assert hub_value(server, s) == {"ok": 1}


def test_a_mutate_block_that_raises_publishes_nothing(server: Server, publisher: Publisher) -> None:
    s = ServerSignal("v", {"xs": [1, 2]}, publisher=publisher)

    def edit_then_fail() -> None:
        with s.mutate() as doc:
            doc["xs"].append(3)
            doc["ys"] = "new"
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        edit_then_fail()
    publisher.flush()
    assert s.value == {"xs": [1, 2]}
    assert server.hub.get(s.key) == (0, {"xs": [1, 2]})


def test_mutate_rejects_a_scalar_value(publisher: Publisher) -> None:
    s = ServerSignal("n", 3, publisher=publisher)
    with pytest.raises(TypeError, match="use set"), s.mutate():
        pass


def test_a_burst_is_coalesced_to_the_rate_limit_and_the_last_value_arrives(
    server: Server, publisher: Publisher
) -> None:
    s = ServerSignal("burst", {"value": 0}, publisher=publisher, max_rate=5)
    started = time.monotonic()
    for i in range(1, 2001):
        s.set({"value": i})
    wait_until(lambda: hub_value(server, s) == {"value": 2000}, what="the last value")
    elapsed = time.monotonic() - started
    rev = server.hub.get(s.key)[0]
    # 5 sends per second at most: at most one per 0.2 s, plus the first.
    assert rev <= 2 + elapsed * 5, f"{rev} revisions in {elapsed:.2f} s at max_rate=5"


def test_changes_from_many_threads_all_land(server: Server, publisher: Publisher) -> None:
    s = ServerSignal("threads", {"xs": []}, publisher=publisher, max_rate=1000)

    def work(k: int) -> None:
        for i in range(50):
            with s.mutate() as doc:
                doc["xs"].append(k * 1000 + i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    publisher.flush()
    assert sorted(hub_value(server, s)["xs"]) == sorted(
        k * 1000 + i for k in range(4) for i in range(50)
    )
    assert s.value == hub_value(server, s)


def test_closing_tells_viewers_and_rejects_later_changes(
    server: Server, publisher: Publisher
) -> None:
    s = ServerSignal("c", {"v": 1}, publisher=publisher)
    with (
        httpx.Client(timeout=5) as client,
        connect_sse(
            client,
            "GET",
            server.url + "nb-sse-signals/events",
            params={"signal": s.key},
            headers=AUTH,
        ) as source,
    ):
        events = data_events(source.iter_sse())
        next(events)
        s.set({"v": 2})
        s.close()
        rest = [next(events), next(events)]
    assert [e.event for e in rest] == ["message", "closed"]
    assert s.closed
    with pytest.raises(SignalClosedError):
        s.set({"v": 3})
    s.close()  # idempotent


def test_signals_of_different_scopes_never_collide(server: Server, publisher: Publisher) -> None:
    a = ServerSignal("count", 1, publisher=publisher, scope="k-aaa")
    b = ServerSignal("count", 2, publisher=publisher, scope="k-bbb")
    shared = ServerSignal("count", 3, publisher=publisher, shared=True)
    assert {a.key, b.key, shared.key} == {"k-aaa/count", "k-bbb/count", "count"}
    assert [hub_value(server, s) for s in (a, b, shared)] == [1, 2, 3]


def test_drive_from_an_iterator_with_a_throttle(server: Server, publisher: Publisher) -> None:
    s = ServerSignal("driven", {"value": -1}, publisher=publisher)
    started = time.monotonic()
    driver = s.drive(({"value": i} for i in range(4)), every=0.1)
    assert driver.wait(5)
    assert time.monotonic() - started >= 0.3, "every=0.1 spaces four items over >= 0.3 s"
    assert driver.error is None
    publisher.flush()
    assert hub_value(server, s) == {"value": 3}


def test_drive_from_an_async_iterator(server: Server, publisher: Publisher) -> None:
    s = ServerSignal("adriven", 0, publisher=publisher)

    async def numbers() -> AsyncIterator[int]:
        for i in range(1, 6):
            await asyncio.sleep(0)
            yield i

    driver = s.drive(numbers(), every=0.01)
    assert driver.wait(5)
    publisher.flush()
    assert hub_value(server, s) == 5


def test_a_failing_source_stops_the_drive_and_keeps_the_last_good_value(
    server: Server, publisher: Publisher
) -> None:
    s = ServerSignal("failing", 0, publisher=publisher)

    def items() -> Iterator[object]:
        yield 1
        yield {3}  # not JSON

    driver = s.drive(items())
    assert driver.wait(5)
    assert isinstance(driver.error, NotJSONError)
    publisher.flush()
    assert hub_value(server, s) == 1


def test_listeners_get_the_value_as_sent_with_the_hubs_revision(
    server: Server, publisher: Publisher
) -> None:
    s = ServerSignal("l", {"value": 0, "other": "x"}, publisher=publisher, max_rate=1000)
    seen: list[tuple[Any, int]] = []
    remove = s.add_listener(lambda v, rev: seen.append((v, rev)), "/value")
    s.set({"value": 1, "other": "x"})
    publisher.flush()
    s.set({"value": 2, "other": "y"})
    publisher.flush()
    remove()
    s.set({"value": 3, "other": "y"})
    publisher.flush()
    assert seen == [(0, 0), (1, 1), (2, 2)]


def test_mutate_keeps_1_true_and_1_0_apart_end_to_end(server: Server, publisher: Publisher) -> None:
    s = ServerSignal("types", {"a": 1, "xs": [1]}, publisher=publisher, max_rate=1000)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reader = pool.submit(read_events, server, [s.key], 3)
        wait_until(lambda: server.hub.subscriber_count(s.key) == 1, what="the subscriber")
        with s.mutate() as doc:
            doc["a"] = True
            doc["xs"][0] = 1.0
        publisher.flush()
        s.set({"a": 1, "xs": [True]})
        events = reader.result(timeout=10)
    final = reconstruct(events)[s.key]
    assert final == {"a": 1, "xs": [True]}
    assert type(final["a"]) is int
    assert type(final["xs"][0]) is bool


def test_an_extend_reaches_a_viewer_as_one_add_per_item_with_every_kind_of_scalar(
    server: Server, publisher: Publisher
) -> None:
    s = ServerSignal("ext", {"y": [0]}, publisher=publisher, max_rate=1000)
    numbers = [1.5, -2, True, False, None, 1e300, 2**63 - 1]  # encoded in one pass
    strings = ["a,b", 'é"', 3]  # encoded op by op: a string may hold a comma
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reader = pool.submit(read_events, server, [s.key], 3)
        wait_until(lambda: server.hub.subscriber_count(s.key) == 1, what="the subscriber")
        with s.mutate() as doc:
            doc["y"].extend(numbers)
        publisher.flush()
        with s.mutate() as doc:
            doc["y"].extend(strings)
        events = reader.result(timeout=10)
    changes = [parse_change(e.data) for e in events[1:]]
    assert [op for c in changes for op in c.patch] == [
        {"op": "add", "path": f"/y/{k}", "value": v} for k, v in enumerate(numbers + strings, 1)
    ]
    final = reconstruct(events)[s.key]
    assert final == {"y": [0, *numbers, *strings]}
    assert [type(v) for v in final["y"]] == [type(v) for v in [0, *numbers, *strings]]
    assert hub_value(server, s) == final


def test_an_extend_by_an_integer_json_cannot_hold_names_it_and_publishes_nothing(
    server: Server, publisher: Publisher
) -> None:
    s = ServerSignal("big", {"y": [0]}, publisher=publisher)
    with pytest.raises(NotJSONError) as info, s.mutate() as doc:
        doc["y"].extend([1, 2, 2**70])
    assert info.value.path == "/y/3"
    publisher.flush()
    assert s.value == {"y": [0]}
    assert hub_value(server, s) == {"y": [0]}


def test_running_the_cell_again_hands_the_signal_to_the_new_handle(
    server: Server, publisher: Publisher
) -> None:
    first = ServerSignal("count", {"value": 0}, publisher=publisher, scope="k-cell")
    first.set({"value": 5})
    second = ServerSignal("count", {"value": 100}, publisher=publisher, scope="k-cell")
    with pytest.raises(SignalClosedError, match="replaced by a newer ServerSignal"):
        first.set({"value": 6})
    first.close()  # harmless: the hub's signal belongs to the new handle now
    second.set({"value": 101})
    publisher.flush()
    assert server.hub.get("k-cell/count")[1] == {"value": 101}
    assert publisher.signals == [second]


def test_a_change_made_on_a_value_the_hub_no_longer_has_is_sent_whole_never_merged(
    server: Server, publisher: Publisher
) -> None:
    # Someone else (another publisher, a hub that lost data and reloaded) changes the
    # hub's value: this publisher's next patch, made on its own revision, is refused
    # and its whole value declared again; viewers never see a merge nobody had.
    s = ServerSignal("doc", {"a": 1, "b": 1}, publisher=publisher, max_rate=1000)
    server.hub.set("doc", {"a": 1, "b": 2, "c": 3})
    s.set({"a": 5, "b": 1})
    publisher.flush()
    wait_until(lambda: server.hub.get("doc")[1] == {"a": 5, "b": 1}, 10, "the whole value")
    assert server.hub.get("doc")[0] == 2, "the refused patch changed nothing"


def _framed(key: str, value: str, base: int) -> int:
    """The bytes of the publish message of ``set({"s": value})`` as it leaves: the
    revision it is made on included, in the brackets of the frame it travels in."""
    op = {"op": "replace", "path": "/s", "value": value}
    message = {"op": "patch", "name": key, "patch": [op], "base": base}
    return len(_codec.dumps(message)) + 2


def test_a_change_at_the_hubs_message_limit_is_sent_and_one_byte_more_is_rejected_by_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Over the real publish WebSocket, whose limit the hub's handshake tells the
    # publisher. The "base" a patch is made on counts: else a change a few bytes
    # under the limit passed set() and was refused on the way, with no error for
    # the user and the viewers left on the old value.
    limit = 1_000
    server = Server(
        port=0, token=TOKEN, publish_secret=SECRET, limits=Limits(message_bytes=limit)
    ).start()
    try:
        publisher = Publisher.connect(server.url, SECRET, timeout=5)
        try:
            s = ServerSignal("edge", {"s": ""}, publisher=publisher, shared=True)
            assert publisher.transport.max_message_bytes == limit
            fits = "x" * (limit - _framed(s.key, "", 0))
            assert _framed(s.key, fits, 0) == limit
            s.set({"s": fits})  # exactly at the limit
            publisher.flush()
            assert server.hub.get(s.key) == (1, {"s": fits}), "sent, and the hub took it"

            over = "y" * (limit + 1 - _framed(s.key, "", 1))
            with pytest.raises(LimitError, match=f"at most {limit:,} bytes .*, got {limit + 1:,}$"):
                s.set({"s": over})
            assert s.value == {"s": fits}, "nothing changed"
            publisher.flush()
            assert server.hub.get(s.key) == (1, {"s": fits})
            assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
        finally:
            publisher.shutdown()
    finally:
        server.stop()


def test_an_append_rejected_after_its_list_grew_in_place_changes_nothing(
    server: Server, publisher: Publisher
) -> None:
    # set() extends the signal's own list in place for an append (no copy of it); a
    # change refused after that, by a bad value further on or by the hub's limit,
    # must leave the value as it was, and the next good change must apply to it.
    mine: dict[str, Any] = {"x": [0.0, 1.0], "y": [0.5, 1.5]}
    s = ServerSignal("plot", mine, publisher=publisher, scope="k-grow")
    mine["x"].append(2.0)
    mine["y"].append(math.inf)
    with pytest.raises(NotJSONError, match="/y/2"):
        s.set(mine)
    assert s.value == {"x": [0.0, 1.0], "y": [0.5, 1.5]}, "x grew, then was put back"
    mine["y"][2] = 2.5
    publisher.transport.max_message_bytes = 100  # as a hub with a small limit says
    mine["x"].append("z" * 200)
    with pytest.raises(LimitError):
        s.set(mine)
    assert s.value == {"x": [0.0, 1.0], "y": [0.5, 1.5]}, "nothing changed"
    publisher.transport.max_message_bytes = None
    mine["x"].pop()
    s.set(mine)
    publisher.flush()
    assert hub_value(server, s) == {"x": [0.0, 1.0, 2.0], "y": [0.5, 1.5, 2.5]}
