"""Browser-side plots in JupyterLab: ``link`` into a bqplot line, ``link`` into a plotly
trace, and ``s.chart``, on a 10,000-point series appended to for a few seconds.

One notebook shows all three, in two tabs (the second opened from the saved notebook,
its views restored from the kernel). While the producer appends, neither tab may send
the kernel anything but comm handshakes; at the end each plot in each tab must hold
every point of the kernel's final series, read back from the plot's own state (bqplot's
d3 data, plotly's ``gd.data``, the uPlot instance's data).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import Error as PlaywrightError

from ..jupyter import JupyterServer
from .lab import (
    KERNEL_FRAMES,
    LAB_HOUSEKEEPING,
    PageLog,
    another_tab,
    needs_chromium,
    notebook_page,
    run_all,
    save_notebook,
    wait_for_all_cells,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

POINTS, APPENDS, PERIOD = 10_000, 60, 0.05  # three seconds of appends

SETUP = f"""
%load_ext nb_sse_signals
import random, threading, time
import ipywidgets as widgets
import bqplot as bq
import plotly.graph_objects as go
import nb_sse_signals
from nb_sse_signals import ServerSignal

rng = random.Random(11)
series = ServerSignal("live-series", {{"x": list(range({POINTS})),
                                      "y": [rng.random() for _ in range({POINTS})]}})
final = ServerSignal("live-final", None)
"""

PLOTS = """
line = bq.Lines(x=[], y=[], scales={"x": bq.LinearScale(), "y": bq.LinearScale()})
links = [nb_sse_signals.link(series.widget("/x"), (line, "x")),
         nb_sse_signals.link(series.widget("/y"), (line, "y"))]
figure = go.FigureWidget(data=[go.Scatter(x=[], y=[], mode="lines")],
                         layout=dict(height=250, margin=dict(t=10, b=20)))
trace_link = nb_sse_signals.link(series.widget(), (figure, 0))
chart = series.chart(x="/x", y="/y", title="live series", height=250)
widgets.VBox([bq.Figure(marks=[line], animation_duration=0,
                        layout=widgets.Layout(height="250px")), figure, chart])
"""

DRIVE = f"""
def produce(_):
    def work():
        for i in range({APPENDS}):
            with series.mutate() as doc:
                doc["x"].append({POINTS} + i)
                doc["y"].append(rng.random())
            time.sleep({PERIOD})
        value = series.value
        final.set({{"n": len(value["y"]), "sum": sum(value["y"]), "last": value["y"][-1]}})
    threading.Thread(target=work, daemon=True).start()

start = widgets.Button(description="start").add_class("live-start")
start.on_click(produce)
widgets.VBox([start, final.widget(format_js="v => v ? JSON.stringify(v) : 'running'")
              .add_class("live-final")])
"""

# What each plot holds, in the order x, y: every point, summed in the page.
READ_PLOTS = """() => {
    const sum = (ys) => ys.reduce((a, b) => a + b, 0);
    const curve = document.querySelector('.bqplot .curve')?.__data__?.values ?? [];
    const gd = document.querySelector('.js-plotly-plot');
    const trace = gd?.data?.[0] ?? { x: [], y: [] };
    // Every point the chart holds (uPlot itself gets a few per pixel column).
    const data = document.querySelector('.nb-sse-signals-chart')?.nbSseSignalsData ?? [[], []];
    const read = (xs, ys) => ({ n: ys.length, sum: sum(ys), last: ys.at(-1) ?? null,
        xs: xs.length, x0: xs[0] ?? null, xl: xs.at(-1) ?? null });
    return {
        bqplot: read(curve.map((p) => p.x), curve.map((p) => p.y)),
        plotly: read([...trace.x], [...trace.y]),
        chart: read([...data[0]], [...data[1]]),
    };
}"""


def plots(page: Page) -> dict[str, dict[str, Any]]:
    return dict(page.evaluate(READ_PLOTS))


def wait_for_points(page: Page, n: int, timeout: float, log: PageLog) -> None:
    # A tab JupyterLab is still setting up can end the wait early with an error of its
    # own (its page context replaced) rather than a timeout: ask again until the
    # deadline, and judge by what the plots hold at the end.
    deadline = time.monotonic() + timeout
    error = ""
    while (left := deadline - time.monotonic()) > 0:
        try:
            page.wait_for_function(
                f"() => Object.values(({READ_PLOTS})()).every((p) => p.n === {n})",
                # By timer, not animation frame: a tab in the background draws no frames.
                polling=500,
                timeout=left * 1000,
            )
            return
        except PlaywrightError as exc:
            error = str(exc).splitlines()[0]
            time.sleep(0.5)
    shown = {k: (v["n"], v["xs"]) for k, v in plots(page).items()}
    if all(count == n for count, _ in shown.values()):
        return
    raise AssertionError(
        f"expected {n} points in each plot, got {shown} ({error}); the page logged {log.errors}"
    )


def frames_sent(page: Page) -> list[dict[str, Any]]:
    return list(page.evaluate("window.__kernelFrames.sent"))


def beyond_handshakes(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Frames other than the comm handshakes of the widgets (hello) and JupyterLab's own
    housekeeping: every widget message (a state update, a save, an echo) is one."""
    return [
        f
        for f in frames
        if f["msg_type"] not in LAB_HOUSEKEEPING
        and not (f["msg_type"] == "comm_msg" and f["method"] in ("hello",))
    ]


@pytest.mark.timeout(300)
def test_link_into_bqplot_and_plotly_and_the_chart_show_every_point_in_two_tabs_sending_nothing(
    browser: Browser, lab: JupyterServer, tmp_path: Path
) -> None:
    name = write_notebook(lab, "live_plots.ipynb", SETUP, PLOTS, DRIVE)
    with notebook_page(browser, lab, name, init_script=KERNEL_FRAMES) as (page, log):
        run_all(page)
        wait_for_all_cells(page)
        wait_for_points(page, POINTS, 60, log)
        save_notebook(page)
        with another_tab(browser, lab, name, init_script=KERNEL_FRAMES) as (second, log2):
            # The second tab restores every view from the kernel (bqplot, plotly, the
            # chart): on a loaded 2-core machine that alone has taken over a minute.
            wait_for_points(second, POINTS, 150, log2)
            page.locator(".live-start").click()
            page.wait_for_timeout(200)  # the click's own comm message goes out
            # From here on, only the kernel talks: the appends reach both tabs.
            page.evaluate("window.__kernelFrames.sent = []")
            second.evaluate("window.__kernelFrames.sent = []")
            result = page.locator(".live-final .nb-sse-signals-content")
            expect(result).to_contain_text('"n"', timeout=60_000)
            final = json.loads(result.inner_text())
            assert final["n"] == POINTS + APPENDS
            for tab in (page, second):
                wait_for_points(tab, final["n"], 15, log if tab is page else log2)
                for plot, shown in plots(tab).items():
                    assert shown["n"] == shown["xs"] == final["n"], f"{plot}: {shown}"
                    assert shown["last"] == final["last"], f"{plot}: {shown} vs {final}"
                    assert shown["sum"] == pytest.approx(final["sum"], rel=1e-12), plot
                    assert (shown["x0"], shown["xl"]) == (0, final["n"] - 1), plot
            sent = {"first tab": frames_sent(page), "second tab": frames_sent(second)}
            for tab, frames in sent.items():
                assert beyond_handshakes(frames) == [], f"{tab} sent the kernel {frames}"
            page.locator(".nb-sse-signals-chart").scroll_into_view_if_needed()
            page.screenshot(path=tmp_path / "live_plots.png")
            second.locator(".nb-sse-signals-chart").scroll_into_view_if_needed()
            second.screenshot(path=tmp_path / "live_plots_second_tab.png")
            assert log2.errors == [], "the second tab logged errors:\n" + "\n".join(log2.errors)
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)


THEMED = """
import math
from nb_sse_signals import ServerSignal
waves = ServerSignal("themed-waves", {
    "t": [i / 100 for i in range(5_000)],
    "sin": [math.sin(i / 100) for i in range(5_000)],
    "cos": [0.5 * math.cos(i / 37) for i in range(5_000)],
})
waves.chart(x="/t", y=["/sin", "/cos"], labels=["sin", "cos / 2"], window=2_000,
            title="two series, the last 2,000 points", height=260)
"""


def chart_colours(page: Page) -> dict[str, Any]:
    """The axis text colour uPlot was given, and whether JupyterLab says it is light."""
    return dict(
        page.evaluate(
            """() => {
                const chart = document.querySelector('.nb-sse-signals-chart');
                const plot = chart.nbSseSignalsPlot;
                return {axis: plot.axes[0].stroke(plot, 0),
                        light: document.body.dataset.jpThemeLight,
                        points: chart.nbSseSignalsData[0].length};
            }"""
        )
    )


def test_the_chart_follows_the_light_and_the_dark_theme(
    browser: Browser, lab: JupyterServer, tmp_path: Path
) -> None:
    name = write_notebook(lab, "themed.ipynb", "%load_ext nb_sse_signals", THEMED)
    with notebook_page(browser, lab, name) as (page, log):
        run_all(page)
        wait_for_all_cells(page)
        page.wait_for_function(
            "() => document.querySelector('.nb-sse-signals-chart')?.dataset.points === '2000'"
        )
        light = chart_colours(page)
        chart = page.locator(".nb-sse-signals-chart")
        chart.screenshot(path=tmp_path / "chart_light.png")
        page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Theme").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="JupyterLab Dark").first.click()
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        page.wait_for_function(
            f"""() => {{
                const plot = document.querySelector('.nb-sse-signals-chart').nbSseSignalsPlot;
                return plot && plot.axes[0].stroke(plot, 0) !== {json.dumps(light["axis"])};
            }}"""
        )
        dark = chart_colours(page)
        chart.screenshot(path=tmp_path / "chart_dark.png")
        assert (light["light"], dark["light"]) == ("true", "false")
        assert light["points"] == dark["points"] == 2_000, "the window, drawn again"
        # The theme is a user setting, kept by the server: back to light for what follows.
        page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Theme").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="JupyterLab Light").first.click()
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'")
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)
