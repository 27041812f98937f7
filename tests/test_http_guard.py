"""Requests past Tornado's own limits get the protocol's JSON error from the
standalone server, not a bare 400 or a cut connection, and nothing of them is read
on (issue 12: ~1,000 query fields, a 64 kB URL, a 100 MB body)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import orjson
import pytest

from nb_sse_signals._http_guard import room
from nb_sse_signals._limits import Limits
from nb_sse_signals._server import Server

from .conftest import SECRET, TOKEN
from .reliability.conftest import Canary


@pytest.fixture
def canary(server: Server) -> Iterator[Canary]:
    c = Canary(server)
    try:
        yield c
    finally:
        c.stop()


def exchange(server: Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; the status, headers and body of the answer, read to the end
    (the server must close the connection after it)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def test_more_query_fields_than_tornado_parses_get_a_json_400(
    server: Server, canary: Canary
) -> None:
    query = "&".join(f"signal=s{i}" for i in range(1_200))
    status, headers, body = exchange(server, get(f"/nb-sse-signals/events?token={TOKEN}&{query}"))
    assert status == 400
    assert headers["Content-Type"].startswith("application/json")
    assert orjson.loads(body) == {"error": "expected at most 1,000 query fields, got 1,201"}
    assert canary.alive()


@pytest.mark.parametrize(("fields", "refused"), [(1_000, False), (1_001, True)])
def test_the_query_field_limit_holds_to_the_field(
    server: Server, fields: int, refused: bool
) -> None:
    # The token and fields - 1 unknown signals: at the limit the request reaches the
    # handler (which names the unknown signals); one more and it is ours to refuse,
    # before Tornado's own bare 400.
    query = "&".join(f"signal=s{i}" for i in range(fields - 1))
    request = get(f"/nb-sse-signals/snapshot?token={TOKEN}&{query}").replace(
        b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"
    )
    status, _, body = exchange(server, request)
    error = orjson.loads(body)["error"]
    if refused:
        assert (status, error) == (400, "expected at most 1,000 query fields, got 1,001")
    else:
        assert status != 400, error
        assert "query fields" not in error


def test_a_url_past_the_header_limit_gets_a_json_414(server: Server, canary: Canary) -> None:
    status, _, body = exchange(server, get("/nb-sse-signals/events?signal=" + "x" * 70_000))
    assert status == 414
    assert orjson.loads(body)["error"].startswith("expected at most 65,536 header bytes, got 70,")
    assert canary.alive()


def test_headers_past_the_header_limit_get_a_json_431(server: Server) -> None:
    request = (
        b"GET /nb-sse-signals/events?signal=a HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + b"".join(f"X-Filler-{i}: {'y' * 1000}\r\n".encode() for i in range(70))
        + b"\r\n"
    )
    status, _, body = exchange(server, request)
    assert status == 431
    assert "header bytes" in orjson.loads(body)["error"]


@pytest.mark.parametrize(("url_share", "status"), [(0.4, 431), (0.6, 414)])
def test_over_the_header_limit_the_larger_part_names_the_rejection(
    url_share: float, status: int
) -> None:
    # Over the limit, a URL that is most of the header bytes is a 414 (URI Too Long);
    # headers that are most of them a 431: the client learns which to shorten.
    size = 3_000
    host = b"Host: 127.0.0.1\r\n"
    counted = len("Host") + len("127.0.0.1") + 4
    path = "/nb-sse-signals/events?signal=" + "x" * (int(size * url_share) - 30)
    filler = size - counted - len(path) - len("X-Filler") - 4
    request = (
        f"GET {path} HTTP/1.1\r\n".encode() + host + f"X-Filler: {'y' * filler}\r\n\r\n".encode()
    )
    with Server(port=0, token=TOKEN, limits=Limits(header_bytes=2_000)) as srv:
        got, _, body = exchange(srv, request)
    assert (got, orjson.loads(body)["error"]) == (
        status,
        "expected at most 2,000 header bytes, got 3,000",
    )


def test_a_huge_publish_body_gets_a_json_413_before_any_of_it_is_read(
    server: Server, canary: Canary
) -> None:
    # Only the headers are sent: the answer must come without waiting for 200 MB.
    request = (
        f"POST /nb-sse-signals/publish HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"X-Signals-Publish-Secret: {SECRET}\r\nContent-Length: 200000000\r\n\r\n"
    ).encode()
    status, headers, body = exchange(server, request)
    assert status == 413
    assert headers["Connection"] == "close"
    assert orjson.loads(body) == {
        "error": "expected at most 16,777,216 message bytes, got 200,000,000"
    }
    assert server.hub.names() == ["canary"]
    assert canary.alive()


def test_the_header_limit_is_a_limit_like_the_others() -> None:
    with Server(port=0, token=TOKEN, limits=Limits(header_bytes=2_000)) as srv:
        status, _, body = exchange(srv, get("/nb-sse-signals/events?signal=" + "x" * 3_000))
    assert status == 414
    assert orjson.loads(body)["error"].startswith("expected at most 2,000 header bytes")


def test_requests_within_the_limits_pass_through_untouched(server: Server) -> None:
    server.hub.declare("plain", 1)
    status, _, body = exchange(
        server,
        get(f"/nb-sse-signals/snapshot?token={TOKEN}&signal=plain").replace(
            b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"
        ),
    )
    assert status == 200
    assert orjson.loads(body)[0]["name"] == "plain"


@pytest.mark.parametrize("limit", [1, 1_000, 1 << 20, 1 << 24])
def test_tornado_is_given_room_above_each_limit_but_not_without_bound(limit: int) -> None:
    # A body a little over our limit must reach us (to get JSON): Tornado's own limit
    # is at least twice ours and 1 MiB over; and at most both, or it reads on for ever.
    given = room(limit)
    assert given >= 2 * limit
    assert given >= limit + (1 << 20)
    assert given <= 2 * limit + (1 << 20)


def test_the_header_byte_limit_holds_to_the_byte() -> None:
    # header bytes: the request target, and each header as "name: value\r\n".
    headers = b"Host: 127.0.0.1\r\nConnection: close\r\n"
    counted = len("Host") + len("127.0.0.1") + 4 + len("Connection") + len("close") + 4
    with Server(port=0, token=TOKEN, limits=Limits(header_bytes=2_000)) as srv:
        for size, refused in ((2_000, False), (2_001, True)):
            path = "/nb-sse-signals/snapshot?signal=" + "x" * (size - counted - 32)
            assert len(path) + counted == size
            status, _, body = exchange(srv, f"GET {path} HTTP/1.1\r\n".encode() + headers + b"\r\n")
            error = orjson.loads(body)["error"]
            if refused:
                assert status == 414, error
                assert error == "expected at most 2,000 header bytes, got 2,001"
            else:
                assert status != 414, error
                assert "header bytes" not in error


def test_the_message_byte_limit_holds_to_the_byte() -> None:
    with Server(
        port=0, token=TOKEN, publish_secret=SECRET, limits=Limits(message_bytes=100)
    ) as srv:
        for length, refused in ((50, False), (100, False), (101, True)):
            body = b'{"op": "info", "name": "x"}'.ljust(length)
            request = (
                f"POST /nb-sse-signals/publish HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"X-Signals-Publish-Secret: {SECRET}\r\nContent-Length: {length}\r\n"
                "Connection: close\r\n\r\n"
            ).encode() + body
            status, _, answer = exchange(srv, request)
            if refused:
                assert status == 413
                assert orjson.loads(answer) == {
                    "error": "expected at most 100 message bytes, got 101"
                }
            else:
                assert status == 200, answer


def test_a_rejected_body_that_arrives_anyway_is_never_applied() -> None:
    # The client sends its whole body at once, past the limit: the answer is the
    # refusal, and nothing of the body reaches the hub.
    with Server(
        port=0, token=TOKEN, publish_secret=SECRET, limits=Limits(message_bytes=100)
    ) as srv:
        body = orjson.dumps({"op": "declare", "name": "sneaky", "value": "x" * 200})
        request = (
            f"POST /nb-sse-signals/publish HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"X-Signals-Publish-Secret: {SECRET}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        status, _, _ = exchange(srv, request)
        assert status == 413
        assert "sneaky" not in srv.hub.names()


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ("Content-Length: 0\r\n\r\n", False),
        ("Content-Length: 1\r\n\r\nx", True),
        ("Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", True),
    ],
    ids=["empty", "one-byte", "chunked"],
)
def test_a_request_that_takes_no_body_is_rejected_for_any_body_at_all(
    body: str, refused: bool
) -> None:
    # One byte of body on a GET, or a chunked one, is refused before Tornado reads
    # it; an empty one (Content-Length: 0, as some clients send) is no body and passes.
    with Server(port=0, token=TOKEN) as srv:
        srv.hub.declare("plain", 1)
        request = (
            f"GET /nb-sse-signals/snapshot?token={TOKEN}&signal=plain HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nConnection: close\r\n{body}"
        ).encode()
        status, _, answer = exchange(srv, request)
    if refused:
        assert (status, orjson.loads(answer)) == (
            400,
            {"error": "expected no body on GET, got one"},
        )
    else:
        assert status == 200, answer
        assert orjson.loads(answer)[0]["name"] == "plain"
