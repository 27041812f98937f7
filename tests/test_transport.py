"""The publish WebSocket keeps to the hub's message limit: a batch is split to fit,
and a change too big for any message is refused in the kernel, never sent, so one
huge value cannot cut the connection every other signal of the process shares."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nb_sse_signals import Publisher, ServerSignal
from nb_sse_signals import _transport as transport_module
from nb_sse_signals._errors import LimitError
from nb_sse_signals._limits import Limits
from nb_sse_signals._server import Server
from nb_sse_signals._transport import _frames

from .conftest import SECRET, TOKEN, wait_until

LIMIT = 20_000


@pytest.fixture
def small_hub() -> Iterator[Server]:
    srv = Server(
        port=0, token=TOKEN, publish_secret=SECRET, limits=Limits(message_bytes=LIMIT)
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def publisher(small_hub: Server) -> Iterator[Publisher]:
    pub = Publisher.connect(small_hub.url, SECRET, timeout=5)
    try:
        yield pub
    finally:
        pub.shutdown()


def test_the_hub_tells_the_publisher_its_message_limit(publisher: Publisher) -> None:
    assert publisher.transport.max_message_bytes == LIMIT


def test_a_change_too_big_for_the_hub_is_rejected_in_the_kernel_and_changes_nothing(
    small_hub: Server, publisher: Publisher
) -> None:
    s = ServerSignal("big", {"v": 0}, publisher=publisher, scope="k-t")
    with pytest.raises(LimitError, match=r"at most 20,000 bytes as JSON .* got 30,"):
        s.set({"v": "x" * 30_000})
    assert s.value == {"v": 0}
    with pytest.raises(LimitError, match="message_bytes"), s.mutate() as doc:
        doc["w"] = "y" * 30_000
    assert s.value == {"v": 0}
    s.set({"v": 1})
    publisher.flush()
    assert small_hub.hub.get("k-t/big") == (1, {"v": 1})


def test_a_batch_bigger_than_one_message_is_split_and_every_signal_arrives(
    small_hub: Server, publisher: Publisher
) -> None:
    signals = [
        ServerSignal(f"s{i}", "", publisher=publisher, scope="k-t", max_rate=0.5) for i in range(8)
    ]
    publisher.flush()
    for i, s in enumerate(signals):
        s.set(str(i) * 9_000)  # 8 x 9 kB: four messages of the 20 kB limit
    publisher.flush()
    for i, s in enumerate(signals):
        assert small_hub.hub.get(s.key)[1] == str(i) * 9_000


def test_changes_coalesced_past_the_limit_arrive_as_the_whole_value(
    small_hub: Server, publisher: Publisher, caplog: pytest.LogCaptureFixture
) -> None:
    s = ServerSignal("log", [], publisher=publisher, scope="k-t", max_rate=0.01)
    s.set(["first"])  # sent at once; what follows waits 100 s for its turn
    publisher.flush()
    for i in range(40):  # each change fits; together (40 x 1 kB, twice) they do not
        with s.mutate() as doc:
            doc.append(f"{i}" * 1_000)
        with s.mutate() as doc:
            doc.pop()
    s.set(["first", "last"])
    with caplog.at_level(logging.WARNING, logger="nb_sse_signals"):
        publisher.flush()
    assert small_hub.hub.get(s.key)[1] == ["first", "last"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_hub_that_does_not_say_its_limit_teaches_it_with_a_1009_close(
    small_hub: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a hub of an older version would: no limit in the handshake reply.
    monkeypatch.setattr(transport_module, "MAX_MESSAGE_HEADER", "X-Not-Sent")
    pub = Publisher.connect(small_hub.url, SECRET, timeout=5)
    try:
        assert pub.transport.max_message_bytes is None
        signals = [
            ServerSignal(f"u{i}", "", publisher=pub, scope="k-t", max_rate=0.5) for i in range(4)
        ]
        pub.flush()
        for i, s in enumerate(signals):
            s.set(str(i) * 9_000)  # 36 kB in one frame: closed with 1009
        pub.flush()
        wait_until(
            lambda: all(
                small_hub.hub.get(s.key)[1] == str(i) * 9_000 for i, s in enumerate(signals)
            ),
            timeout=10,
            what="every signal to arrive in frames under the learned limit",
        )
        assert pub.transport.max_message_bytes is None  # no message was too big alone
    finally:
        pub.shutdown()


def test_a_whole_value_too_big_is_logged_once_and_not_resent_in_a_loop(
    small_hub: Server, publisher: Publisher, caplog: pytest.LogCaptureFixture
) -> None:
    s = ServerSignal("grows", ["seed"], publisher=publisher, scope="k-t", max_rate=0.01)
    for _ in range(25):  # past the limit in changes that each fit: they all arrive
        with s.mutate() as doc:
            doc.append("z" * 1_000)
    publisher.flush()
    assert small_hub.hub.get(s.key)[1] == s.value
    rev = small_hub.hub.get(s.key)[0]
    other = ServerSignal("other", 0, publisher=publisher, scope="k-t")
    with caplog.at_level(logging.WARNING, logger="nb_sse_signals"):
        for _ in range(3):  # reconnects: each time the whole value would be resent
            publisher.run(publisher._redeclare_all())
            publisher.flush()
        other.set(1)
        publisher.flush()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "k-t/grows" in errors[0]
    assert "at most 20,000 bytes" in errors[0]
    assert small_hub.hub.get(s.key)[0] == rev  # viewers keep what they had
    assert small_hub.hub.get(other.key) == (1, 1)  # and every other signal carries on


@given(st.lists(st.integers(min_value=1, max_value=60), max_size=30), st.integers(3, 80))
def test_frames_keep_order_and_fit_the_limit_unless_a_message_is_too_big_alone(
    sizes: list[int], limit: int
) -> None:
    frames = _frames(sizes, limit)
    assert [i for frame in frames for i in frame] == list(range(len(sizes)))
    for frame in frames:
        size = 1 + sum(sizes[i] + 1 for i in frame)  # "[", each message and "," or "]"
        assert size <= limit or len(frame) == 1


def test_a_change_exactly_at_the_limit_is_sent_and_one_byte_more_is_rejected(
    small_hub: Server, publisher: Publisher
) -> None:
    s = ServerSignal("edge", "", publisher=publisher, scope="k-t")
    # The frame: [{"op":"patch","name":"k-t/edge","patch":[<op>],"base":0}], the op a root
    # replace, made on the hub's revision 0 (the declare).
    envelope = len(b'[{"op":"patch","name":"k-t/edge","patch":[],"base":0}]')
    op = len(b'{"op":"replace","path":"","value":""}')
    fits = "x" * (LIMIT - envelope - op)
    s.set(fits)
    publisher.flush()
    assert small_hub.hub.get(s.key)[1] == fits
    with pytest.raises(LimitError, match=r"at most 20,000 bytes as JSON .* got 20,001"):
        s.set(fits + "y")
    assert s.value == fits


def test_a_value_grown_past_the_limit_that_the_hub_lost_rejects_changes_until_it_fits(
    small_hub: Server, publisher: Publisher
) -> None:
    s = ServerSignal("lost", [], publisher=publisher, scope="k-t")
    for _ in range(30):  # each change fits and arrives; the whole value no longer fits
        with s.mutate() as doc:
            doc.append("z" * 1_000)
        publisher.flush()
    assert len(small_hub.hub.get(s.key)[1]) == 30
    publisher.run(publisher._redeclare_all())  # as after a reconnect: the whole value
    publisher.flush()
    with pytest.raises(LimitError, match="lost its copy of 'k-t/lost'"), s.mutate() as doc:
        doc.append("z")
    assert len(s.value) == 30  # nothing changed
    s.set(["small again"])  # fits whole: sent, and the hub has the truth again
    publisher.flush()
    assert small_hub.hub.get(s.key)[1] == ["small again"]
    with s.mutate() as doc:
        doc.append("and on")
    publisher.flush()
    assert small_hub.hub.get(s.key)[1] == ["small again", "and on"]


def test_changes_that_would_coalesce_past_the_limit_leave_as_separate_real_values(
    small_hub: Server, publisher: Publisher
) -> None:
    s = ServerSignal("burst", [], publisher=publisher, scope="k-t", max_rate=0.01)
    s.set(["seed"])
    publisher.flush()
    for i in range(3):  # 3 x 9 kB: two fit one message, the third does not
        with s.mutate() as doc:
            doc.append(str(i) * 9_000)
    publisher.flush()
    assert small_hub.hub.get(s.key)[1] == s.value
    assert small_hub.hub.get(s.key)[0] == 3  # seed, then two patches (not one re-declare)


def test_a_publisher_that_stops_closes_its_socket_even_if_the_hub_never_answers_the_close() -> None:
    # A hub that accepts the WebSocket and then never reads (a hung Jupyter server):
    # close() only starts the closing handshake, and the publisher's loop stops after.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    ended: list[float] = []

    def hub() -> None:
        conn, _ = listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            key = re.search(rb"Sec-WebSocket-Key: (\S+)", request, re.I)
            assert key is not None
            accept = base64.b64encode(
                hashlib.sha1(key.group(1) + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
            )
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            conn.settimeout(15)
            with contextlib.suppress(OSError):
                while conn.recv(4096):  # the close frame; never answered
                    pass
            ended.append(time.monotonic())

    thread = threading.Thread(target=hub, daemon=True)
    thread.start()
    try:
        pub = Publisher.connect(f"http://127.0.0.1:{port}/", SECRET, timeout=5)
        stopped = time.monotonic()
        pub.shutdown()
        thread.join(15)
        assert ended, "the hub's end of the socket never saw it close"
        assert ended[0] - stopped < 5, "closed by the publisher, not at last by a timer or the GC"
    finally:
        listener.close()


def test_a_wrong_secret_is_reported_with_the_hubs_own_reason(server: Server) -> None:
    with pytest.raises(transport_module.TransportError) as caught:
        Publisher.connect(server.url, "not-the-secret", timeout=5)
    message = str(caught.value)
    assert "rejected the connection (HTTP 403)" in message
    assert "expected the publish secret in X-Signals-Publish-Secret" in message
    assert "cannot reach" not in message, "the hub was reached"


def test_a_hub_that_is_not_there_cannot_be_reached() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(transport_module.TransportError, match="cannot reach the signals hub"):
        Publisher.connect(f"http://127.0.0.1:{port}/", SECRET, timeout=5)
