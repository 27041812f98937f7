"""``s.chart`` against bqplot (through ``link``) in JupyterLab in Chromium.

Each phase runs in its own notebook (its own kernel) and its own Chromium, so a page
that falls behind or crashes costs only its phase, which then says so:

- ``chart`` and ``bqplot``: a 100,000-point ``{x, y}`` series, one point appended per
  update (``mutate()``), 30 updates a second for 10 s, drawn by ``s.chart()`` or by a
  bqplot line that ``nb_sse_signals.link`` fills (bqplot's cheapest way: no save, no echo);
- ``stream``: a ``y`` series growing by 3,400 points per update (``mutate()``,
  ``extend``) at 30 updates a second for 5 s, drawn by
  ``s.chart(x="", window=100_000)``: the points per second the chart takes.

Per phase: ``set()`` → redrawn p50 and p99 (``time.time()`` stamped in the kernel to
``Date.now()`` when the plot drew the update's point: uPlot's ``draw`` hook, bqplot's
SVG path), redraws per second, the page's long tasks (over 50 ms, Long Tasks API) per
minute, and two figures that load on the machine inflates less: the page's main-thread
CPU time per update (Chromium's own task time in thread ticks) and, for the chart, the
time of its frame (copy, decimation, uPlot's draw) measured in the page. Each phase
runs ``ROUNDS`` times (``NB_SSE_SIGNALS_BENCH_ROUNDS``, 3); the table has medians.

Needs Debian's Chromium and JupyterLab (the browser tests' own launchers); ``--quick``
skips it (minutes, not seconds).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._timing import Row, Section, percentile

SECTION = "6b. Streaming chart"
N = 100_000
ROUNDS = int(os.environ.get("NB_SSE_SIGNALS_BENCH_ROUNDS", "3"))
PHASES = os.environ.get("NB_SSE_SIGNALS_BENCH_PHASES", "chart,bqplot,stream").split(",")

SETUP = f"""
%load_ext nb_sse_signals
import json, os, random, threading, time
import ipywidgets as widgets
import nb_sse_signals
from nb_sse_signals import ServerSignal
N = {N}
rng = random.Random(3)
def fresh():
    return {{"x": list(range(N)), "y": [rng.random() for _ in range(N)]}}
"""

VIEWS = {
    "chart": 'series = ServerSignal(f"bench-chart-{RUN}", fresh())\n'
    'series.chart(x="/x", y="/y", height=220, title="chart")',
    "bqplot": "import bqplot as bq\n"
    'series = ServerSignal(f"bench-bqplot-{RUN}", fresh())\n'
    'line = bq.Lines(x=[], y=[], scales={"x": bq.LinearScale(), "y": bq.LinearScale()})\n'
    'nb_sse_signals.link(series.widget("/x"), (line, "x"))\n'
    'nb_sse_signals.link(series.widget("/y"), (line, "y"))\n'
    "bq.Figure(marks=[line], animation_duration=0, "
    'layout=widgets.Layout(height="250px"))',
    "stream": 'series = ServerSignal(f"bench-stream-{RUN}", {"y": []}, max_rate=1000)\n'
    'series.chart(x="", y="/y", window=N, height=220, title="stream")',
}

# (updates a second, seconds, points per update)
DRIVES = {"chart": (30, 10, 1), "bqplot": (30, 10, 1), "stream": (30, 5, 3_400)}

DRIVE = """
ys = []
def update(i):
    if K == 1:
        with series.mutate() as doc:
            doc["x"].append(N + i)
            doc["y"].append(rng.random())
        return N + i + 1
    with series.mutate() as doc:
        doc["y"].extend([rng.random() for _ in range(K)])
    ys.append(K)
    return K * len(ys)

def run(_):
    try:
        stamps, start, cpu = [], time.monotonic(), time.process_time()
        for i in range(int(RATE * SECONDS)):
            time.sleep(max(0.0, start + i / RATE - time.monotonic()))
            stamps.append([time.time(), update(i)])
        out = {"stamps": stamps, "cpu_ms": 1000 * (time.process_time() - cpu) / len(stamps)}
    except BaseException:
        import traceback
        out = {"error": traceback.format_exc()}
    # A file, not a widget: a page that cannot keep up (bqplot) would never show it.
    with open(f"bench_{RUN}.json.part", "w") as f:
        json.dump(out, f)
    os.replace(f"bench_{RUN}.json.part", f"bench_{RUN}.json")

go = widgets.Button(description="go").add_class("bench-go")
go.on_click(lambda _: threading.Thread(target=run, args=(None,), daemon=True).start())
go
"""

# Before any page script: long tasks, the start of each animation frame callback (the
# chart's frame is one: its copy and decimation, then uPlot's draw in a microtask).
RECORDERS = """
(() => {
  window.__longTasks = [];
  window.__redraws = [];
  window.__frames = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      window.__longTasks.push([performance.timeOrigin + e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });
  const request = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (callback) => request((t) => {
    window.__frameStart = performance.now();
    callback(t);
  });
})();
"""

HOOKS = {
    # The last drawn x + 1 is the update's point count (decimation keeps the last point).
    "chart": """() => {
        const plot = document.querySelector('.nb-sse-signals-chart').nbSseSignalsPlot;
        plot.hooks.draw = [...(plot.hooks.draw ?? []), (u) => {
            window.__frames.push(performance.now() - window.__frameStart);
            window.__redraws.push([Date.now(), u.data[0].at(-1) + 1]);
        }];
    }""",
    "bqplot": """() => {
        const curve = document.querySelector('.bqplot .curve');
        new MutationObserver(() => window.__redraws.push(
            [Date.now(), curve.__data__.values.length]))
            .observe(curve, { attributes: true, subtree: true, attributeFilter: ['d'] });
    }""",
}
HOOKS["stream"] = HOOKS["chart"]

READY = {
    "chart": "() => document.querySelector('.nb-sse-signals-chart')?.dataset.points === '100000'",
    "bqplot": "() => document.querySelector('.bqplot .curve')?.__data__?.values.length === 100000",
    "stream": "() => document.querySelector('.nb-sse-signals-chart')?.nbSseSignalsPlot",
}


def latencies(stamps: list[list[float]], redraws: list[list[float]]) -> list[float]:
    """ms from each update's ``set()`` to the first redraw showing its point count."""
    out = []
    for t, n in stamps:
        seen = [r for r, count in redraws if count >= n]
        if seen:
            out.append(min(seen) - t * 1000)
    return out


def main_thread_cpu(cdp: Any) -> float:
    """Seconds of the page's main-thread task time, in thread ticks (CPU, not wall)."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return float(metrics["TaskDuration"])


def phase(lab: Any, name: str, run: str) -> dict[str, Any]:
    """One phase in a fresh Chromium; a crashed or stuck page is a result, not an error."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from tests.browser.lab import (
        launch_chromium,
        notebook_page,
        write_notebook,
    )

    rate, seconds, k = DRIVES[name]
    head = f"RUN = {run!r}; RATE, SECONDS, K = {rate}, {seconds}, {k}"
    notebook = write_notebook(lab, f"bench_{run}.ipynb", head + SETUP, VIEWS[name], DRIVE)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            with notebook_page(browser, lab, notebook, init_script=RECORDERS) as (page, log):
                crashed: list[bool] = []
                page.on("crash", lambda _: crashed.append(True))
                stage = ["loading the notebook"]
                try:
                    return measure(page, name, run, lab.root / "notebooks", stage) | {
                        "errors": log.errors
                    }
                except PlaywrightError as error:
                    what = "crashed" if crashed else f"failed: {str(error).splitlines()[0]}"
                    return {"failed": f"{name}: the page {what} while {stage[0]}"}
        finally:
            browser.close()


def measure(page: Any, name: str, run: str, results_dir: Path, stage: list[str]) -> dict[str, Any]:
    """The phase's figures; ``stage[0]`` says what it is doing (for a crash's message)."""
    from tests.browser.lab import run_all, wait_for_all_cells

    run_all(page)
    stage[0] = "drawing the first 100,000 points"
    wait_for_all_cells(page, timeout=60)
    page.wait_for_function(READY[name], timeout=90_000, polling=500)
    page.wait_for_timeout(2_000)  # the first drawing's long tasks stay out
    page.evaluate(HOOKS[name])
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
    cpu0, t0 = main_thread_cpu(cdp), page.evaluate("Date.now()")
    # A click through the page's own script: Playwright's actionability checks wait
    # for a page still busy with 100,000 SVG points (bqplot) to settle.
    page.evaluate("document.querySelector('.bench-go').click()")
    stage[0] = "drawing the updates"
    # Every wait is bounded (a phase ends within about 5 minutes): the drive and 30 s
    # for the kernel's results, then 30 s for the last redraw.
    path = results_dir / f"bench_{run}.json"
    deadline = time.monotonic() + 30 + DRIVES[name][1]
    while not path.exists():
        if time.monotonic() > deadline:
            return {"failed": f"{name}: no results from the kernel"}
        time.sleep(0.5)
    measured = json.loads(path.read_text())
    if "error" in measured:
        return {"failed": f"{name}: the kernel failed: {measured['error']}"}
    stamps = measured["stamps"]
    final = stamps[-1][1]
    caught_up = True
    try:
        page.wait_for_function(
            f"() => window.__redraws.some(([, n]) => n >= {final})", timeout=30_000, polling=250
        )
    except Exception:  # a page that never catches up is a figure too
        caught_up = False
    page.wait_for_timeout(1_000)  # the long tasks of the last redraw
    cpu1, t1 = main_thread_cpu(cdp), page.evaluate("Date.now()")
    redraws = page.evaluate("window.__redraws")
    tasks = [d for t, d in page.evaluate("window.__longTasks") if t0 <= t < t1]
    frames = page.evaluate("window.__frames")
    lat = latencies(stamps, redraws)
    span = stamps[-1][0] - stamps[0][0]
    return {
        "updates": len(stamps),
        "redrawn": len(lat),
        "p50_ms": statistics.median(lat) if lat else math.nan,
        "p99_ms": percentile(lat, 99) if lat else math.nan,
        "redraws_per_s": len([r for r in redraws if r[0] <= stamps[-1][0] * 1000]) / span,
        "points_per_s": (final - stamps[0][1]) / span,
        "caught_up": caught_up,
        "long_tasks_per_min": len(tasks) / ((t1 - t0) / 60_000),
        "longest_task_ms": max(tasks, default=0.0),
        "page_cpu_ms": 1000 * (cpu1 - cpu0) / len(stamps),
        "frame_p50_ms": statistics.median(frames) if frames else math.nan,
        "frame_p99_ms": percentile(frames, 99) if frames else math.nan,
        "kernel_cpu_ms": measured["cpu_ms"],
    }


def _median(results: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in results if key in r and not math.isnan(r[key])]
    return statistics.median(values) if values else math.nan


def rows(results: dict[str, list[dict[str, Any]]]) -> list[Row]:
    """The table: medians over the rounds that ran to the end."""
    ok = {name: [r for r in runs if "failed" not in r] for name, runs in results.items()}
    chart, bqplot, stream = ok["chart"], ok["bqplot"], ok["stream"]
    rounds = f"median of {len(chart)}/{len(bqplot)} rounds"

    def both(key: str, fmt: str) -> tuple[str, str, float]:
        ours, theirs = _median(chart, key), _median(bqplot, key)
        return fmt.format(ours), fmt.format(theirs), ours / theirs if theirs else math.nan

    p50 = both("p50_ms", "{:.1f} ms")
    p99 = both("p99_ms", "{:.1f} ms")
    long = both("long_tasks_per_min", "{:.1f}/min")
    cpu = both("page_cpu_ms", "{:.2f} ms")
    longest = _median(chart, "longest_task_ms")
    pps = _median(stream, "points_per_s")
    stream_long = _median(stream, "long_tasks_per_min")
    out = [
        Row(
            SECTION,
            f"s.chart vs bqplot (`link`), 100k points, +1 point at 30/s: set() → "
            f"redrawn p50 ({rounds})",
            p50[0],
            p50[1],
            f"{p50[2]:.2f}x",
            "≤ 0.2x",
            p50[2] <= 0.2,
        ),
        Row(SECTION, "… set() → redrawn p99", p99[0], p99[1], f"{p99[2]:.2f}x", "", None),
        Row(
            SECTION,
            f"… long tasks (> 50 ms) per minute (chart's longest {longest:.0f} ms)",
            long[0],
            long[1],
            "",
            "none",
            _median(chart, "long_tasks_per_min") == 0,
        ),
        Row(
            SECTION,
            "… page main-thread CPU per update (thread time, load-independent)",
            cpu[0],
            cpu[1],
            f"{cpu[2]:.2f}x",
            "",
            None,
        ),
        Row(
            SECTION,
            "… the chart's frame in the page (copy, decimation, uPlot draw) p50 / p99",
            f"{_median(chart, 'frame_p50_ms'):.2f} / {_median(chart, 'frame_p99_ms'):.2f} ms",
            "",
            "",
            "",
            None,
        ),
        Row(
            SECTION,
            f"points/s into s.chart (window 100k, 30 updates/s; "
            f"{_median(stream, 'redraws_per_s'):.1f} redraws/s, "
            f"{stream_long:.1f} long tasks/min, page CPU "
            f"{_median(stream, 'page_cpu_ms'):.1f} ms/update)",
            f"{pps:,.0f}/s",
            "",
            "",
            "≥ 100,000/s, no long task",
            pps >= 100_000 and stream_long == 0,
        ),
    ]
    failed = [r["failed"] for runs in results.values() for r in runs if "failed" in r]
    if failed:
        out.append(Row(SECTION, "phases that did not finish", "; ".join(failed), "", "", "", False))
    return out


def run(quick: bool = False) -> Section:
    if quick:
        skipped = Row(
            SECTION,
            "s.chart against bqplot in JupyterLab",
            "not in --quick (minutes: JupyterLab and Chromium)",
            "",
            "",
            "",
            None,
        )
        return Section(SECTION, [skipped], {})
    from tests.browser.lab import CHROMIUM, start_lab

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"bench chart: expected Debian's Chromium at {CHROMIUM}, found none")
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in DRIVES}
    phases = [name for name in DRIVES if name in PHASES]
    with tempfile.TemporaryDirectory(prefix="nb_sse_signals-bench-chart-") as tmp:
        lab = start_lab(Path(tmp))
        try:
            for round_ in range(ROUNDS):
                for name in phases:
                    started = time.monotonic()
                    result = phase(lab, name, f"{name}{round_}")
                    results[name].append(result)
                    sys.stderr.write(
                        f"chart bench, round {round_ + 1}, {name} "
                        f"({time.monotonic() - started:.0f} s): "
                        f"{json.dumps(result)}\n"
                    )
        finally:
            lab.stop()
    facts: dict[str, float | int | bool] = {
        f"{name}_{key}": _median([r for r in runs if "failed" not in r], key)
        for name, runs in results.items()
        for key in ("p50_ms", "points_per_s")
    }
    return Section(SECTION, rows(results), facts)
