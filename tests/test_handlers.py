"""The SSE and snapshot endpoints through a real server on loopback and a third-party client."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import itertools
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonpatch
import orjson
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from nb_sse_signals import Limits, SignalHub
from nb_sse_signals._handlers import OPEN_STREAMS, WINDOW
from nb_sse_signals._protocol import parse_change
from nb_sse_signals._server import Server

from .conftest import SECRET, TOKEN, wait_until
from .servers import start_server

# The protocol suite: every test runs against both servers (conftest.py).
pytestmark = pytest.mark.both_servers

AUTH = {"Authorization": f"token {TOKEN}"}


def events_url(server: Server) -> str:
    return server.url + "nb-sse-signals/events"


def read_events(
    server: Server,
    names: list[str],
    count: int,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> list[ServerSentEvent]:
    """Subscribe with httpx-sse and return the first ``count`` data events (5 s read bound)."""
    out: list[ServerSentEvent] = []
    with (
        httpx.Client(timeout=5) as client,
        connect_sse(
            client,
            "GET",
            events_url(server),
            params={"signal": names, **(params or {})},
            headers={**AUTH, **(headers or {})},
        ) as source,
    ):
        source.response.raise_for_status()
        for event in data_events(source.iter_sse()):
            out.append(event)
            if len(out) == count:
                break
    return out


def data_events(events: Iterator[ServerSentEvent]) -> Iterator[ServerSentEvent]:
    """The events a browser would dispatch. httpx-sse also yields one for a keep-alive
    comment once an id was seen (it keeps the last id, as it should, and then treats
    the blank line as an event); the SSE spec dispatches nothing without data."""
    return (event for event in events if event.data)


def reconstruct(
    events: list[ServerSentEvent], state: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Apply events with the reference jsonpatch library, checking contiguous revisions."""
    values: dict[str, Any] = {} if state is None else state
    revs: dict[str, int] = values.setdefault("_revs", {})
    for event in events:
        change = parse_change(event.data)
        if change.is_snapshot:
            values[change.name] = copy.deepcopy(change.patch[0]["value"])
        else:
            assert change.rev == revs[change.name] + 1, f"gap or duplicate at {change}"
            values[change.name] = jsonpatch.apply_patch(values[change.name], change.patch)
        revs[change.name] = change.rev
    return values


def test_stream_headers_follow_the_protocol(server: Server) -> None:
    server.hub.declare("a", 1)
    with (
        httpx.Client(timeout=5) as client,
        client.stream("GET", events_url(server), params={"signal": "a"}, headers=AUTH) as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert resp.headers["cache-control"] == "no-cache"
        assert resp.headers["x-accel-buffering"] == "no"
        lines = resp.iter_lines()
        assert next(lines) == "retry: 2000"


def test_third_party_client_reconstructs_every_value(server: Server) -> None:
    hub = server.hub
    hub.declare("doc", {"items": [], "meta": {"n": 0}})
    expected = []
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reader = pool.submit(read_events, server, ["doc"], 41)
        wait_until(lambda: hub.subscriber_count("doc") == 1, what="the subscriber")
        for i in range(40):
            if i % 3 == 2:
                hub.patch("doc", [{"op": "remove", "path": "/items/0"}])
            else:
                hub.patch("doc", [{"op": "add", "path": "/items/-", "value": {"i": i, "f": i / 3}}])
            hub.set("doc", {**hub.get("doc")[1], "meta": {"n": i, "last": [i, True, None]}})  # type: ignore[dict-item]
            expected.append(hub.get("doc")[1])
        events = reader.result(timeout=10)
    assert parse_change(events[0].data).is_snapshot
    values = reconstruct(events)
    # 1 snapshot + 40 changes read; the state after the 20th pair of changes:
    assert values["doc"] == expected[19]


def test_reconnect_with_last_event_id_replays_exactly_the_missed_events(server: Server) -> None:
    hub = server.hub
    hub.declare("a", {"v": 0})
    first = read_events(server, ["a"], 1)
    state = reconstruct(first)
    for v in range(1, 11):
        hub.set("a", {"v": v})
    resumed = read_events(server, ["a"], 10, headers={"Last-Event-ID": first[-1].id})
    assert [parse_change(e.data).rev for e in resumed] == list(range(1, 11))
    assert reconstruct(resumed, state)["a"] == {"v": 10}
    # The query parameter does the same for a first connection.
    by_query = read_events(server, ["a"], 10, params={"lastEventId": first[-1].id})
    assert [e.id for e in by_query] == [e.id for e in resumed]


def test_reconnect_after_a_server_restart_gets_snapshots(server: Server, kind: str) -> None:
    server.hub.declare("a", 1)
    (snap,) = read_events(server, ["a"], 1)
    restarted = start_server(kind, token=TOKEN, publish_secret=SECRET)
    try:
        restarted.hub.declare("a", 2)
        (event,) = read_events(restarted, ["a"], 1, headers={"Last-Event-ID": snap.id})
    finally:
        restarted.stop()
    change = parse_change(event.data)
    assert change.is_snapshot
    assert change.patch[0]["value"] == 2


@pytest.mark.parametrize(
    ("params", "headers", "status", "message"),
    [
        ({"signal": "nope"}, AUTH, 404, "'nope'"),
        ({}, AUTH, 400, "'signal' query parameter"),
        ({"signal": "bad key!"}, AUTH, 400, "signal key"),
        ({"signal": "a"}, {**AUTH, "Last-Event-ID": "yesterday"}, 400, "<epoch>-<sequence>"),
        ({"signal": "a"}, {}, 403, "subscriber credentials"),
        ({"signal": "a"}, {"Authorization": "token wrong"}, 403, "subscriber credentials"),
        ({"signal": "a", "token": "wrong"}, {}, 403, "subscriber credentials"),
    ],
)
def test_bad_requests_get_a_clear_error_and_change_nothing(
    server: Server, params: dict[str, str], headers: dict[str, str], status: int, message: str
) -> None:
    server.hub.declare("a", 1)
    # The snapshot endpoint has no cursor to get wrong.
    paths = ("events",) if "Last-Event-ID" in headers else ("events", "snapshot")
    for path in paths:
        resp = httpx.get(
            server.url + "nb-sse-signals/" + path, params=params, headers=headers, timeout=5
        )
        assert resp.status_code == status, resp.text
        assert message in resp.json()["error"]
    assert server.hub.subscriber_count() == 0
    assert server.hub.get("a") == (0, 1)


def test_token_in_query_or_cookie_is_accepted(server: Server) -> None:
    server.hub.declare("a", [1])
    resp = httpx.get(
        server.url + "nb-sse-signals/snapshot", params={"signal": "a", "token": TOKEN}, timeout=5
    )
    assert resp.json() == [
        {"name": "a", "rev": 0, "patch": [{"op": "replace", "path": "", "value": [1]}]}
    ]
    resp = httpx.get(
        server.url + "nb-sse-signals/snapshot",
        params={"signal": "a"},
        cookies={f"nb_sse_signals_token_{server.port}": TOKEN},
        timeout=5,
    )
    assert resp.status_code == 200


def test_keep_alive_comments_flow_while_nothing_changes(server: Server) -> None:
    server.hub.declare("a", 1)  # the fixture's keep-alive interval is 0.5 s
    with (
        httpx.Client(timeout=5) as client,
        client.stream("GET", events_url(server), params={"signal": "a"}, headers=AUTH) as resp,
    ):
        lines = resp.iter_lines()
        seen = [next(lines) for _ in range(8)]
    assert ": keep-alive" in seen


def run_on_server_loop(server: Server, fn: Any) -> Any:
    async def call() -> Any:
        return fn()

    assert server._loop is not None
    return asyncio.run_coroutine_threadsafe(call(), server._loop).result(5)


def test_a_thousand_connect_disconnect_cycles_leave_no_subscribers_or_tasks(server: Server) -> None:
    server.hub.declare("a", 1)
    baseline = run_on_server_loop(server, lambda: len(asyncio.all_tasks()))
    with httpx.Client(timeout=5, headers=AUTH) as client:
        for _ in range(1000):
            with client.stream("GET", events_url(server), params={"signal": "a"}) as resp:
                next(resp.iter_lines())
    wait_until(lambda: server.hub.subscriber_count() == 0, what="every subscriber to leave")
    wait_until(
        lambda: run_on_server_loop(server, lambda: len(asyncio.all_tasks())) <= baseline,
        what="the server's task count to return to its baseline",
    )


def test_a_client_that_never_reads_stays_bounded_while_another_gets_every_update(
    server: Server,
) -> None:
    hub = server.hub
    hub.buffer_bytes = 64_000

    # 300 changes of 32 kB each: far more than the socket buffers absorb (about 4 MB).
    def doc(n: int) -> dict[str, Any]:
        return {"n": n, "pad": f"{n:08d}" * 4_000}

    hub.declare("a", doc(0))
    # A raw socket that sends the request and then never reads a byte.
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.settimeout(5)
    stalled.connect(("127.0.0.1", server.port))
    stalled.sendall(
        f"GET {urlsplit(server.url).path}nb-sse-signals/events?signal=a HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: token {TOKEN}\r\n\r\n".encode()
    )
    received: list[ServerSentEvent] = []
    stop = threading.Event()
    try:
        wait_until(lambda: hub.subscriber_count("a") == 1, what="the stalled subscriber")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            reader = pool.submit(collect_events, server, ["a"], 301, received, stop)
            try:
                # Its snapshot first: a change made before the server wrote it would join
                # it in the backlog (32 kB + 32 kB > 64 kB), and the reader would get one
                # snapshot at rev 1 instead of two events, as the bound says it should.
                wait_until(lambda: len(received) > 0, what="the reader's snapshot")
                peak = 0
                for n in range(1, 301):
                    hub.set("a", doc(n))
                    peak = max(peak, *(s.pending_bytes for s in _subscriptions(hub)))
                    # A reader that keeps up: one change in flight at a time (a burst bigger
                    # than the buffer would, by design, switch any reader to snapshots).
                    wait_until(lambda n=n: len(received) > n, what=f"the reader to get rev {n}")
                reader.result(timeout=20)
            finally:
                stop.set()  # after a failure: the reader ends now, not when the server stops
        assert [parse_change(e.data).rev for e in received] == list(range(301))
        assert reconstruct(received)["a"]["n"] == 300
        assert peak <= 64_000, f"a subscriber's backlog grew to {peak} bytes"
        resyncs = max(s.resyncs for s in _subscriptions(hub))
        assert resyncs >= 1, "the stalled subscriber should have been switched to snapshots"
    finally:
        stalled.close()
    wait_until(lambda: hub.subscriber_count("a") == 0, what="the stalled subscriber to leave")


def test_a_reader_that_stalls_then_reads_again_catches_up_to_the_latest_value(
    server: Server,
) -> None:
    hub = server.hub
    hub.buffer_bytes = 64_000
    hub.declare("a", {"n": 0, "pad": ""})
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.settimeout(5)
    stalled.connect(("127.0.0.1", server.port))
    path = urlsplit(server.url).path
    stalled.sendall(
        f"GET {path}nb-sse-signals/events?signal=a HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: token {TOKEN}\r\n\r\n".encode()
    )
    try:
        wait_until(lambda: hub.subscriber_count("a") == 1, what="the subscriber")
        # About 10 MB while it reads nothing, paced so that most changes are written
        # (not coalesced into one snapshot): more than the socket buffers take (about
        # 4 MB), so the server has to hold its writes until the reader reads again.
        for n in range(1, 301):
            hub.set("a", {"n": n, "pad": f"{n:08d}" * 4_000})
            time.sleep(0.005)
        seen = b""
        deadline = time.monotonic() + 20
        # The latest revision comes as a change, or in a snapshot if the reader fell behind.
        while b'"rev":300,' not in seen[-70_000:]:
            assert time.monotonic() < deadline, "the reader never caught up with rev 300"
            chunk = stalled.recv(1 << 16)
            assert chunk, "the stream ended"
            seen = seen[-70_000:] + chunk
    finally:
        stalled.close()
    wait_until(lambda: hub.subscriber_count("a") == 0, what="the subscriber to leave")


def collect_events(
    server: Server,
    names: list[str],
    count: int,
    out: list[ServerSentEvent],
    stop: threading.Event,
) -> None:
    """Like read_events, appending to ``out`` as events arrive (for pacing), until
    ``count`` events or until ``stop`` is set (checked per chunk read)."""
    with (
        httpx.Client(timeout=5, transport=_StoppableTransport(stop)) as client,
        connect_sse(
            client, "GET", events_url(server), params={"signal": names}, headers=AUTH
        ) as source,
    ):
        try:
            for event in data_events(source.iter_sse()):
                out.append(event)
                if len(out) == count:
                    return
        except _ReaderStopped:
            return


class _ReaderStopped(Exception):
    pass


class _StoppableTransport(httpx.HTTPTransport):
    """httpx's own transport, whose response bodies end once ``stop`` is set.

    A test that gave up on a stream must be able to end its reader thread: the read
    timeout never fires while keep-alive comments arrive (every 0.5 s here), and a
    stop checked per event would miss the comments before the first id, which
    httpx-sse swallows. Checked per chunk, the reader ends within one keep-alive.
    """

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self._stop = stop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _StoppableStream(response.stream, self._stop)
        return response


class _StoppableStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, stop: threading.Event) -> None:
        self._inner = inner
        self._stop = stop

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if self._stop.is_set():
                raise _ReaderStopped
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _subscriptions(hub: Any) -> Iterator[Any]:
    with hub.store.lock:
        subs = set().union(*(sig.subscribers for sig in hub.store.entries.values()))
    yield from subs


def test_snapshot_endpoint_answers_in_the_order_asked(server: Server) -> None:
    server.hub.declare("a", 1)
    server.hub.declare("b", {"x": [2]})
    server.hub.set("b", {"x": [3]})
    resp = httpx.get(
        server.url + "nb-sse-signals/snapshot",
        params={"signal": ["b", "a"]},
        headers=AUTH,
        timeout=5,
    )
    assert [(m["name"], m["rev"]) for m in orjson.loads(resp.content)] == [("b", 1), ("a", 0)]


def test_a_notebook_on_another_origin_may_subscribe_with_the_token(server: Server) -> None:
    # The fallback standalone server runs on another port than JupyterLab: its
    # responses must allow the page's origin, or the browser hides them.
    server.hub.declare("a", 1)
    for params, status in (({"signal": "a", "token": TOKEN}, 200), ({"signal": "a"}, 403)):
        resp = httpx.get(
            server.url + "nb-sse-signals/snapshot",
            params=params,
            headers={"Origin": "http://127.0.0.1:8888"},
            timeout=5,
        )
        assert resp.status_code == status
        assert resp.headers.get("access-control-allow-origin") == "*"
    with (
        httpx.Client(timeout=5) as client,
        client.stream("GET", events_url(server), params={"signal": "a", "token": TOKEN}) as resp,
    ):
        assert resp.headers.get("access-control-allow-origin") == "*"


def test_head_on_the_snapshot_endpoint_answers_the_status_a_get_would_and_no_body(
    server: Server,
) -> None:
    server.hub.declare("a", {"big": "x" * 100_000})
    url = server.url + "nb-sse-signals/snapshot"
    auth = {"Authorization": f"token {TOKEN}"}
    known = httpx.head(url, params={"signal": "a"}, headers=auth, timeout=5)
    assert (known.status_code, known.content) == (200, b"")
    assert known.headers["Content-Length"] == "0", "no snapshot is sent"
    unknown = httpx.head(url, params={"signal": ["a", "b"]}, headers=auth, timeout=5)
    assert (unknown.status_code, unknown.content) == (404, b"")
    assert httpx.head(url, params={"signal": "a"}, timeout=5).status_code == 403
    assert httpx.head(url, params={"signal": "bad key"}, headers=auth, timeout=5).status_code == 400


def test_a_big_replay_to_a_reader_that_stops_is_streamed_a_window_at_a_time() -> None:
    # What the socket has not taken stays the hub's frames, referenced in the handler's
    # queue; the writer holds at most one window of them at a time.
    with Server(port=0, token=TOKEN, keepalive=60) as server:
        server.hub.declare("h", {"i": 0, "pad": ""})
        for i in range(1, 1025):
            server.hub.set("h", {"i": i, "pad": f"{i:08d}" * 512})
        oldest = server.hub.store.entries["h"].floor_seq
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        try:
            sock.sendall(
                b"GET /nb-sse-signals/events?signal=h HTTP/1.1\r\nHost: x\r\n"
                + f"Authorization: token {TOKEN}\r\n".encode()
                + f"Last-Event-ID: {server.hub.epoch}-{oldest}\r\n\r\n".encode()
            )
            settings = server._app.settings

            def stuck() -> Any:
                streams = settings.get(OPEN_STREAMS)
                return streams and next(iter(streams))._writer.busy and next(iter(streams))

            handler = wait_until(stuck, 5, "a full socket")
            queued = len(handler._writer._stream._write_buffer)
            assert queued <= WINDOW + 64, f"{queued:,} bytes queued in the writer at once"
            waiting = handler._queue[handler._queued :]
            assert waiting, "the rest waits as the hub's frames"
            history = {id(frame) for _, frame in server.hub.store.entries["h"].history}
            assert all(id(frame) in history for frame in waiting), "references, not copies"
        finally:
            sock.close()


def _writes(sock: socket.socket, marker: bytes, head: bool = False) -> list[bytes]:
    """The chunks of an HTTP/1.1 event stream (one per write of the server) until one
    holds ``marker``; the response head first, with ``head`` (5 s bound)."""
    data, chunks = b"", []
    deadline = time.monotonic() + 5
    while not chunks or marker not in chunks[-1]:
        assert time.monotonic() < deadline, f"never got {marker!r}; got {chunks[-3:]!r}"
        more = sock.recv(1 << 20)
        assert more, "the stream ended"
        data += more
        if head:
            if b"\r\n\r\n" not in data:
                continue
            data, head = data.split(b"\r\n\r\n", 1)[1], False
        while b"\r\n" in data:
            size_line, rest = data.split(b"\r\n", 1)
            size = int(size_line, 16)
            if len(rest) < size + 2:
                break
            chunks.append(rest[:size])
            data = rest[size + 2 :]
    return chunks


def _burst(server: Server, name: str, values: list[object]) -> None:
    """Set ``name`` to each of ``values`` in one turn of the hub's loop, as a publisher's
    frame of patches is applied."""
    assert server._loop is not None
    server._loop.call_soon_threadsafe(lambda: [server.hub.set(name, v) for v in values])


def test_changes_ready_together_reach_a_subscriber_in_one_write() -> None:
    # A frame of 100 patches applied in one loop turn leaves in one write (one chunk on
    # HTTP/1.1), not one per event: as docs/protocol.md allows, a batch holds many events.
    with Server(port=0, token=TOKEN, keepalive=60) as server:
        server.hub.declare("c", {"n": 0})
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(
                b"GET /nb-sse-signals/events?signal=c HTTP/1.1\r\nHost: x\r\n"
                + f"Authorization: token {TOKEN}\r\n\r\n".encode()
            )
            _writes(sock, b'"value":{"n":0}', head=True)  # subscribed: the snapshot arrived
            _burst(server, "c", [{"n": n} for n in range(1, 101)])
            writes = _writes(sock, b'"value":100}')
    assert len(writes) == 1, f"100 ready events went out in {len(writes)} writes"
    events = writes[0].split(b"\n\n")[:-1]
    values = [orjson.loads(e.split(b"data: ", 1)[1])["patch"][0]["value"] for e in events]
    assert values == list(range(1, 101)), "every event, in order"


def test_a_backlog_bigger_than_a_window_leaves_in_full_windows_in_order() -> None:
    # 100 events of ~1 kB: each write holds whole events, as many as fit in WINDOW bytes
    # (the next one would not), so a backlog costs a few writes and never more than a
    # window of bytes held by the writer at once.
    with Server(port=0, token=TOKEN, keepalive=60) as server:
        server.hub.declare("w", {"n": 0, "pad": ""})
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(
                b"GET /nb-sse-signals/events?signal=w HTTP/1.1\r\nHost: x\r\n"
                + f"Authorization: token {TOKEN}\r\n\r\n".encode()
            )
            _writes(sock, b'"pad":""', head=True)
            _burst(server, "w", [{"n": n, "pad": f"{n:04d}" * 250} for n in range(1, 101)])
            writes = _writes(sock, b'"value":"' + b"0100" * 250)
    events = [w.split(b"\n\n")[:-1] for w in writes]
    assert all(w.endswith(b"\n\n") for w in writes), "a write holds whole events"
    sizes = [[len(e) + 2 for e in es] for es in events]
    assert all(sum(s) <= WINDOW for s in sizes), [sum(s) for s in sizes]
    assert all(sum(s) + nxt[0] > WINDOW for s, nxt in itertools.pairwise(sizes)), (
        "each write but the last is as full as the window allows"
    )
    patches = [orjson.loads(e.split(b"data: ", 1)[1])["patch"] for es in events for e in es]
    pads = [next(op["value"] for op in ops if op["path"] == "/pad") for ops in patches]
    assert pads == [f"{n:04d}" * 250 for n in range(1, 101)], "every event, in order"


def established(server_port: int, client_port: int) -> bool:
    """Whether the server's end of the loopback connection from ``client_port`` is
    still ESTABLISHED (Linux's socket table): a server that only ended the response
    would keep it, and what it buffered, until the client reads."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return any(row[1] == local and row[2] == remote and row[3] == "01" for row in rows)


def test_a_subscriber_that_stops_reading_is_cut_off_after_the_write_timeout(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="nb_sse_signals")
    hub = SignalHub(limits=Limits(write_timeout=0.5))
    hub.declare("big", "x" * 8_000_000)  # far more than the socket buffers take
    server = start_server(kind, hub, token=TOKEN, publish_secret=SECRET, keepalive=0.5)
    # A raw socket with a small receive buffer that sends its request and never reads.
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        stalled.settimeout(5)
        stalled.connect(("127.0.0.1", server.port))
        client_port = stalled.getsockname()[1]
        stalled.sendall(
            f"GET {urlsplit(server.url).path}nb-sse-signals/events?signal=big HTTP/1.1\r\n"
            f"Host: x\r\nAuthorization: token {TOKEN}\r\n\r\n".encode()
        )
        wait_until(lambda: hub.subscriber_count("big") == 1, what="the stalled subscriber")
        assert established(server.port, client_port)
        # Within the timeout (and the keep-alive that may be the held send), and a margin.
        wait_until(lambda: hub.subscriber_count("big") == 0, 10, "the stuck reader to be cut")
        wait_until(
            lambda: not established(server.port, client_port),
            5,
            "the server to drop the connection (and the bytes it held for it)",
        )
        time.sleep(1.5)  # more keep-alives and timeouts would log again
    finally:
        stalled.close()
        server.stop()
    cut = [r for r in caplog.records if "write_timeout" in r.getMessage()]
    assert [r.getMessage() for r in cut] == [
        "nb_sse_signals: cut off a subscriber that read nothing for 0.5 s (write_timeout)"
    ]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], "a cut-off is not a server error"
