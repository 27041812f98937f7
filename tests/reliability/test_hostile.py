"""Hostile input to every endpoint: each answer is a 4xx with a JSON message (or an
``ok: false`` reply), nothing changes, and a canary subscriber keeps receiving."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nb_sse_signals._server import Server

from ..conftest import SECRET, TOKEN
from .conftest import Canary

AUTH = {"Authorization": f"token {TOKEN}"}
PUBLISH = {"X-Signals-Publish-Secret": SECRET}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
pointers = st.one_of(
    st.just(""),
    st.lists(
        st.sampled_from(["a", "0", "-", "~", "~0", "~1", "/", "1e0", "00", "x y"]), max_size=4
    ).map(lambda parts: "".join("/" + p for p in parts)),
    st.text(max_size=10),
)
ops = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "nope", 3])},
    optional={"path": pointers, "from": pointers, "value": json_values},
)
messages = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["declare", "set", "patch", "close", "info", "bogus", None]),
            # Not the canary: a publisher (who holds the secret) may close any signal.
            "name": st.one_of(st.sampled_from(["target", ""]), st.text(max_size=8)).filter(
                lambda name: name != "canary"
            ),
        },
        optional={
            "value": json_values,
            "patch": st.one_of(st.lists(ops, max_size=5), json_values),
            "base": st.one_of(st.integers(-2, 5), st.text(max_size=3)),
        },
    ),
)
queries = st.lists(
    st.tuples(
        st.sampled_from(["signal", "lastEventId", "token", "x"]),
        st.one_of(
            st.sampled_from(["target", "canary", "", "zz-9", "a" * 300]), st.text(max_size=12)
        ),
    ),
    max_size=6,
)


def state(server: Server) -> Any:
    hub = server.hub
    return {name: hub.get(name) for name in hub.names() if name != "canary"}


def is_json_error(answer: httpx.Response) -> bool:
    try:
        body = answer.json()
    except json.JSONDecodeError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), str) and bool(body["error"])


SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(message=messages)
def test_any_publish_message_is_applied_whole_or_rejected_with_a_reason(
    server: Server, canary: Canary, message: Any
) -> None:
    if "target" not in server.hub.names():
        server.hub.declare("target", {"a": [1, 2], "b": {"c": True}})
    before = state(server)
    answer = httpx.post(
        server.url + "nb-sse-signals/publish", content=orjson.dumps(message), headers=PUBLISH,
        timeout=10,
    )  # fmt: skip
    assert answer.status_code in (200, 400), answer.text
    body = answer.json()
    if answer.status_code == 400:
        replies = body if isinstance(body, list) else [body]
        for reply in replies:
            assert reply.get("ok") is False or "error" in reply, reply
            assert isinstance(reply.get("error"), str), reply
            assert reply["error"], reply
        assert state(server) == before, "a refused message changed nothing"
    assert canary.alive(), "the canary's stream keeps flowing"


@SETTINGS
@given(body=st.binary(max_size=200))
def test_bytes_that_are_not_json_get_a_json_error(server: Server, body: bytes) -> None:
    answer = httpx.post(
        server.url + "nb-sse-signals/publish", content=body, headers=PUBLISH, timeout=10
    )
    assert answer.status_code in (200, 400)
    if answer.status_code == 400:
        assert is_json_error(answer) or all(not r["ok"] for r in answer.json()), answer.text


@SETTINGS
@given(query=queries, endpoint=st.sampled_from(["events", "snapshot"]))
def test_any_query_to_the_subscriber_endpoints_gets_a_stream_or_a_json_error(
    server: Server, canary: Canary, query: list[tuple[str, str]], endpoint: str
) -> None:
    if "target" not in server.hub.names():
        server.hub.declare("target", 1)
    before = state(server)
    url = server.url + f"nb-sse-signals/{endpoint}"
    with (
        httpx.Client(timeout=5) as client,
        client.stream("GET", url, params=query, headers=AUTH) as answer,
    ):
        if answer.status_code == 200:
            kind = answer.headers["content-type"]
            assert kind.startswith(("text/event-stream", "application/json")), kind
        else:
            answer.read()
            assert 400 <= answer.status_code < 500, answer.status_code
            assert is_json_error(answer), answer.text
    assert state(server) == before
    assert canary.alive()
