"""Finding a hub: the Jupyter server extension through the environment, else a standalone server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nb_sse_signals import ServerSignal, _default, _protocol
from nb_sse_signals._server import Server

from .conftest import SECRET
from .jupyter import free_port


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in (_protocol.ENV_URL, _protocol.ENV_SECRET, "JPY_PARENT_PID"):
        monkeypatch.delenv(var, raising=False)
    _default.reset_default_publisher()
    try:
        yield
    finally:
        _default.reset_default_publisher()


def test_without_an_extension_a_standalone_server_starts_quietly(clean_env: None) -> None:
    publisher = _default.default_publisher()  # filterwarnings=error: no warning here
    assert _default.default_server() is not None
    assert publisher.transport.events_url.startswith("http://127.0.0.1:")
    assert _default.default_publisher() is publisher, "one per process"


def test_an_unreachable_extension_falls_back_with_a_warning(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_protocol.ENV_URL, f"http://127.0.0.1:{free_port()}/")
    monkeypatch.setenv(_protocol.ENV_SECRET, "s")
    with pytest.warns(RuntimeWarning, match="browser on another machine cannot reach"):
        _default.default_publisher()
    assert _default.default_server() is not None


def test_in_a_kernel_the_extension_is_found_through_the_environment(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    monkeypatch.setenv(_protocol.ENV_URL, server.url)
    monkeypatch.setenv(_protocol.ENV_SECRET, SECRET)
    monkeypatch.setenv(_protocol.ENV_BASE_URL, "/base/")
    s = ServerSignal("found", 1, scope="k-env")
    assert s.url == "/base/nb-sse-signals/events?signal=k-env/found"
    assert server.hub.get("k-env/found") == (0, 1)
