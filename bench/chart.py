"""``s.chart`` against bqplot (through ``link``) in JupyterLab in Chromium.

Each phase runs in its own notebook (its own kernel) and its own Chromium, so a page
that falls behind or crashes costs only its phase, which then says so. The workload is
a 100,000-point ``{x, y}`` series, one point appended per update (``mutate()``):

- ``baseline``: 30 updates a second for 10 s, the series shown by the signal's own
  widget as its length only (no plot): what JupyterLab, the stream and the page's copy
  of the signal cost on this machine, in the same run. The chart's long tasks read
  against these;
- ``chart``: the same drive, drawn by ``s.chart()``;
- ``bqplot-paced``: the same series drawn by a bqplot line that
  ``nb_sse_signals.link`` fills (the recipe of docs/plots.md: ``x`` and ``y`` linked,
  no save, no echo), **one update at a time** (``PACED_UPDATES`` a round): the bench
  clicks a button, the kernel appends and stamps, the next click waits until the line
  showed the point. bqplot's best case: its p50 here is a lower bound of what it would
  be at 30 updates a second;
- ``bqplot``: bqplot at the chart's 30 updates a second for 10 s, then 20 s to catch
  up, bounded: what it drew, the animation frames the page ran while updates came, and
  whether the page still answered. It cannot keep up on this machine: every update
  costs it seconds of main thread (two ``model.set`` of 100,000 points, each rebuilding
  bqplot's per-point objects and scale domains and scheduling a d3 transition whose new
  SVG path is computed at once), the page runs no animation frame while updates wait,
  so the transitions never start and pile up, each holding its path: the renderer's heap
  grows by tens of MB per update until V8's limit (~4 GB) kills the tab (docs/plots.md);
- ``stream``: a ``y`` series growing by 3,400 points per update (``mutate()``,
  ``extend``) at 30 updates a second for 5 s, drawn by
  ``s.chart(x="", window=100_000)``: the points per second the page drew and its
  redraws per second, both read back from the page (its draw hook: when it drew and the
  last index drawn), from the first update's ``set()`` to the redraw that showed the
  last point (:func:`drawn_rate`); what the kernel sent is beside them.

Per phase: ``set()`` → redrawn p50 and p99 (``time.time()`` stamped in the kernel to
``Date.now()`` when the page showed the update's point: uPlot's ``draw`` hook, bqplot's
SVG path, the widget's text; an update drawn together with later ones counts until that
drawing), redraws per second, the page's long tasks (over 50 ms of wall time, Long
Tasks API) and its tasks over 50 ms of CPU (a Chromium trace of its main thread, thread
time: on a loaded 2-core machine a 7 ms task takes over 50 ms of wall time) per minute,
beside the same figures of ``baseline``; the long animation frames' script time by
where the script came from (``long-animation-frame``: our widget modules, bqplot,
JupyterLab, or no script: style, layout, paint, garbage collection), and two figures
that load on the machine
inflates less: the page's main-thread CPU time per update (Chromium's own task time in
thread ticks) and, for the chart, the time of its frame (copy, decimation, uPlot's
draw) measured in the page. Each phase runs ``ROUNDS`` times
(``NB_SSE_SIGNALS_BENCH_ROUNDS``, 3; ``NB_SSE_SIGNALS_BENCH_PHASES`` picks phases);
the table has medians and the load average before and after.

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
from collections import Counter
from pathlib import Path
from typing import Any

from ._timing import Row, Section, percentile

SECTION = "6b. Streaming chart"
N = 100_000
ROUNDS = int(os.environ.get("NB_SSE_SIGNALS_BENCH_ROUNDS", "3"))
ALL_PHASES = ("baseline", "chart", "bqplot-paced", "bqplot", "stream")
PHASES = os.environ.get("NB_SSE_SIGNALS_BENCH_PHASES", ",".join(ALL_PHASES)).split(",")
PACED_UPDATES = 6
STREAM_RATE = 30  # the stream's updates a second (DRIVES)
CATCH_UP_S = 20  # after the drive, for the last update to be drawn

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

# The bqplot recipe of docs/plots.md, as a user writes it.
BQPLOT = (
    "import bqplot as bq\n"
    'series = ServerSignal(f"bench-bqplot-{RUN}", fresh())\n'
    'line = bq.Lines(x=[], y=[], scales={"x": bq.LinearScale(), "y": bq.LinearScale()})\n'
    'nb_sse_signals.link(series.widget("/x"), (line, "x"))\n'
    'nb_sse_signals.link(series.widget("/y"), (line, "y"))\n'
    "bq.Figure(marks=[line], animation_duration=0, "
    'layout=widgets.Layout(height="250px"))'
)
VIEWS = {
    "baseline": 'series = ServerSignal(f"bench-baseline-{RUN}", fresh())\n'
    'series.widget(format_js="v => `${v.y.length} points`").add_class("bench-baseline")',
    "chart": 'series = ServerSignal(f"bench-chart-{RUN}", fresh())\n'
    'series.chart(x="/x", y="/y", height=220, title="chart")',
    "bqplot-paced": BQPLOT,
    "bqplot": BQPLOT,
    "stream": 'series = ServerSignal(f"bench-stream-{RUN}", {"y": []}, max_rate=1000)\n'
    'series.chart(x="", y="/y", window=N, height=220, title="stream")',
}

# (updates a second, seconds, points per update); paced: PACED_UPDATES, one at a time.
DRIVES = {
    "baseline": (30, 10, 1),
    "chart": (30, 10, 1),
    "bqplot-paced": (0, 0, 1),
    "bqplot": (30, 10, 1),
    "stream": (STREAM_RATE, 5, 3_400),
}

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

def hand_over(out):
    # A file, not a widget: a page that cannot keep up (bqplot) would never show it.
    with open(f"bench_{RUN}.json.part", "w") as f:
        json.dump(out, f)
    os.replace(f"bench_{RUN}.json.part", f"bench_{RUN}.json")

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
    hand_over(out)

paced, paced_cpu = [], [0.0]
def step(_):
    cpu = time.process_time()
    paced.append([time.time(), update(len(paced))])
    paced_cpu[0] += time.process_time() - cpu

def finish(_):
    hand_over({"stamps": paced, "cpu_ms": 1000 * paced_cpu[0] / max(1, len(paced))})

go = widgets.Button(description="go").add_class("bench-go")
go.on_click(lambda _: threading.Thread(target=run, args=(None,), daemon=True).start())
one = widgets.Button(description="step").add_class("bench-step")
one.on_click(step)
done = widgets.Button(description="finish").add_class("bench-finish")
done.on_click(finish)
widgets.HBox([go, one, done])
"""

# Before any page script: long tasks, long animation frames with their scripts, the
# animation frames run, the start of each animation frame callback (the chart's frame
# is one: its copy and decimation, then uPlot's draw in a microtask).
RECORDERS = """
(() => {
  window.__longTasks = [];
  window.__loafs = [];
  window.__redraws = [];
  window.__frames = [];
  window.__rafs = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      window.__longTasks.push([performance.timeOrigin + e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries())
        window.__loafs.push([performance.timeOrigin + e.startTime, e.duration,
          e.scripts.map((s) => [s.sourceURL, s.invoker, s.duration])]);
    }).observe({ type: "long-animation-frame", buffered: true });
  } catch (error) {
    window.__loafs = null;  // a browser without it: no attribution
  }
  const request = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (callback) => request((t) => {
    window.__rafs += 1;
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
    "baseline": """() => {
        const text = document.querySelector('.bench-baseline .nb-sse-signals-content');
        new MutationObserver(() => window.__redraws.push(
            [Date.now(), parseInt(text.textContent, 10)]))
            .observe(text, { characterData: true, childList: true, subtree: true });
    }""",
}
HOOKS["stream"] = HOOKS["chart"]
HOOKS["bqplot-paced"] = HOOKS["bqplot"]

READY = {
    "baseline": "() => document.querySelector('.bench-baseline .nb-sse-signals-content')"
    "?.textContent === '100000 points'",
    "chart": "() => document.querySelector('.nb-sse-signals-chart')?.dataset.points === '100000'",
    "bqplot": "() => document.querySelector('.bqplot .curve')?.__data__?.values.length === 100000",
    "stream": "() => document.querySelector('.nb-sse-signals-chart')?.nbSseSignalsPlot",
}
READY["bqplot-paced"] = READY["bqplot"]

# What the page holds at the end, read by a poll that times out if the page's main
# thread never gets to it (bqplot at 30/s), rather than an evaluate that would wait.
SNAPSHOT = """() => JSON.stringify({
    redraws: window.__redraws, longTasks: window.__longTasks, loafs: window.__loafs,
    frames: window.__frames, rafs: window.__rafs, now: Date.now(),
    pending: [...document.querySelectorAll('.bqplot .curve .line')].map(
        (e) => Object.keys(e.__transition ?? {}).length),
})"""


def drawn_rate(
    stamps: list[list[float]], redraws: list[list[float]], before: float
) -> tuple[float, float, float]:
    """What the page drew, read back from the page: (points a second, redraws a second,
    seconds), from the first update's ``set()`` to the first redraw that showed the last
    update's point count (else to the last redraw). ``before``: the count the page had
    drawn before the first update. Points are counted as the page's draw hook saw them
    (the last index drawn + 1), so updates the page never drew do not count."""
    start = stamps[0][0] * 1000
    final = stamps[-1][1]
    after = [r for r in redraws if r[0] >= start]
    if not after:
        return 0.0, 0.0, 0.0
    end = next((r for r in after if r[1] >= final), after[-1])
    seconds = max(end[0] - start, 1.0) / 1000
    count = len([r for r in after if r[0] <= end[0]])
    return (end[1] - before) / seconds, count / seconds, seconds


def latencies(stamps: list[list[float]], redraws: list[list[float]]) -> list[float]:
    """ms from each update's ``set()`` to the first redraw showing its point count."""
    out = []
    for t, n in stamps:
        seen = [r for r, count in redraws if count >= n]
        if seen:
            out.append(min(seen) - t * 1000)
    return out


def source_of(url: str, invoker: str = "") -> str:
    """Who a long animation frame's script belongs to, by its URL (and, for the
    animation-frame callbacks that RECORDERS wraps, which have no URL, by invoker)."""
    if not url and invoker.startswith("FrameRequestCallback"):
        return "animation-frame callbacks (the chart's frame; d3's timers)"
    if url.startswith("blob:") or "nb_sse_signals" in url or "nb-sse-signals" in url:
        return "widget modules (anywidget ESM: the signal, link, chart)"
    for name in ("bqplot", "anywidget", "jupyter-widgets", "plotly"):
        if f"/{name}" in url:
            return name
    if "/static/" in url or "/lab" in url:
        return "JupyterLab"
    return "other" if url else "no URL (event listeners, callbacks)"


def attribution(loafs: list[Any] | None, t0: float, t1: float) -> dict[str, float]:
    """ms per minute of long animation frames in [t0, t1], by script source; what the
    scripts do not account for is rendering (style, layout, paint) and garbage collection."""
    if loafs is None:
        return {}
    per: Counter[str] = Counter()
    for start, duration, scripts in loafs:
        if not t0 <= start < t1:
            continue
        script_ms = 0.0
        for url, invoker, ms in scripts:
            per[source_of(url, invoker)] += ms
            script_ms += ms
        per["rendering, GC, no script"] += max(0.0, duration - script_ms)
    minutes = (t1 - t0) / 60_000
    return {who: ms / minutes for who, ms in per.most_common()}


RUN_TASK = "ThreadControllerImpl::RunTask"  # a top-level task of a Chromium thread


def cpu_long_tasks(trace: bytes) -> list[float]:
    """The page's main-thread tasks that took over 50 ms of CPU (thread time, ms), from a
    Chromium trace of the ``toplevel`` category: long tasks that no load on the machine
    made long. The page's renderer is the one whose main thread ran the most tasks."""
    data = json.loads(trace)
    events = data["traceEvents"] if isinstance(data, dict) else data
    mains = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M"
        and e.get("name") == "thread_name"
        and e["args"].get("name") == "CrRendererMain"
    }
    tasks: dict[tuple[Any, Any], list[float]] = {}
    for e in events:
        thread = (e.get("pid"), e.get("tid"))
        if e.get("ph") == "X" and e.get("name") == RUN_TASK and thread in mains:
            tasks.setdefault(thread, []).append(e.get("tdur", 0) / 1000)
    page = max(tasks.values(), key=len, default=[])
    return [ms for ms in page if ms > 50]


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system, all threads) process ``pid`` used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


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
                    server = lab.proc.pid  # the Jupyter server: the hub runs in it
                    return measure(page, name, run, lab.root / "notebooks", stage, server) | {
                        "errors": log.errors
                    }
                except PlaywrightError as error:
                    what = "crashed" if crashed else f"failed: {str(error).splitlines()[0]}"
                    return {"failed": f"{name}: the page {what} while {stage[0]}"}
        finally:
            browser.close()


def wait_for_results(path: Path, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            return {"error": "no results from the kernel"}
        time.sleep(0.5)
    return dict(json.loads(path.read_text()))


def drive_paced(page: Any, path: Path) -> tuple[dict[str, Any], bool]:
    """PACED_UPDATES updates, each drawn before the next is made; (results, all drawn)."""
    drawn = True
    for i in range(PACED_UPDATES):
        page.evaluate("document.querySelector('.bench-step').click()")
        try:
            page.wait_for_function(
                f"() => window.__redraws.some(([, n]) => n >= {N + i + 1})",
                timeout=120_000,
                polling=100,
            )
        except Exception:  # an update never drawn ends the phase: a figure too
            drawn = False
            break
        page.wait_for_timeout(500)  # the drawing's own tail (the transition's end, paint)
    page.evaluate("document.querySelector('.bench-finish').click()")
    return wait_for_results(path, 30), drawn


def measure(
    page: Any, name: str, run: str, results_dir: Path, stage: list[str], server: int
) -> dict[str, Any]:
    """The phase's figures; ``stage[0]`` says what it is doing (for a crash's message);
    ``server``: the Jupyter server's process id (the hub's CPU)."""
    from tests.browser.lab import run_all, wait_for_all_cells

    run_all(page)
    stage[0] = "drawing the first 100,000 points"
    wait_for_all_cells(page, timeout=60)
    page.wait_for_function(READY[name], timeout=90_000, polling=500)
    page.wait_for_timeout(2_000)  # the first drawing's long tasks stay out
    page.evaluate(HOOKS[name])
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
    cpu0, t0, rafs0 = main_thread_cpu(cdp), page.evaluate("Date.now()"), page.evaluate("__rafs")
    server0 = process_cpu(server)
    stage[0] = "drawing the updates"
    path = results_dir / f"bench_{run}.json"
    caught_up = True
    # Not for bqplot at 30/s: its page may never answer, and the phase has no figures.
    tracing = name != "bqplot"
    if tracing:
        page.context.browser.start_tracing(page=page, categories=["toplevel"])
    traced = time.monotonic()
    if name == "bqplot-paced":
        measured, caught_up = drive_paced(page, path)
    else:
        # A click through the page's own script: Playwright's actionability checks wait
        # for a page still busy with 100,000 SVG points (bqplot) to settle.
        page.evaluate("document.querySelector('.bench-go').click()")
        measured = wait_for_results(path, 30 + DRIVES[name][1])
    if "error" in measured:
        return {"failed": f"{name}: the kernel failed: {measured['error']}"}
    stamps = measured["stamps"]
    final = stamps[-1][1]
    if name != "bqplot-paced":
        try:
            page.wait_for_function(
                f"() => window.__redraws.some(([, n]) => n >= {final})",
                timeout=CATCH_UP_S * 1000,
                polling=250,
            )
        except Exception:  # a page that never catches up is a figure too
            caught_up = False
    page.wait_for_timeout(1_000)  # the long tasks of the last redraw
    try:
        held = json.loads(page.wait_for_function(SNAPSHOT, timeout=30_000).json_value())
    except Exception:
        return {
            "failed": f"{name}: the page did not answer for 30 s after {len(stamps)} updates "
            f"and {CATCH_UP_S} s to catch up",
            "updates": len(stamps),
        }
    t1 = held["now"]
    cpu1 = main_thread_cpu(cdp)
    server1 = process_cpu(server)
    cpu_long = cpu_long_tasks(page.context.browser.stop_tracing()) if tracing else []
    traced = time.monotonic() - traced
    redraws, frames = held["redraws"], held["frames"]
    tasks = [d for t, d in held["longTasks"] if t0 <= t < t1]
    lat = latencies(stamps, redraws)
    span = max(stamps[-1][0] - stamps[0][0], 1e-9)
    drive_end = stamps[-1][0] * 1000
    before = stamps[0][1] - DRIVES[name][2]  # the point count before the first update
    drawn_pps, drawn_rps, drawn_s = drawn_rate(stamps, redraws, before)
    return {
        "updates": len(stamps),
        "redrawn": len(lat),
        "p50_ms": statistics.median(lat) if lat else math.nan,
        "p99_ms": percentile(lat, 99) if lat else math.nan,
        "redraws_per_s": len([r for r in redraws if r[0] <= drive_end]) / span,
        "redraws_in_drive": len([r for r in redraws if r[0] <= drive_end]),
        # Sent: from the kernel's stamps. Drawn: read back from the page (drawn_rate).
        "sent_points_per_s": (final - before) / span,
        "updates_per_s": len(stamps) / span,
        "points_per_s": drawn_pps,
        "drawn_redraws_per_s": drawn_rps,
        "drawn_seconds": drawn_s,
        "caught_up": caught_up,
        "animation_frames": held["rafs"] - rafs0,
        "pending_transitions": max(held["pending"], default=0),
        "long_tasks_per_min": len(tasks) / ((t1 - t0) / 60_000),
        "longest_task_ms": max(tasks, default=0.0),
        "cpu_long_tasks_per_min": len(cpu_long) / (traced / 60) if tracing else math.nan,
        "longest_cpu_task_ms": max(cpu_long, default=0.0),
        "loaf_ms_per_min": attribution(held["loafs"], t0, t1),
        "page_cpu_ms": 1000 * (cpu1 - cpu0) / len(stamps),
        "frame_p50_ms": statistics.median(frames) if frames else math.nan,
        "frame_p99_ms": percentile(frames, 99) if frames else math.nan,
        "kernel_cpu_ms": measured["cpu_ms"],
        # The Jupyter server from the drive's start to the end of the catch-up: the hub,
        # and JupyterLab's own traffic (the page without a plot has the same).
        "server_cpu_ms": 1000 * (server1 - server0) / len(stamps),
    }


def _median(results: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in results if key in r and not math.isnan(r[key])]
    return statistics.median(values) if values else math.nan


def _attribution(results: list[dict[str, Any]], top: int = 3) -> str:
    """The median ms/min of long animation frames per source, the largest first."""
    sources = {who for r in results for who in r.get("loaf_ms_per_min", {})}
    medians = {
        who: statistics.median(r.get("loaf_ms_per_min", {}).get(who, 0.0) for r in results)
        for who in sources
    }
    ranked = sorted(medians.items(), key=lambda item: -item[1])[:top]
    return ", ".join(f"{who} {ms:,.0f}" for who, ms in ranked) or "none"


def rows(results: dict[str, list[dict[str, Any]]], load: str = "") -> list[Row]:
    """The table: medians over the rounds that ran to the end."""
    ok = {name: [r for r in runs if "failed" not in r] for name, runs in results.items()}
    names = ("baseline", "chart", "bqplot-paced", "stream")
    base, chart, paced, stream = (ok.get(name, []) for name in names)
    fast = results.get("bqplot", [])
    rounds = f"median of {len(chart)}/{len(paced)} rounds{load}"

    def both(key: str, fmt: str, theirs_runs: list[dict[str, Any]]) -> tuple[str, str, float]:
        ours, theirs = _median(chart, key), _median(theirs_runs, key)
        return fmt.format(ours), fmt.format(theirs), ours / theirs if theirs else math.nan

    p50 = both("p50_ms", "{:.1f} ms", paced)
    p99 = both("p99_ms", "{:.1f} ms", paced)
    long = both("long_tasks_per_min", "{:.1f}/min", base)
    cpu = both("page_cpu_ms", "{:.2f} ms", base)
    cpu_long = both("cpu_long_tasks_per_min", "{:.1f}/min", base)
    longest = _median(chart, "longest_task_ms")
    pps = _median(stream, "points_per_s")
    stream_rps = _median(stream, "drawn_redraws_per_s")
    base_rps = _median(base, "drawn_redraws_per_s")
    stream_updates = _median(stream, "updates_per_s")
    stream_long = _median(stream, "long_tasks_per_min")
    stream_cpu_long = _median(stream, "cpu_long_tasks_per_min")
    stream_cpu, base_cpu = _median(stream, "page_cpu_ms"), _median(base, "page_cpu_ms")
    extra_long = _median(chart, "long_tasks_per_min") - _median(base, "long_tasks_per_min")
    fast_ok = [r for r in fast if "failed" not in r]
    fast_text = "; ".join(
        r["failed"]
        if "failed" in r
        else f"drew {r['redraws_in_drive']} times in the drive, {r['animation_frames']} "
        f"animation frames, {r['pending_transitions']} d3 transitions pending, "
        f"{'caught up' if r['caught_up'] else f'not caught up {CATCH_UP_S} s after'}"
        for r in fast
    )
    out = [
        Row(
            SECTION,
            f"s.chart at 30 updates/s vs bqplot (`link`) paced, its best case, 100k points, "
            f"+1 point: set() → redrawn p50 ({rounds})",
            p50[0],
            p50[1],
            f"{p50[2]:.2f}x",
            "≤ 0.2x",
            p50[2] <= 0.2,
        ),
        Row(SECTION, "… set() → redrawn p99", p99[0], p99[1], f"{p99[2]:.2f}x", "", None),
        Row(
            SECTION,
            f"bqplot (`link`) at the chart's 30 updates/s for 10 s "
            f"({len(fast_ok)}/{len(fast)} rounds answered)",
            fast_text or "not run",
            "",
            "",
            "",
            None,
        ),
        Row(
            SECTION,
            f"… long tasks (> 50 ms) per minute: chart vs the same page without a plot "
            f"(chart's longest {longest:.0f} ms; chart adds {extra_long:+.1f}/min)",
            long[0],
            long[1],
            "",
            "none",
            _median(chart, "long_tasks_per_min") == 0,
        ),
        Row(
            SECTION,
            "… tasks over 50 ms of CPU (thread time: load cannot make them long) per minute: "
            f"chart vs no plot (chart's longest {_median(chart, 'longest_cpu_task_ms'):.0f} ms)",
            cpu_long[0],
            cpu_long[1],
            "",
            "none",
            _median(chart, "cpu_long_tasks_per_min") == 0,
        ),
        Row(
            SECTION,
            "… long animation frames, ms per minute by script source (chart / no plot)",
            _attribution(chart),
            _attribution(base),
            "",
            "",
            None,
        ),
        Row(
            SECTION,
            "… page main-thread CPU per update (thread time): chart vs no plot "
            f"(bqplot paced {_median(paced, 'page_cpu_ms'):.0f} ms)",
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
            f"points/s drawn by s.chart, read back from the page (window 100k, 3,400 points "
            f"per update at {stream_updates:.1f} updates/s sent, "
            f"{_median(stream, 'sent_points_per_s'):,.0f} points/s sent; median of "
            f"{len(stream)} rounds{load})",
            f"{pps:,.0f}/s",
            "",
            "",
            "≥ 100,000/s",
            pps >= 100_000,
        ),
        Row(
            SECTION,
            "… redraws/s the page made while it drew them (its draw hook): stream vs the "
            f"page without a plot showing each update ({stream_updates:.1f} updates/s sent)",
            f"{stream_rps:.1f}/s",
            f"{base_rps:.1f}/s",
            f"{stream_rps / base_rps:.2f}x" if base_rps else "",
            f"≥ {0.95 * STREAM_RATE:.1f}/s (95% of {STREAM_RATE}/s)",
            stream_rps >= 0.95 * STREAM_RATE,
        ),
        Row(
            SECTION,
            "… long tasks (> 50 ms wall) per minute: stream vs the page without a plot "
            f"(the stream's longest {_median(stream, 'longest_task_ms'):.0f} ms; over 50 ms "
            f"of CPU: {stream_cpu_long:.1f}/min)",
            f"{stream_long:.1f}/min",
            f"{_median(base, 'long_tasks_per_min'):.1f}/min",
            "",
            "none",
            stream_long == 0,
        ),
        Row(
            SECTION,
            "… kernel CPU per update (its process, all threads) / Jupyter server's, the hub "
            "in it: stream vs no plot",
            f"{_median(stream, 'kernel_cpu_ms'):.2f} / {_median(stream, 'server_cpu_ms'):.2f} ms",
            f"{_median(base, 'kernel_cpu_ms'):.2f} / {_median(base, 'server_cpu_ms'):.2f} ms",
            "",
            "",
            None,
        ),
        Row(
            SECTION,
            "… page main-thread CPU per update (thread time): stream vs no plot",
            f"{stream_cpu:.2f} ms",
            f"{base_cpu:.2f} ms",
            f"{stream_cpu / base_cpu:.2f}x" if base_cpu else "",
            "",
            None,
        ),
    ]
    failed = [
        r["failed"]
        for name, runs in results.items()
        if name != "bqplot"
        for r in runs
        if "failed" in r
    ]
    if failed:
        out.append(Row(SECTION, "phases that did not finish", "; ".join(failed), "", "", "", False))
    return out


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


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
    unknown = set(PHASES) - set(ALL_PHASES)
    if unknown:
        raise SystemExit(f"bench chart: expected phases among {ALL_PHASES}, got {sorted(unknown)}")
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in ALL_PHASES}
    phases = [name for name in ALL_PHASES if name in PHASES]
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="nb_sse_signals-bench-chart-") as tmp:
        lab = start_lab(Path(tmp))
        try:
            for round_ in range(ROUNDS):
                for name in phases:
                    started, load = time.monotonic(), _load()
                    result = phase(lab, name, f"{name.replace('-', '_')}{round_}")
                    result["load"] = load
                    results[name].append(result)
                    sys.stderr.write(
                        f"chart bench, round {round_ + 1}, {name} "
                        f"({time.monotonic() - started:.0f} s, load {load}): "
                        f"{json.dumps(result)}\n"
                    )
        finally:
            lab.stop()
    load = f"; load average {load_before} before, {_load()} after"
    facts: dict[str, float | int | bool] = {
        f"{name}_{key}": _median([r for r in runs if "failed" not in r], key)
        for name, runs in results.items()
        for key in ("p50_ms", "points_per_s", "long_tasks_per_min")
    }
    return Section(SECTION, rows(results, load), facts)
