"""A kernel restart in JupyterLab, in a real Chromium: a signal widget shows ``stale``
from the moment the old kernel's connection drops, keeps its last value, and goes
``live`` again once the restarted kernel runs the signal's cell (issue 12).

The widget is shown by a cell of its own, which is not run again: its view is the one
that was there before the restart, following the key through the page's stream (a
re-run of the showing cell would replace the output with a new, trivially live view).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from ..jupyter import JupyterServer
from .lab import (
    needs_chromium,
    notebook_page,
    run_all,
    wait_for_all_cells,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

DECLARE = "from nb_sse_signals import ServerSignal\ns = ServerSignal('count', {'n': 5})"
SHOW = "s.widget()"


def test_a_widget_goes_stale_on_a_kernel_restart_and_live_when_the_cell_runs_again(
    browser: Browser, lab: JupyterServer, tmp_path: Path
) -> None:
    name = write_notebook(lab, "restart.ipynb", DECLARE, SHOW)
    with notebook_page(browser, lab, name) as (page, log):
        run_all(page)
        wait_for_all_cells(page)
        widget = page.locator(".nb-sse-signals")
        expect(widget).to_have_class("nb-sse-signals nb-sse-signals-status-live", timeout=20_000)
        expect(widget).to_contain_text("n: 5")

        with httpx.Client(base_url=lab.url, headers=lab.headers, timeout=30) as client:
            (kernel,) = client.get("api/kernels").json()
            client.post(f"api/kernels/{kernel['id']}/restart").raise_for_status()
        expect(widget).to_have_class("nb-sse-signals nb-sse-signals-status-stale", timeout=20_000)
        expect(widget).to_contain_text("n: 5")  # the last value stays
        page.wait_for_timeout(1_000)
        expect(widget).to_have_class("nb-sse-signals nb-sse-signals-status-stale")
        page.screenshot(path=str(tmp_path / "stale.png"))  # an orange dot, "n: 5"

        # Run only the declaring cell again, with the very same value (JupyterLab queues
        # the run until the restarted kernel is ready).
        page.locator(".jp-CodeCell .jp-InputArea-editor").first.click()
        page.keyboard.press("Control+Enter")
        expect(widget).to_have_class("nb-sse-signals nb-sse-signals-status-live", timeout=20_000)
        expect(widget).to_have_count(1)  # the same view: its cell did not run again
        expect(widget).to_contain_text("n: 5")
        page.screenshot(path=str(tmp_path / "live.png"))  # a green dot, the same view
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)
