"""Finding a hub, and carrying on when it goes away: the publisher's transports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nb_sse_signals import Publisher, ServerSignal
from nb_sse_signals import _publisher as publisher_module
from nb_sse_signals._server import Server
from nb_sse_signals._transport import TransportError

from .conftest import SECRET, TOKEN, wait_until
from .jupyter import free_port


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in (publisher_module.ENV_URL, publisher_module.ENV_SECRET, "JPY_PARENT_PID"):
        monkeypatch.delenv(var, raising=False)
    publisher_module.reset_default_publisher()
    try:
        yield
    finally:
        publisher_module.reset_default_publisher()


def test_without_an_extension_a_standalone_server_starts_quietly(clean_env: None) -> None:
    publisher = publisher_module.default_publisher()  # filterwarnings=error: no warning here
    assert publisher.server is not None
    assert publisher.transport.events_url.startswith("http://127.0.0.1:")
    assert publisher_module.default_publisher() is publisher, "one per process"


def test_an_unreachable_extension_falls_back_with_a_warning(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(publisher_module.ENV_URL, f"http://127.0.0.1:{free_port()}/")
    monkeypatch.setenv(publisher_module.ENV_SECRET, "s")
    with pytest.warns(RuntimeWarning, match="browser on another machine cannot reach"):
        publisher = publisher_module.default_publisher()
    assert publisher.server is not None


def test_in_a_kernel_the_extension_is_found_through_the_environment(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    monkeypatch.setenv(publisher_module.ENV_URL, server.url)
    monkeypatch.setenv(publisher_module.ENV_SECRET, SECRET)
    monkeypatch.setenv(publisher_module.ENV_BASE_URL, "/base/")
    s = ServerSignal("found", 1, scope="k-env")
    assert s.url == "/base/nb-sse-signals/events?signal=k-env/found"
    assert server.hub.get("k-env/found") == (0, 1)


def test_a_wrong_publish_secret_is_refused(server: Server) -> None:
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
