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


def test_without_an_extension_signals_live_in_this_process_with_no_server_and_no_warning(
    clean_env: None,
) -> None:
    publisher = _default.default_publisher()  # filterwarnings=error: no warning here
    assert _default.is_local(publisher)
    assert _default.default_server() is None, "no server until someone asks for a URL"
    assert publisher.transport.events_url == ""
    assert _default.default_publisher() is publisher, "one per process"
    s = ServerSignal("quiet", 1, scope="k-q")
    assert s.transport == "comm"
    assert not s.served
    assert _default.local_hub(publisher).get("k-q/quiet") == (0, 1)


def test_asking_for_a_url_starts_a_loopback_server_for_the_local_hub(clean_env: None) -> None:
    s = ServerSignal("asked", {"n": 1}, scope="k-a")
    url = s.url
    server = _default.default_server()
    assert server is not None
    assert url == f"{server.url}nb-sse-signals/events?signal=k-a/asked"
    assert url.startswith("http://127.0.0.1:")
    assert s.token == server.token
    assert s.served
    assert ServerSignal("again", 2, scope="k-a").url.startswith(server.url), "one server"


def test_an_unreachable_extension_falls_back_to_the_local_hub_with_a_log_line(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(_protocol.ENV_URL, f"http://127.0.0.1:{free_port()}/")
    monkeypatch.setenv(_protocol.ENV_SECRET, "s")
    publisher = _default.default_publisher()
    assert _default.is_local(publisher)
    assert "unreachable" in caplog.text
    assert ServerSignal("fallback", 0, scope="k-f").transport == "comm"


def test_transport_sse_without_an_extension_streams_from_a_local_server(clean_env: None) -> None:
    s = ServerSignal("sse", 0, scope="k-s", transport="sse")
    assert s.transport == "sse"
    widget = s.widget()
    try:
        assert widget.transport == "sse"
        server = _default.default_server()
        assert server is not None
        assert widget.url == server.url
    finally:
        widget.close()


def test_an_unknown_transport_is_rejected(clean_env: None) -> None:
    with pytest.raises(ValueError, match="expected transport 'auto', 'comm' or 'sse', got 'ws'"):
        ServerSignal("x", 0, scope="k-x", transport="ws")


def test_in_a_kernel_the_extension_is_found_through_the_environment(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    monkeypatch.setenv(_protocol.ENV_URL, server.url)
    monkeypatch.setenv(_protocol.ENV_SECRET, SECRET)
    monkeypatch.setenv(_protocol.ENV_BASE_URL, "/base/")
    s = ServerSignal("found", 1, scope="k-env")
    assert s.url == "/base/nb-sse-signals/events?signal=k-env/found"
    assert server.hub.get("k-env/found") == (0, 1)
    assert s.transport == "sse"


def test_transport_comm_with_an_extension_uses_the_local_hub(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    monkeypatch.setenv(_protocol.ENV_URL, server.url)
    monkeypatch.setenv(_protocol.ENV_SECRET, SECRET)
    s = ServerSignal("relayed", 1, scope="k-c", transport="comm")
    assert s.transport == "comm"
    assert "k-c/relayed" not in server.hub.names(), "the extension's hub is not used"
    assert _default.local_hub(s._publisher).get("k-c/relayed") == (0, 1)
