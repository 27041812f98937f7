"""The publish endpoint: WebSocket and POST, guarded by the publish secret."""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from tornado import httpclient, websocket

from nb_sse_signals import Limits, SignalHub
from nb_sse_signals._protocol import parse_change
from nb_sse_signals._server import Server

from .conftest import SECRET, TOKEN
from .servers import start_server
from .test_handlers import read_events
from .ws import close_websocket

# The protocol suite: every test runs against both servers (conftest.py).
pytestmark = pytest.mark.both_servers

SECRET_HEADER = {"X-Signals-Publish-Secret": SECRET}


def post(server: Server, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        server.url + "nb-sse-signals/publish",
        content=orjson.dumps(body),
        headers=SECRET_HEADER if headers is None else headers,
        timeout=5,
    )


def test_post_declares_sets_patches_and_closes(server: Server) -> None:
    replies = post(
        server,
        [
            {"id": 1, "op": "declare", "name": "a", "value": {"xs": [1]}},
            {"id": 2, "op": "set", "name": "a", "value": {"xs": [1, 2]}},
            {
                "id": 3,
                "op": "patch",
                "name": "a",
                "patch": [{"op": "add", "path": "/y", "value": 0}],
                "base": 1,
            },
        ],
    ).json()
    assert replies == [
        {"id": 1, "ok": True, "rev": 0},
        {"id": 2, "ok": True, "rev": 1},
        {"id": 3, "ok": True, "rev": 2},
    ]
    assert server.hub.get("a") == (2, {"xs": [1, 2], "y": 0})
    assert post(server, {"id": 4, "op": "close", "name": "a"}).json() == {
        "id": 4,
        "ok": True,
        "rev": 2,
    }, "a close reply carries its id and the revision the closed event names"
    assert server.hub.names() == []


def test_a_whole_value_set_over_the_wire_reaches_viewers_as_its_difference(
    server: Server,
) -> None:
    xs = [0.5 * i for i in range(1_000)]
    post(server, {"op": "declare", "name": "a", "value": {"xs": xs, "t": 1}})
    [snapshot] = read_events(server, ["a"], 1)
    # t: 1 -> 1.0 is a change of JSON type, which must reach viewers too.
    assert post(
        server, {"op": "set", "name": "a", "value": {"xs": [*xs, 7.5], "t": 1.0}}
    ).json() == {
        "ok": True,
        "rev": 1,
    }
    [change] = read_events(server, ["a"], 1, headers={"Last-Event-ID": snapshot.id})
    assert parse_change(change.data).patch == [
        {"op": "add", "path": "/xs/1000", "value": 7.5},
        {"op": "replace", "path": "/t", "value": 1.0},
    ]
    rev, value = server.hub.get("a")
    assert (rev, value) == (1, {"xs": [*xs, 7.5], "t": 1.0})
    assert type(value["t"]) is float


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Signals-Publish-Secret": "wrong"}, {"Authorization": f"token {TOKEN}"}],
    ids=["missing", "wrong", "subscriber-token"],
)
def test_publishing_without_the_secret_is_forbidden(
    server: Server, headers: dict[str, str]
) -> None:
    resp = post(server, {"op": "declare", "name": "a", "value": 1}, headers=headers)
    assert resp.status_code == 403
    assert "publish secret" in resp.json()["error"]
    assert server.hub.names() == []


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"op": "explode", "name": "a"}, "one of declare, set, patch, close, info"),
        ({"op": "set", "name": "a"}, "'value'"),
        ({"op": "set", "name": 3, "value": 1}, "'name' to be a string"),
        ({"op": "set", "name": "zzz", "value": 1}, "'zzz'"),
        ({"op": "patch", "name": "a", "patch": [{"op": "remove", "path": "/nope"}]}, "nope"),
        ({"op": "patch", "name": "a", "patch": "nope"}, "list of operations"),
        ({"op": "patch", "name": "a", "patch": [], "base": "1"}, "'base'"),
        ({"op": "declare", "name": "bad key", "value": 1}, "signal key"),
        ({"op": "close", "name": "zzz"}, "'zzz'"),
    ],
)
def test_bad_messages_are_rejected_with_a_reason_and_change_nothing(
    server: Server, message: Any, error: str
) -> None:
    server.hub.declare("a", {"v": 1})
    resp = post(server, message)
    assert resp.status_code == 400, "a single message refused: nothing changed"
    reply = resp.json()
    assert reply["ok"] is False
    assert error in reply["error"]
    assert server.hub.get("a") == (0, {"v": 1})
    assert server.hub.names() == ["a"]


def test_a_batch_is_answered_200_with_one_reply_per_message_in_order(server: Server) -> None:
    # Its messages apply one by one: an error status would hide that some did.
    resp = post(
        server,
        [
            {"id": "a", "op": "declare", "name": "a", "value": 1},
            {"id": "b", "op": "set", "name": "zzz", "value": 1},
            1,
            {"id": "c", "op": "set", "name": "a", "value": 2},
        ],
    )
    assert resp.status_code == 200
    replies = resp.json()
    assert [r.get("id") for r in replies] == ["a", "b", None, "c"]
    assert [r["ok"] for r in replies] == [True, False, False, True]
    assert "'zzz'" in replies[1]["error"]
    assert "JSON object" in replies[2]["error"]
    assert server.hub.get("a") == (1, 2), "the messages around the refused ones applied"


@pytest.mark.parametrize(("body", "expected"), [([], []), ([{"op": "info", "name": "x"}], 1)])
def test_an_array_always_gets_an_array(server: Server, body: Any, expected: Any) -> None:
    resp = post(server, body)
    assert resp.status_code == 200
    replies = resp.json()
    assert isinstance(replies, list)
    assert len(replies) == (expected if isinstance(expected, int) else 0)


def test_invalid_json_body_is_a_400(server: Server) -> None:
    resp = httpx.post(
        server.url + "nb-sse-signals/publish", content=b"{nope", headers=SECRET_HEADER, timeout=5
    )
    assert resp.status_code == 400
    assert "invalid JSON" in resp.json()["error"]


async def test_websocket_publisher_gets_one_reply_per_message(server: Server) -> None:
    url = server.url.replace("http", "ws") + "nb-sse-signals/publish"
    request = httpclient.HTTPRequest(url, headers=SECRET_HEADER, request_timeout=5)
    conn = await asyncio.wait_for(websocket.websocket_connect(request), 5)
    try:
        conn.write_message(orjson.dumps({"id": "x", "op": "declare", "name": "w", "value": [1]}))
        assert orjson.loads(await asyncio.wait_for(conn.read_message(), 5)) == {
            "id": "x",
            "ok": True,
            "rev": 0,
        }
        conn.write_message(orjson.dumps({"op": "set", "name": "w", "value": "nan"}))
        assert orjson.loads(await asyncio.wait_for(conn.read_message(), 5))["rev"] == 1
        conn.write_message(b"{broken")
        assert (
            "expected JSON" in orjson.loads(await asyncio.wait_for(conn.read_message(), 5))["error"]
        )
    finally:
        await close_websocket(conn)
    assert server.hub.get("w") == (1, "nan")


async def test_websocket_without_the_secret_is_rejected(server: Server) -> None:
    url = server.url.replace("http", "ws") + "nb-sse-signals/publish"
    request = httpclient.HTTPRequest(
        url, headers={"Authorization": f"token {TOKEN}"}, request_timeout=5
    )
    with pytest.raises(httpclient.HTTPClientError) as info:
        await asyncio.wait_for(websocket.websocket_connect(request), 5)
    assert info.value.code == 403


async def open_publisher(server: Server) -> websocket.WebSocketClientConnection:
    url = server.url.replace("http", "ws") + "nb-sse-signals/publish"
    request = httpclient.HTTPRequest(url, headers=SECRET_HEADER, request_timeout=5)
    return await asyncio.wait_for(websocket.websocket_connect(request), 5)


async def declare_over(conn: websocket.WebSocketClientConnection, name: str, value: Any) -> None:
    conn.write_message(orjson.dumps({"op": "declare", "name": name, "value": value}))
    assert orjson.loads(await asyncio.wait_for(conn.read_message(), 5))["ok"]


async def test_signals_of_a_publisher_that_vanished_are_closed_after_a_grace_period(
    server: Server,
) -> None:
    conn = await open_publisher(server)
    await declare_over(conn, "k-dead/count", 1)
    await close_websocket(conn)
    await asyncio.sleep(0.1)
    assert server.hub.names() == ["k-dead/count"], "still open within the grace period"
    for _ in range(250):  # the fixture's grace period is 1 s; wait up to 5 s
        if not server.hub.names():
            break
        await asyncio.sleep(0.02)
    assert server.hub.names() == [], "closed once the grace period passed"


async def test_a_publisher_that_reconnects_in_time_keeps_its_signals_open(server: Server) -> None:
    first = await open_publisher(server)
    await declare_over(first, "k-restart/count", 1)
    await close_websocket(first)
    second = await open_publisher(server)  # a restarted kernel keeps its id, so its keys
    try:
        await declare_over(second, "k-restart/count", 2)
        await asyncio.sleep(2.0)  # twice the grace period
        assert server.hub.names() == ["k-restart/count"]
        assert server.hub.get("k-restart/count") == (1, 2)
    finally:
        await close_websocket(second)


def raw_exchange(server: Any, request: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    """Send ``request`` on a raw socket; the status and body of the answer, read until
    the server closes the connection (it must, having read no body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def post_head(server: Any, length: int, secret: str | None) -> bytes:
    path = urlsplit(server.url).path + "nb-sse-signals/publish"
    auth = f"X-Signals-Publish-Secret: {secret}\r\n" if secret else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: {length}\r\n\r\n"
    ).encode()


def test_a_publish_body_over_the_limit_gets_a_json_413_before_any_of_it_is_read(
    server: Server,
) -> None:
    # Only the headers are sent: the answer must come without waiting for 200 MB.
    status, body = raw_exchange(server, post_head(server, 200_000_000, SECRET))
    assert status == 413
    assert orjson.loads(body) == {
        "error": "expected at most 16,777,216 message bytes, got 200,000,000"
    }
    assert server.hub.names() == []


def test_a_publish_without_the_secret_is_rejected_before_its_body_is_read(
    server: Server,
) -> None:
    status, body = raw_exchange(server, post_head(server, 1_000, None), timeout=3)
    assert status == 403
    assert "publish secret" in orjson.loads(body)["error"]


async def test_the_websocket_handshake_tells_the_limit_and_a_bigger_frame_is_closed_1009(
    kind: str,
) -> None:
    hub = SignalHub(limits=Limits(message_bytes=1_000))
    srv = start_server(kind, hub, token=TOKEN, publish_secret=SECRET)
    try:
        conn = await open_publisher(srv)
        try:
            assert conn.headers["X-Signals-Max-Message-Bytes"] == "1000"
            await declare_over(conn, "small", "x" * 900)
            big = orjson.dumps({"op": "set", "name": "small", "value": "y" * 2_000})
            conn.write_message(big)
            assert await asyncio.wait_for(conn.read_message(), 5) is None
            assert conn.close_code == 1009
        finally:
            await close_websocket(conn)
        assert hub.get("small") == (0, "x" * 900)
    finally:
        srv.stop()


def _raw_request(server: Server, head: str, body: bytes = b"", wait: float = 5.0) -> bytes:
    """Send ``head`` (and ``body``), then read until the server closes; fails the test if
    it has not answered and closed within ``wait`` seconds (it waited for a body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n" + body)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            pytest.fail(f"no answer and close within {wait} s (read so far: {answer!r})")
        return answer


@pytest.mark.parametrize("secret", [None, "wrong"])
def test_a_publish_without_the_secret_is_rejected_on_its_headers_and_its_body_never_read(
    server: Server, secret: str | None
) -> None:
    # 8 MB announced, none sent: a server that read bodies before checking the secret
    # would wait for them (and keep them) for every stranger's connection.
    path = urlsplit(server.url).path + "nb-sse-signals/publish"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 8000000"
        "\r\nContent-Type: application/json"
        + (f"\r\nX-Signals-Publish-Secret: {secret}" if secret else "")
    )
    answer = _raw_request(server, head)
    assert answer.startswith(b"HTTP/1.1 403"), answer
    assert b"expected the publish secret" in answer


def test_a_get_with_a_body_is_rejected_on_its_headers_by_the_standalone_server() -> None:
    # Tornado's own rule (it reads a body before any handler runs), so the standalone
    # Tornado server's alone: an ASGI app is handed no body it does not ask for.
    with Server(token=TOKEN, publish_secret=SECRET) as server:
        head = (
            "GET /nb-sse-signals/snapshot?signal=a HTTP/1.1\r\nHost: x\r\nContent-Length: 8000000"
        )
        answer = _raw_request(server, head)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert b"expected no body on GET, got one" in answer


def test_a_chunked_publish_over_the_limit_is_a_413_and_changes_nothing() -> None:
    with Server(token=TOKEN, publish_secret=SECRET, limits=Limits(message_bytes=1000)) as server:
        value = orjson.dumps({"op": "declare", "name": "big", "value": "x" * 3000})
        body = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (value[:1500], value[1500:])
        )
        head = (
            "POST /nb-sse-signals/publish HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Transfer-Encoding: chunked\r\nX-Signals-Publish-Secret: {SECRET}"
        )
        answer = _raw_request(server, head, body + b"0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 413"), answer
        assert b"expected at most 1,000 message bytes, got 3,040" in answer, answer
        assert server.hub.names() == []
        small = {"op": "declare", "name": "small", "value": 1}
        assert post(server, small).status_code == 200, "a body under the limit still goes in"
        assert server.hub.names() == ["small"]


@pytest.mark.parametrize(("method", "status"), [("GET", 400), ("PUT", 405), ("DELETE", 405)])
def test_every_rejection_of_the_publish_endpoint_is_json(
    server: Server, method: str, status: int
) -> None:
    resp = httpx.request(
        method, server.url + "nb-sse-signals/publish", headers=SECRET_HEADER, timeout=5
    )
    assert resp.status_code == status
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.json()["error"], resp.text
    if method == "GET":
        assert "expected a WebSocket upgrade" in resp.json()["error"]


def test_a_path_the_standalone_server_does_not_serve_is_a_json_404(server: Server) -> None:
    resp = httpx.get(server.url + "nope", timeout=5)
    assert resp.status_code == 404
    assert "'/nope'" in resp.json()["error"]
