"""Signals in marimo: ``marimo run`` (headless) in a real Chromium, ``mo.ui.anywidget(...)``.

marimo runs no Jupyter server, so a signal of its kernel is followed over the widget's
comm; a signal of another process is followed over SSE from that process's server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from nb_sse_signals import ServerSignal
from nb_sse_signals._server import Server

from ..jupyter import free_port, isolated_env, stop_process, wait_until_serving
from .lab import VIEWPORT, needs_chromium, new_page

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium, pytest.mark.timeout(300)]

COUNT_TO = 40  # the kernel's thread and the other process each count to this, 10 a second

NOTEBOOK = textwrap.dedent(
    f"""\
    import marimo

    app = marimo.App()


    @app.cell
    def _():
        import os
        import threading
        import time

        import marimo as mo

        from nb_sse_signals import ServerSignal, SignalWidget

        return ServerSignal, SignalWidget, mo, os, threading, time


    @app.cell
    def _(ServerSignal, os, threading, time):
        s = ServerSignal("marimo", {{"n": 0}})

        def count():
            go = os.environ["GO_FILE"]  # the test makes it once the page shows the widgets
            while not os.path.exists(go):
                time.sleep(0.05)
            for n in range(1, {COUNT_TO} + 1):
                s.set({{"n": n}})
                time.sleep(0.1)

        threading.Thread(target=count, daemon=True).start()
        return (s,)


    @app.cell
    def _(mo, s):
        a = mo.ui.anywidget(s.widget(template="a = {{/n}}"))
        b = mo.ui.anywidget(s.widget(template="b = {{/n}}"))
        mo.hstack([a, b])
        return


    @app.cell
    def _(SignalWidget, mo, os):
        remote = SignalWidget(
            url=os.environ["REMOTE_URL"],
            token=os.environ["REMOTE_TOKEN"],
            name="remote",
            template="remote = {{/n}}",
        )
        mo.ui.anywidget(remote)
        return


    if __name__ == "__main__":
        app.run()
    """
)


@pytest.fixture
def remote() -> Iterator[Server]:
    """Another process's signal, as far as marimo's kernel knows: served by a standalone
    server of this test process, published from here."""
    server = Server(port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def marimo_app(tmp_path: Path, remote: Server) -> Iterator[tuple[str, Path]]:
    notebook = tmp_path / "signals_app.py"
    notebook.write_text(NOTEBOOK)
    port = free_port()
    env = {
        **isolated_env(tmp_path),
        "REMOTE_URL": remote.url,
        "REMOTE_TOKEN": remote.token or "",
        "GO_FILE": str(tmp_path / "go"),
    }
    log_path = tmp_path / "marimo.log"
    cmd = [
        sys.executable, "-m", "marimo", "run", str(notebook), "--headless",
        "--host", "127.0.0.1", "--port", str(port), "--no-token", "--no-sandbox",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(proc, url, log_path, "marimo")
        yield url, tmp_path / "go"
    finally:
        stop_process(proc)


LIVE = ".nb-sse-signals-status-live > .nb-sse-signals-content"
VIEWS = ("a = ", "b = ", "remote = ")


def _shown(page: Page, prefix: str) -> int | None:
    # Playwright's CSS locators pierce marimo's shadow roots.
    content = page.locator(LIVE, has_text=prefix)
    if content.count() != 1:
        return None
    return int(content.inner_text().removeprefix(prefix))


def test_marimo_follows_a_thread_published_signal_in_two_views_and_another_process_signal(
    browser: Browser, marimo_app: tuple[str, Path], remote: Server, os_env_clean: None
) -> None:
    url, go = marimo_app
    context = browser.new_context(viewport=VIEWPORT)
    page, log = new_page(context)
    other = ServerSignal("remote", {"n": 0}, server=remote)
    try:
        page.goto(url)
        for prefix in ("a = ", "b = ", "remote = "):
            expect(
                page.locator(
                    ".nb-sse-signals-status-live > .nb-sse-signals-content", has_text=prefix
                )
            ).to_be_visible(timeout=60_000)
        go.touch()  # the kernel's thread starts counting
        readings = []
        for n in range(1, COUNT_TO + 1):
            other.set({"n": n})
            time.sleep(0.1)
            if n % 10 == 0:
                readings.append(
                    (_shown(page, "a = "), _shown(page, "b = "), _shown(page, "remote = "))
                )
        a_seen = [a for a, _, _ in readings if a is not None]
        assert len(set(a_seen)) >= 2, f"the kernel's signal should update live: {readings}"
        remote_seen = [r for _, _, r in readings if r is not None]
        assert len(set(remote_seen)) >= 2, f"the other process's signal should be live: {readings}"

        # Both views of one signal, and the other process's, end on the last value.
        deadline = time.monotonic() + 20
        final = (None, None, None)
        while time.monotonic() < deadline:
            final = tuple(_shown(page, prefix) for prefix in VIEWS)
            if final == (COUNT_TO, COUNT_TO, COUNT_TO):
                break
            time.sleep(0.2)
        assert final == (COUNT_TO, COUNT_TO, COUNT_TO), f"the views ended on {final}, {readings}"
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)
    finally:
        other.close()
        context.close()


@pytest.fixture
def os_env_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    # A signal of this test process publishes to ``remote`` explicitly, never to an
    # extension named by the environment of whoever runs the tests.
    for var in list(os.environ):
        if var.startswith("NB_SSE_SIGNALS_"):
            monkeypatch.delenv(var)
