"""Carrying on when the hub goes away: the publisher over its WebSocket transport."""

from __future__ import annotations

import pytest

from nb_sse_signals import Publisher, ServerSignal
from nb_sse_signals._server import Server
from nb_sse_signals._transport import TransportError

from .conftest import SECRET, TOKEN, wait_until
from .jupyter import free_port


def test_a_wrong_publish_secret_is_rejected(server: Server) -> None:
    with pytest.raises(TransportError, match="403"):
        Publisher.connect(server.url, "wrong-secret", timeout=5)


def test_after_the_hub_restarts_the_publisher_redeclares_and_carries_on() -> None:
    port = free_port()
    first = Server(port=port, token=TOKEN, publish_secret=SECRET).start()
    publisher = Publisher.connect(first.url, SECRET, timeout=5)
    try:
        s = ServerSignal("survivor", {"n": 0}, publisher=publisher, scope="k-x", max_rate=100)
        s.set({"n": 1})
        publisher.flush()
        first.stop()
        second = Server(port=port, token=TOKEN, publish_secret=SECRET).start()
        try:
            s.set({"n": 2})
            wait_until(
                lambda: (
                    "k-x/survivor" in second.hub.names()
                    and second.hub.get("k-x/survivor")[1] == {"n": 2}
                ),
                timeout=15,
                what="the new hub to get the signal's latest value",
            )
        finally:
            second.stop()
    finally:
        publisher.shutdown()
