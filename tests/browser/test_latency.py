"""Measured, not asserted: kernel ``set()`` to DOM over SSE and over the widget's comm,
beside an ipywidgets trait update of the same change."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from ..jupyter import JupyterServer
from .lab import needs_chromium, notebook_page, run_all, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

UPDATES = 50

SETUP = """
%load_ext nb_sse_signals
import threading, time
import ipywidgets as widgets
from nb_sse_signals import ServerSignal

stamped = ServerSignal("latency", {"i": -1, "t": 0.0})
shown = stamped.widget(template="{/i} {/t}").add_class("latency-signal")
# The comm transport (what a kernel with no server extension uses), forced here so
# that both are measured in the same kernel, page and run.
relayed = ServerSignal("latency-comm", {"i": -1, "t": 0.0}, transport="comm")
shown_comm = relayed.widget(template="{/i} {/t}").add_class("latency-comm")
label = widgets.Label("-1 0").add_class("latency-label")
start = widgets.Button(description="start").add_class("latency-start")
"""

# The same change three ways, 40 ms apart, eight a second: far below the signals'
# 30/s rate limit, so no update is coalesced away.
RUN = f"""
def run(_):
    def work():
        for i in range({UPDATES}):
            stamped.set({{"i": i, "t": time.time()}})
            time.sleep(0.04)
            relayed.set({{"i": i, "t": time.time()}})
            time.sleep(0.04)
            label.value = f"{{i}} {{time.time()!r}}"
            time.sleep(0.04)
    threading.Thread(target=work, daemon=True).start()

start.on_click(run)
widgets.VBox([shown, shown_comm, label, start])
"""

# Records, for each selector, when each stamp first shows in the DOM (wall clock,
# as time.time() in the kernel on this machine) minus the stamp.
OBSERVE = """(selectors) => {
    window.__latency = Object.fromEntries(selectors.map((s) => [s, {}]));
    const record = () => {
        const now = Date.now();
        for (const s of selectors) {
            const text = document.querySelector(s)?.textContent.trim() ?? "";
            const match = /^(\\d+) ([\\d.]+)$/.exec(text);
            if (match && !(match[1] in window.__latency[s]))
                window.__latency[s][match[1]] = now - 1000 * Number(match[2]);
        }
    };
    new MutationObserver(record).observe(document.body, {
        subtree: true, childList: true, characterData: true, attributes: true,
    });
}"""


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def test_set_to_dom_latency_beside_an_ipywidgets_trait_update(
    browser: Browser, lab: JupyterServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = write_notebook(lab, "latency.ipynb", SETUP, RUN)
    selectors = [
        ".latency-signal .nb-sse-signals-content",
        ".latency-comm .nb-sse-signals-content",
        ".latency-label",
    ]
    with notebook_page(browser, lab, name) as (page, log):
        run_all(page)
        expect(page.locator(".latency-signal .nb-sse-signals-status-live")).to_be_visible()
        expect(page.locator(".latency-comm .nb-sse-signals-status-live")).to_be_visible()
        page.evaluate(OBSERVE, selectors)
        page.locator(".latency-start").click()
        page.wait_for_function(
            f"""() => Object.values(window.__latency).every(
                (seen) => Object.keys(seen).length >= {UPDATES})""",
            timeout=30_000,
        )
        seen = page.evaluate("window.__latency")
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)

    signal, comm, widget = (list(seen[s].values()) for s in selectors)
    (signal_p50, signal_p99), (widget_p50, widget_p99) = percentiles(signal), percentiles(widget)
    comm_p50, comm_p99 = percentiles(comm)
    figures = {
        "updates": UPDATES,
        "signal_set_to_dom_ms": {"p50": signal_p50, "p99": signal_p99},
        "comm_set_to_dom_ms": {"p50": comm_p50, "p99": comm_p99},
        "ipywidgets_trait_to_dom_ms": {"p50": widget_p50, "p99": widget_p99},
    }
    (tmp_path / "latency.json").write_text(json.dumps(figures, indent=2))
    with capsys.disabled():
        # The measurement is this test's output (pytest -q hides captured output).
        print(  # noqa: T201
            f"\nset() -> DOM over {len(signal)} updates: "
            f"p50 {signal_p50:.1f} ms, p99 {signal_p99:.1f} ms; "
            f"over the comm: p50 {comm_p50:.1f} ms, p99 {comm_p99:.1f} ms; "
            f"ipywidgets trait -> DOM over {len(widget)} updates: "
            f"p50 {widget_p50:.1f} ms, p99 {widget_p99:.1f} ms"
        )
    assert len(signal) == UPDATES, signal
    assert len(comm) == UPDATES, comm
    assert len(widget) == UPDATES, widget
