"""Measured, not asserted: ``s.chart`` against bqplot on a 100,000-point series, and how
many points a second ``s.chart`` takes at 30 updates a second.

One JupyterLab page, one way at a time, each started by its own button and measured
until the page has drawn its last update (docs/benchmarks.md, "Streaming chart"):

- ``chart`` and ``bqplot-link``: a 100,000-point ``{x, y}`` series, one point appended
  per update, 30 updates a second for 10 s, drawn by ``s.chart()`` or by a bqplot line
  that ``nb_sse_signals.link`` fills (bqplot's cheapest way: no save, no echo);
- ``chart-30k``, ``chart-100k``: a ``y`` series growing by 1,000 or 3,400 points per
  update at 30 updates a second for 5 s, drawn by ``s.chart(x="", window=100_000)``.
  The kernel publishes with ``set()`` of its own growing list (cheaper than 3,400
  recorded ops); where it cannot keep 30 updates a second, points/s says so.

For each: ``set()`` → redrawn p50 and p99 (``time.time()`` stamped in the kernel to
``Date.now()`` when the plot drew the update's point: uPlot's ``draw`` hook, bqplot's
SVG path), redraws per second, how long the page took to draw the last update after
the kernel sent it, and the page's long tasks (over 50 ms, Long Tasks API) per minute.

Run with ``.venv/bin/pytest tests/browser/test_chart_bench.py -s`` (about 3 minutes).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ..jupyter import JupyterServer
from .lab import needs_chromium, notebook_page, run_all, wait_for_all_cells, write_notebook
from .test_plot_costs import latencies

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

LONG_TASKS = """
(() => {
  window.__longTasks = [];
  window.__redraws = {};
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      window.__longTasks.push([performance.timeOrigin + e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });
})();
"""

SETUP = """
%load_ext nb_sse_signals
import random, threading, time
import ipywidgets as widgets
import bqplot as bq
import nb_sse_signals
from nb_sse_signals import ServerSignal

N = 100_000
rng = random.Random(3)
def fresh():
    return {"x": list(range(N)), "y": [rng.random() for _ in range(N)]}
on_chart, on_bqplot = ServerSignal("bench-chart", fresh()), ServerSignal("bench-bqplot", fresh())
stream = ServerSignal("bench-stream", {"y": []}, max_rate=1000)
results = ServerSignal("bench-results", {})

chart = on_chart.chart(x="/x", y="/y", height=220, title="chart")
line = bq.Lines(x=[], y=[], scales={"x": bq.LinearScale(), "y": bq.LinearScale()})
nb_sse_signals.link(on_bqplot.widget("/x"), (line, "x"))
nb_sse_signals.link(on_bqplot.widget("/y"), (line, "y"))
streamed = stream.chart(x="", y="/y", window=N, height=220, title="stream")
widgets.VBox([chart, bq.Figure(marks=[line], animation_duration=0,
                               layout=widgets.Layout(height="250px")), streamed])
"""

DRIVE = """
def paced(rate, seconds, update):
    stamps, start = [], time.monotonic()
    for i in range(int(rate * seconds)):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        stamps.append([time.time(), update(i)])
    return stamps

def one_point(signal):
    def update(i):
        with signal.mutate() as doc:
            doc["x"].append(N + i)
            doc["y"].append(rng.random())
        return N + i + 1
    return update

ys = []
def many_points(k):
    def update(i):
        ys.extend([rng.random() for _ in range(k)])
        stream.set({"y": ys})
        return len(ys)
    return update

PHASES = {
    "chart": (30, 10, one_point(on_chart)),
    "bqplot-link": (30, 10, one_point(on_bqplot)),
    "chart-30k": (30, 5, many_points(1_000)),
    "chart-100k": (30, 5, many_points(3_400)),
}

def run(name):
    try:
        cpu = time.process_time()
        stamps = paced(*PHASES[name])
        out = {"stamps": stamps, "cpu_ms": 1000 * (time.process_time() - cpu) / len(stamps)}
    except BaseException:
        import traceback
        out = {"error": traceback.format_exc()}
    results.set({**results.value, name: out})

buttons = []
for name in PHASES:
    button = widgets.Button(description=name).add_class(f"bench-{name}")
    button.on_click(lambda _, name=name: threading.Thread(target=run, args=(name,),
                                                          daemon=True).start())
    buttons.append(button)
widgets.VBox([*buttons, results.widget(format_js='''v => {
  window.__benchResults = v;
  return Object.keys(v).join(",");
}''')])
"""

# uPlot calls its `draw` hooks after each redraw; bqplot redraws the line's SVG path.
HOOKS = """() => {
    const charts = document.querySelectorAll('.nb-sse-signals-chart');
    const hook = (name, el) => el.nbSseSignalsPlot.hooks.draw = [
        ...(el.nbSseSignalsPlot.hooks.draw ?? []),
        (u) => (window.__redraws[name] ??= []).push([Date.now(), u.data[0].at(-1) + 1])];
    hook('chart', charts[0]);
    hook('stream', charts[1]);
    const curve = document.querySelector('.bqplot .curve');
    new MutationObserver(() => (window.__redraws['bqplot-link'] ??= []).push(
        [Date.now(), curve.__data__.values.length]))
        .observe(curve, { attributes: true, subtree: true, attributeFilter: ['d'] });
}"""

# chart-100k is defined in the notebook but not run: in the one run that tried it
# (2026-12-07, machine shared with other test runs) the tab crashed during the
# throughput phases; see docs/benchmarks.md.
PHASES = os.environ.get("NB_SSE_SIGNALS_BENCH_PHASES", "chart,bqplot-link,chart-30k").split(",")


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else math.nan


def run_phase(page: Page, name: str) -> dict[str, Any]:
    """Start phase ``name``; wait until the kernel is done and the page drew its last
    update (at most 2 minutes more); what the page recorded meanwhile."""
    t0 = page.evaluate("Date.now()")
    page.locator(f".bench-{name}").click(timeout=120_000)  # a page still drawing is slow to click
    try:
        page.wait_for_function(
            f"() => window.__benchResults?.[{json.dumps(name)}]", timeout=120_000, polling=500
        )
    except PlaywrightTimeout:
        seen = page.evaluate(
            "() => [Object.keys(window.__benchResults ?? {}),"
            " Object.fromEntries(Object.entries(window.__redraws).map(([k, v]) => [k, v.length]))]"
        )
        raise AssertionError(
            f"{name}: no result from the kernel; results, redraws: {seen}"
        ) from None
    measured = page.evaluate(f"window.__benchResults[{json.dumps(name)}]")
    assert "error" not in measured, measured.get("error")
    final = measured["stamps"][-1][1]
    record = "stream" if name.startswith("chart-") else name
    # A page that never catches up is a figure too: the wait ends, the row says so.
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            f"() => (window.__redraws[{json.dumps(record)}] ?? []).some(([, n]) => n >= {final})",
            timeout=120_000,
            polling=500,
        )
    page.wait_for_timeout(1_000)  # the long tasks of the last redraw
    t1 = page.evaluate("Date.now()")
    redraws = [r for r in page.evaluate(f"window.__redraws[{json.dumps(record)}] ?? []")]
    tasks = [d for t, d in page.evaluate("window.__longTasks") if t0 <= t < t1]
    stamps = measured["stamps"]
    drawn = [r for r in redraws if t0 <= r[0] < t1]
    lat = latencies(stamps, drawn)
    seconds = stamps[-1][0] - stamps[0][0]
    last_drawn = [t for t, n in drawn if n >= final]
    return {
        "updates": len(stamps),
        "redrawn": len(lat),
        "p50_ms": statistics.median(lat) if lat else math.nan,
        "p99_ms": p99(lat),
        "redraws_per_s": len([r for r in drawn if r[0] <= stamps[-1][0] * 1000]) / seconds,
        "points_per_s": (final - stamps[0][1]) / seconds,
        "caught_up_ms": min(last_drawn) - stamps[-1][0] * 1000 if last_drawn else math.inf,
        "long_tasks_per_min": len(tasks) / ((t1 - t0) / 60_000),
        "longest_task_ms": max(tasks, default=0.0),
        "kernel_cpu_ms": measured["cpu_ms"],
    }


@pytest.mark.timeout(900)
def test_streaming_chart_against_bqplot_and_its_points_per_second(
    browser: Browser, lab: JupyterServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = write_notebook(lab, "chart_bench.ipynb", SETUP, DRIVE)
    with notebook_page(browser, lab, name, init_script=LONG_TASKS) as (page, log):
        run_all(page)
        wait_for_all_cells(page)
        page.wait_for_function(
            """() => [...document.querySelectorAll('.nb-sse-signals-chart')]
                .every((c) => c.nbSseSignalsPlot)
                && document.querySelector('.bqplot .curve')?.__data__?.values.length
                    === 100000""",
            timeout=60_000,
        )
        page.wait_for_timeout(2_000)
        page.evaluate(HOOKS)
        figures = {phase: run_phase(page, phase) for phase in PHASES}
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)

    (tmp_path / "chart_bench.json").write_text(json.dumps(figures, indent=2))
    lines = [
        "\n| way | updates | redrawn | set() → redrawn p50 | p99 | redraws/s | points/s "
        "| last update drawn after | long tasks/min (longest) | kernel CPU/update |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for variant, f in figures.items():
        lines.append(
            f"| {variant} | {f['updates']} | {f['redrawn']} | {f['p50_ms']:.1f} ms "
            f"| {f['p99_ms']:.1f} ms | {f['redraws_per_s']:.1f} | {f['points_per_s']:,.0f} "
            f"| {f['caught_up_ms']:.0f} ms "
            f"| {f['long_tasks_per_min']:.1f} ({f['longest_task_ms']:.0f} ms) "
            f"| {f['kernel_cpu_ms']:.2f} ms |"
        )
    if {"chart", "bqplot-link"} <= figures.keys():
        ratio = figures["chart"]["p50_ms"] / figures["bqplot-link"]["p50_ms"]
        lines.append(f"chart p50 / bqplot p50 = {ratio:.3f}")
    with capsys.disabled():
        print("\n".join(lines))  # noqa: T201  (the measurement is this test's output)
    for variant, f in figures.items():
        assert f["redrawn"] > 0, f"{variant}: no redraw was seen"
