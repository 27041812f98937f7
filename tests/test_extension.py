"""``%load_ext nb_sse_signals`` through a real IPython shell."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell

from nb_sse_signals import _default


@pytest.fixture
def ip() -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "nb_sse_signals")
        _default.reset_default_publisher()
        InteractiveShell.clear_instance()


def test_loading_registers_the_magics_and_loading_twice_is_harmless(ip: InteractiveShell) -> None:
    ip.run_line_magic("load_ext", "nb_sse_signals")
    ip.run_line_magic("load_ext", "nb_sse_signals")
    assert "signals" in ip.magics_manager.magics["line"]
    assert "signal_url" in ip.magics_manager.magics["line"]


def test_signals_lists_live_signals_with_subscribers_and_rates(ip: InteractiveShell) -> None:
    ip.run_line_magic("load_ext", "nb_sse_signals")
    ip.run_cell("from nb_sse_signals import ServerSignal\ns = ServerSignal('temp', {'c': 20})")
    ip.run_cell("s.set({'c': 21})\ns._publisher.flush()")
    table = ip.run_line_magic("signals", "")
    text = repr(table)
    assert "temp" in text
    assert "subscribers" in text
    row = next(r for r in table.rows if r[0] == "temp")
    assert row[2] == 1, "one change after the first value: rev 1"
    assert row[3] == 0, "no subscribers yet"
    assert "<table>" in table._repr_html_()


def test_signal_url_shows_where_a_viewer_subscribes(ip: InteractiveShell) -> None:
    ip.run_line_magic("load_ext", "nb_sse_signals")
    ip.run_cell("from nb_sse_signals import ServerSignal\ns = ServerSignal('temp', 1)")
    url = ip.run_line_magic("signal_url", "temp")
    assert url == ip.user_ns["s"].url
    assert "/nb-sse-signals/events?signal=" in url
    with pytest.raises(KeyError, match="live: temp"):
        ip.run_line_magic("signal_url", "nope")


def test_unloading_closes_every_signal(ip: InteractiveShell) -> None:
    ip.run_line_magic("load_ext", "nb_sse_signals")
    ip.run_cell(
        "from nb_sse_signals import ServerSignal\n"
        "a = ServerSignal('a', 1)\n"
        "b = ServerSignal('b', 2)"
    )
    hub = _default.local_hub(ip.user_ns["a"]._publisher)
    ip.run_line_magic("unload_ext", "nb_sse_signals")
    assert ip.user_ns["a"].closed
    assert ip.user_ns["b"].closed
    assert hub.names() == []
    assert "signals" not in ip.magics_manager.magics["line"]
    ip.run_line_magic("load_ext", "nb_sse_signals")  # and it loads again
