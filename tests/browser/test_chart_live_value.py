"""``s.chart`` alone on its signal, in JupyterLab: no other view takes the value, so the
page applies each patch in place (signal.js ``live``, no copy of the series per change)
and the chart redraws at each revision. Fed by ``mutate()``'s ``extend`` (one recorded
run per block in the kernel), the chart must end with every point of the kernel's series,
read back from the page, and a window that slid must hold the last points.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser

from ..jupyter import JupyterServer
from .lab import needs_chromium, notebook_page, run_all, wait_for_all_cells, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

BLOCKS, PER_BLOCK, WINDOW = 40, 500, 15_000

CELLS = f"""
import threading, time
import ipywidgets as widgets
from nb_sse_signals import ServerSignal
grown = ServerSignal("live-grown", {{"y": []}}, max_rate=1000)
display(grown.chart(x="", y="/y", window={WINDOW}, title="grown by extend"))

def feed():
    for b in range({BLOCKS}):
        with grown.mutate() as doc:
            doc["y"].extend([b * {PER_BLOCK} + k for k in range({PER_BLOCK})])
        time.sleep(0.03)

# Started by the test once the page follows the signal, so every block is a patch.
go = widgets.Button(description="go").add_class("live-go")
go.on_click(lambda _: threading.Thread(target=feed, daemon=True).start())
go
"""


def test_a_chart_alone_on_its_signal_draws_every_extend_to_the_last_point(
    browser: Browser, lab: JupyterServer
) -> None:
    total = BLOCKS * PER_BLOCK
    name = write_notebook(lab, "live_value.ipynb", "%load_ext nb_sse_signals", CELLS)
    with notebook_page(browser, lab, name) as (page, log):
        run_all(page)
        wait_for_all_cells(page)
        page.wait_for_function(
            "() => document.querySelector('.nb-sse-signals-chart')?.dataset.points === '0'",
            polling=250,
        )
        page.evaluate("document.querySelector('.live-go').click()")
        # Polled by timer: a page in the background draws no animation frames.
        page.wait_for_function(
            f"""() => {{
                const data = document.querySelector('.nb-sse-signals-chart')?.nbSseSignalsData;
                return data && data[1].at(-1) === {total - 1};
            }}""",
            timeout=60_000,
            polling=250,
        )
        xs, ys = page.evaluate(
            "() => document.querySelector('.nb-sse-signals-chart').nbSseSignalsData"
        )
        drawn = page.evaluate(
            "() => document.querySelector('.nb-sse-signals-chart').nbSseSignalsPlot.data[1].at(-1)"
        )
        assert log.errors == [], f"the page logged errors: {json.dumps(log.errors)[:500]}"
    assert xs == list(range(total - WINDOW, total)), "the window's x: the last indices"
    assert ys == [float(v) for v in range(total - WINDOW, total)], "every point of the window"
    assert drawn == total - 1, "uPlot drew the last point"
