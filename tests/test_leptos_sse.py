"""``format=leptos_sse``: a client that follows leptos_sse's own algorithm follows our
stream, through a reconnect and a server restart, on both servers (docs/protocol.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jsonpatch
import pytest
import sseclient

from nb_sse_signals._server import Server

from .conftest import SECRET, TOKEN
from .servers import start_server

pytestmark = pytest.mark.both_servers


class LeptosSseClient:
    """leptos_sse's client, step by step (``create_sse_signal`` in its src/lib.rs, 0.2
    to 0.4): one ``EventSource``, one listener per signal, added under the signal's name
    (so only events named so reach it); each signal starts from ``T::default()``; an
    event's data is parsed as ``{"event", "patch"}`` (ignored if it does not parse or
    names another signal), and the patch is applied with a JSON Patch library
    (``json_patch::patch(...).unwrap()`` there, ``jsonpatch`` here): a patch that does
    not apply panics there and raises here. No ids of its own, no resync: what resumes
    is the EventSource, which sends the last id it saw as ``Last-Event-ID``.
    """

    def __init__(self, base: str, defaults: dict[str, Any]) -> None:
        self.url = base + "nb-sse-signals/events"
        self.values = dict(defaults)
        self.last_event_id = ""  # the EventSource's, sent again when it reconnects
        self.unheard = 0  # events no listener took (a plain "message", say)

    def follow(self, client: httpx.Client, count: int) -> None:
        """Connect (resuming, as an EventSource does) and dispatch ``count`` events."""
        headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
        params = {"signal": list(self.values), "format": "leptos_sse", "token": TOKEN}
        with client.stream("GET", self.url, params=params, headers=headers) as resp:
            assert resp.status_code == 200, resp.read()
            events = sseclient.SSEClient(within(resp.iter_bytes(), 5.0)).events()
            for _ in range(count):
                self.dispatch(next(events))

    def dispatch(self, event: Any) -> None:
        if event.id is not None:
            self.last_event_id = event.id
        name = event.event
        if name not in self.values:
            self.unheard += 1
            return
        try:
            update = json.loads(event.data)
        except ValueError:
            return  # `if let Ok(update_signal) = serde_json::from_str(...)`
        if not isinstance(update, dict) or update.get("event") != name:
            return
        # `json_patch::patch(doc, &update_signal.patch).unwrap()`: raises, as it panics.
        self.values[name] = jsonpatch.apply_patch(self.values[name], update["patch"])


def within(chunks: Iterator[bytes], seconds: float) -> Iterator[bytes]:
    """``chunks`` until ``seconds`` passed: keep-alives (every 0.5 s here) would keep a
    read timeout from ever firing while the awaited events never come."""
    deadline = time.monotonic() + seconds
    for chunk in chunks:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the events did not come within {seconds} s")
        yield chunk


def test_a_leptos_sse_client_follows_through_a_reconnect_and_a_restart(
    server: Server, kind: str
) -> None:
    hub = server.hub
    # Values far from the client's defaults: a first patch from T::default() would fail.
    hub.declare("counter", {"value": 5})
    hub.declare("log", ["a", "b", "c"])
    client = LeptosSseClient(server.url, {"counter": {"value": 0}, "log": []})
    with httpx.Client(timeout=5) as http:
        client.follow(http, 2)  # one snapshot per signal
        assert client.values == {"counter": {"value": 5}, "log": ["a", "b", "c"]}
        hub.set("counter", {"value": 6})
        hub.patch("log", [{"op": "add", "path": "/-", "value": "d"}])
        client.follow(http, 2)  # reconnects: the two changes it missed, then live
        hub.set("counter", {"value": 7, "extra": [1]})
        hub.patch("log", [{"op": "remove", "path": "/0"}])
        client.follow(http, 2)
        assert client.values == {"counter": {"value": 7, "extra": [1]}, "log": ["b", "c", "d"]}
        assert client.unheard == 0, "every event is named after a signal"
        # Another server on the same address would know nothing of the old cursor: it
        # sends snapshots (root replaces), which apply to whatever the client has.
        restarted = start_server(kind, token=TOKEN, publish_secret=SECRET)
        try:
            restarted.hub.declare("counter", {"value": 100})
            restarted.hub.declare("log", ["new"])
            client.url = restarted.url + "nb-sse-signals/events"
            client.follow(http, 2)
        finally:
            restarted.stop()
    assert client.values == {"counter": {"value": 100}, "log": ["new"]}


def test_a_leptos_sse_stream_carries_ids_that_resume_as_our_own_do(server: Server) -> None:
    hub = server.hub
    hub.declare("n", 0)
    client = LeptosSseClient(server.url, {"n": 0})
    with httpx.Client(timeout=5) as http:
        client.follow(http, 1)
        first_id = client.last_event_id
        for n in range(1, 6):
            hub.set("n", n)
        client.follow(http, 5)
        assert client.values == {"n": 5}
        # The same cursor in our own shape resumes at the same place.
        params = {"signal": "n", "token": TOKEN}
        with http.stream(
            "GET", client.url, params=params, headers={"Last-Event-ID": first_id}
        ) as resp:
            ours = sseclient.SSEClient(within(resp.iter_bytes(), 5.0)).events()
            revs = [json.loads(next(ours).data)["rev"] for _ in range(5)]
    assert revs == [1, 2, 3, 4, 5]


def test_an_unknown_format_is_rejected_with_the_known_ones(server: Server) -> None:
    server.hub.declare("a", 1)
    resp = httpx.get(
        server.url + "nb-sse-signals/events",
        params={"signal": "a", "format": "xml", "token": TOKEN},
        timeout=5,
    )
    assert resp.status_code == 400
    assert resp.json() == {
        "error": "expected 'format' to be one of nb_sse_signals, leptos_sse; got 'xml'"
    }
    assert server.hub.subscriber_count() == 0
