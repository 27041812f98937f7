"""The live-plot notebooks in JupyterLab: bqplot, plotly and matplotlib follow a signal.

Each notebook runs top to bottom in a fresh kernel. Its producer appends 300 points
(20 a second) and stops; each plot must move while it runs and end on the signal's
final value, read from the plot's own state in the page (bqplot's d3 data, plotly's
``gd.data``) beside the value the signal widget shows.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from ..jupyter import JupyterServer
from .lab import needs_chromium, notebook_page, run_all, wait_for_all_cells

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

POINTS = 300  # what each notebook's producer appends before it stops
WINDOW = 200  # what live_plot keeps
FINAL = 30_000  # ms: the producers run for 15 s


@pytest.fixture(scope="module")
def lab_options() -> dict[str, Any]:
    return {"base_url": "/prefix/"}


def shown_series(page: Page) -> tuple[int, float, float]:
    """(points, last x, last y) as the signal widget of a plotly/matplotlib notebook shows them."""
    text = page.locator(".nb-sse-signals-content", has_text="points, last (").inner_text()
    match = re.fullmatch(r"(\d+) points, last \((-?[\d.]+), (-?[\d.e-]+)\)", text)
    assert match, text
    return int(match[1]), float(match[2]), float(match[3])


# bqplot binds each curve's points to its `.curve` element with d3 (`__data__`).
BQPLOT_LINE = """() => {
    const curve = document.querySelector('.bqplot .curve');
    const values = curve?.__data__?.values ?? [];
    const path = curve?.querySelector('path.line')?.getAttribute('d') ?? '';
    return {n: values.length, last: values.at(-1) ?? null, path};
}"""


def test_bqplot_follows_the_signal_in_the_browser_to_its_final_value(
    browser: Browser, lab: JupyterServer, tmp_path: Path
) -> None:
    with notebook_page(browser, lab, "live_plot.ipynb") as (page, log):
        run_all(page)
        wait_for_all_cells(page)
        page.wait_for_function(f"() => ({BQPLOT_LINE})().n >= 5", timeout=10_000)
        first: dict[str, Any] = page.evaluate(BQPLOT_LINE)
        time.sleep(1)  # twenty points a second
        later: dict[str, Any] = page.evaluate(BQPLOT_LINE)
        assert later["path"] != first["path"], "the line's SVG path should change"
        assert later["n"] > first["n"], f"the line should grow: {first['n']}, {later['n']}"
        page.locator(".bqplot").first.scroll_into_view_if_needed()
        page.screenshot(path=tmp_path / "live_plot_running.png")

        summary = page.locator(".nb-sse-signals-content", has_text="points, last")
        expect(summary).to_contain_text(f"{POINTS} points", timeout=FINAL)
        last = float(re.search(r"last (-?[\d.]+)", summary.inner_text())[1])  # type: ignore[index]
        page.wait_for_function(
            f"""() => {{
                const line = ({BQPLOT_LINE})();
                return line.n === {WINDOW} && line.last.x === {POINTS - 1}
                    && line.last.y === {last};
            }}""",
            timeout=5_000,
        )
        # The signal's own chart ends on the same window.
        chart = page.evaluate(
            """() => {
                const data = document.querySelector('.nb-sse-signals-chart').nbSseSignalsPlot.data;
                return {n: data[1].length, x: data[0].at(-1), y: data[1].at(-1)};
            }"""
        )
        assert chart == {"n": WINDOW, "x": POINTS - 1, "y": last}
        label = page.locator(".widget-label", has_text="kernel sees")
        expect(label).to_have_text(f"kernel sees {POINTS} points")
        page.locator(".bqplot").first.scroll_into_view_if_needed()
        page.screenshot(path=tmp_path / "live_plot.png")
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)


# Each FigureWidget view's element is plotly's graph div: its `data` is what is drawn.
PLOTLY_TRACES = """() => [...document.querySelectorAll('.js-plotly-plot')].map((gd) => ({
    n: gd.data[0].y.length,
    x: gd.data[0].x.at(-1) ?? null,
    y: gd.data[0].y.at(-1) ?? null,
    path: gd.querySelector('.scatterlayer .js-line')?.getAttribute('d') ?? '',
}))"""


def test_plotly_follows_the_signal_in_the_browser_to_its_final_value(
    browser: Browser, lab: JupyterServer, tmp_path: Path
) -> None:
    with notebook_page(browser, lab, "live_plot_plotly.ipynb") as (page, log):
        run_all(page)
        wait_for_all_cells(page)
        page.wait_for_function(
            f"() => {{ const t = ({PLOTLY_TRACES})(); return t.length === 1 && t[0].n >= 5; }}",
            timeout=15_000,
        )
        first = page.evaluate(PLOTLY_TRACES)
        time.sleep(1)
        later = page.evaluate(PLOTLY_TRACES)
        assert later[0]["path"] != first[0]["path"], "the trace's SVG path should change"
        assert later[0]["n"] > first[0]["n"], f"the trace should grow: {first} then {later}"
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        page.screenshot(path=tmp_path / "plotly_running.png")

        expect(page.locator(".nb-sse-signals-content", has_text="points, last (")).to_contain_text(
            f"{POINTS} points", timeout=FINAL
        )
        n, x, y = shown_series(page)
        page.wait_for_function(
            f"""() => ({PLOTLY_TRACES})().every(
                (t) => t.n === {n} && t.x === {x} && t.y === {y})""",
            timeout=5_000,
        )
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        page.screenshot(path=tmp_path / "plotly.png")
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)


CANVAS = "() => document.querySelector('.jupyter-matplotlib-canvas-div canvas')?.toDataURL()"
# Playwright never counts ipympl's stacked canvases as visible, so scroll by hand.
SCROLL_TO_CANVAS = "() => document.querySelector('.jupyter-matplotlib-canvas-div').scrollIntoView()"


def test_matplotlib_redraws_from_the_kernel_to_the_final_value(
    browser: Browser, lab: JupyterServer, tmp_path: Path
) -> None:
    with notebook_page(browser, lab, "live_plot_matplotlib.ipynb") as (page, log):
        run_all(page)
        wait_for_all_cells(page)
        page.wait_for_function(f"() => !!({CANVAS})()", timeout=15_000)
        first = page.evaluate(CANVAS)
        time.sleep(1)
        assert page.evaluate(CANVAS) != first, "the figure should be redrawn as points arrive"
        page.evaluate(SCROLL_TO_CANVAS)
        page.screenshot(path=tmp_path / "matplotlib_running.png")

        expect(page.locator(".nb-sse-signals-content", has_text="points, last (")).to_contain_text(
            f"{POINTS} points", timeout=FINAL
        )
        # The image is a rendering: once the last value is drawn it no longer changes.
        time.sleep(1)  # one throttle period and a round trip
        final = page.evaluate(CANVAS)
        time.sleep(0.5)
        assert page.evaluate(CANVAS) == final, "the figure should settle on the final value"
        page.evaluate(SCROLL_TO_CANVAS)
        page.screenshot(path=tmp_path / "matplotlib.png")
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)
