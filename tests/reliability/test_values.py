"""Values too deep or too big to send are refused whole, before anything changes,
and never break the stream of any signal (issue 12, item 1)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from nb_sse_signals import NotJSONError, ServerSignal
from nb_sse_signals._depth import MAX_DEPTH
from nb_sse_signals._server import Server

from ..conftest import SECRET, TOKEN
from .conftest import Canary


def nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


def nested_json(levels: int) -> bytes:
    # Written by hand: orjson itself cannot write what we want to send here.
    return b"[" * levels + b"0" + b"]" * levels


def publish(server: Server, body: Any) -> httpx.Response:
    return httpx.post(
        server.url + "nb-sse-signals/publish",
        content=orjson.dumps(body) if not isinstance(body, bytes) else body,
        headers={"X-Signals-Publish-Secret": SECRET},
        timeout=10,
    )


def snapshot(server: Server, name: str) -> httpx.Response:
    return httpx.get(
        server.url + "nb-sse-signals/snapshot",
        params={"signal": name},
        headers={"Authorization": f"token {TOKEN}"},
        timeout=5,
    )


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 254, 300, 1000])
def test_a_value_nested_too_deep_is_rejected_with_the_pointer_and_nothing_breaks(
    server: Server, canary: Canary, levels: int
) -> None:
    body = b'[{"op":"declare","name":"deep","value":' + nested_json(levels) + b"}]"
    reply = publish(server, body).json()
    (answer,) = reply
    assert answer["ok"] is False
    assert f"expected at most {MAX_DEPTH} levels of nesting" in answer["error"]
    assert "/0/0/0" in answer["error"], "the message names where"
    assert "deep" not in server.hub.names()
    assert canary.alive(), "another signal's stream keeps flowing"


def test_a_value_at_the_limit_is_served(server: Server) -> None:
    reply = publish(server, {"op": "declare", "name": "edge", "value": nested(MAX_DEPTH)}).json()
    assert reply["ok"] is True, reply
    assert snapshot(server, "edge").status_code == 200


def test_a_shallow_patch_at_a_deep_path_is_rejected_and_changes_nothing(
    server: Server, canary: Canary
) -> None:
    publish(server, {"op": "declare", "name": "d", "value": nested(MAX_DEPTH - 1)})
    rev, before = server.hub.get("d")
    path = "/0" * (MAX_DEPTH - 2) + "/1"  # a new item of the deepest list
    reply = publish(
        server, {"op": "patch", "name": "d", "patch": [{"op": "add", "path": path, "value": [[1]]}]}
    ).json()
    assert reply["ok"] is False
    assert "levels of nesting" in reply["error"]
    assert server.hub.get("d") == (rev, before), "nothing half-applied"
    # The defect was: a refused patch had still changed the value.
    remove = publish(
        server, {"op": "patch", "name": "d", "patch": [{"op": "remove", "path": path}]}
    )
    assert remove.json()["ok"] is False
    assert snapshot(server, "d").status_code == 200
    assert canary.alive()


def test_a_patch_whose_extra_members_cannot_be_encoded_is_rejected_before_it_applies(
    server: Server,
) -> None:
    publish(server, {"op": "declare", "name": "x", "value": {"a": 1}})
    op = b'{"op":"add","path":"/b","value":2,"junk":' + nested_json(300) + b"}"
    reply = publish(server, b'{"op":"patch","name":"x","patch":[' + op + b"]}").json()
    assert reply["ok"] is False
    assert server.hub.get("x") == (0, {"a": 1})


def test_set_of_a_value_too_deep_raises_not_json_and_keeps_the_old_value(server: Server) -> None:
    s = ServerSignal("py-deep", {"ok": True}, server=server)
    with pytest.raises(NotJSONError, match="levels of nesting") as caught:
        s.set({"a": nested(MAX_DEPTH + 5)})
    assert caught.value.path.startswith("/a/0/0")
    assert s.value == {"ok": True}
    with pytest.raises(NotJSONError, match="64-bit"):
        s.set({"big": 2**70})
    assert s.value == {"ok": True}
    s.set({"ok": False})
    server.publisher.flush()
    assert server.hub.get(s.key)[1] == {"ok": False}, "the signal still works"


def test_mutate_of_an_integer_too_big_is_undone(server: Server) -> None:
    s = ServerSignal("py-big", {"n": [1]}, server=server)
    with pytest.raises(NotJSONError, match="64-bit"), s.mutate() as doc:
        doc["n"].append(2**65)
    assert s.value == {"n": [1]}
