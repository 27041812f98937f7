"""The chart benchmark's arithmetic (bench/chart.py), on figures made up here: which
update a redraw shows, whose long animation frames they are, which tasks were long on
CPU. The benchmark itself needs JupyterLab and Chromium and runs by hand."""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

from bench import chart


def test_an_update_drawn_with_later_ones_counts_until_that_drawing() -> None:
    stamps = [[1.000, 101], [1.010, 102], [1.020, 103]]
    redraws = [[1005.0, 101], [1050.0, 103]]

    assert chart.latencies(stamps, redraws) == [5.0, 40.0, 30.0]


def test_the_stream_rate_is_what_the_page_drew_until_it_showed_the_last_point() -> None:
    # 3 updates of 100 points sent in 20 ms; the page drew twice, the last point at 1.5 s.
    stamps = [[1.000, 100], [1.010, 200], [1.020, 300]]
    redraws = [[900.0, 0], [1_250.0, 200], [1_500.0, 300], [1_600.0, 300]]

    points, per_s, seconds = chart.drawn_rate(stamps, redraws, before=0)

    assert (points, per_s, seconds) == (600.0, 4.0, 0.5)


def test_a_page_that_never_showed_the_last_point_counts_what_it_drew() -> None:
    stamps = [[1.000, 100], [1.010, 200], [1.020, 300]]

    assert chart.drawn_rate(stamps, [[2_000.0, 200]], before=0) == (200.0, 1.0, 1.0)
    assert chart.drawn_rate(stamps, [[500.0, 300]], before=0) == (0.0, 0.0, 0.0)


def test_a_process_cpu_is_its_user_and_system_time_in_seconds() -> None:
    before = chart.process_cpu(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:  # spend some CPU in this process
        pass

    assert chart.process_cpu(os.getpid()) - before >= 0.03


def test_an_update_never_drawn_has_no_latency() -> None:
    assert chart.latencies([[1.0, 101], [1.1, 102]], [[1010.0, 101]]) == [10.0]


def test_long_animation_frame_scripts_are_told_apart_by_source() -> None:
    assert chart.source_of("blob:http://127.0.0.1:8888/5f1c").startswith("widget modules")
    assert chart.source_of("http://h/lab/extensions/bqplot/static/568.js") == "bqplot"
    assert chart.source_of("http://h/static/lab/main.js") == "JupyterLab"
    assert chart.source_of("", "FrameRequestCallback").startswith("animation-frame")
    assert chart.source_of("", "DOMWindow.onmessage").startswith("no URL")


def test_attribution_is_ms_per_minute_and_what_scripts_leave_is_rendering() -> None:
    loafs = [
        [1_000.0, 120.0, [["blob:x", "EventSource.onmessage", 70.0]]],
        [2_000.0, 60.0, [["", "FrameRequestCallback", 60.0]]],
        [90_000.0, 500.0, [["blob:x", "EventSource.onmessage", 500.0]]],  # after t1
    ]

    per_minute = chart.attribution(loafs, 0.0, 30_000.0)

    widgets = "widget modules (anywidget ESM: the signal, link, chart)"
    assert per_minute[widgets] == 140.0
    assert per_minute["rendering, GC, no script"] == 100.0
    assert per_minute["animation-frame callbacks (the chart's frame; d3's timers)"] == 120.0
    assert chart.attribution(None, 0.0, 1.0) == {}


def test_cpu_long_tasks_are_the_page_main_threads_by_thread_time() -> None:
    def task(tid: int, wall_ms: float, cpu_ms: float) -> dict[str, object]:
        return {"ph": "X", "name": chart.RUN_TASK, "pid": 1, "tid": tid,
                "dur": wall_ms * 1000, "tdur": cpu_ms * 1000}  # fmt: skip

    def thread(tid: int, name: str) -> dict[str, object]:
        return {"ph": "M", "name": "thread_name", "pid": 1, "tid": tid, "args": {"name": name}}

    events = [
        thread(7, "CrRendererMain"),
        thread(8, "Chrome_IOThread"),
        task(7, 400, 8),
        task(7, 90, 60),
        task(7, 10, 5),
        *[task(8, 900, 900)] * 4,  # the busier thread, but not the page's main one
    ]

    assert chart.cpu_long_tasks(json.dumps({"traceEvents": events}).encode()) == [60.0]


def test_rows_compare_the_chart_with_bqplot_paced_and_the_page_without_a_plot() -> None:
    def figures(p50: float, long: float, cpu_long: float) -> dict[str, Any]:
        return {"p50_ms": p50, "p99_ms": 2 * p50, "long_tasks_per_min": long,
                "cpu_long_tasks_per_min": cpu_long, "longest_cpu_task_ms": 0.0,
                "longest_task_ms": 60.0, "page_cpu_ms": 5.0, "frame_p50_ms": 2.0,
                "frame_p99_ms": 9.0, "points_per_s": 1.0, "redraws_per_s": 1.0,
                "loaf_ms_per_min": {}}  # fmt: skip

    results: dict[str, list[dict[str, Any]]] = {
        "baseline": [figures(math.nan, 10.0, 0.0)],
        "chart": [figures(100.0, 300.0, 0.0)],
        "bqplot-paced": [figures(10_000.0, 5.0, 4.0)],
        "bqplot": [{"failed": "bqplot: the page did not answer"}],
        "stream": [figures(1.0, 0.0, 0.0)],
    }

    rows = chart.rows(results)

    assert (rows[0].ours, rows[0].baseline, rows[0].ratio, rows[0].met) == (
        "100.0 ms", "10000.0 ms", "0.01x", True,
    )  # fmt: skip
    assert rows[2].ours == "bqplot: the page did not answer"
    cpu_row = next(row for row in rows if "of CPU" in row.what)
    assert (cpu_row.ours, cpu_row.baseline, cpu_row.met) == ("0.0/min", "0.0/min", True)
    assert not any(row.what == "phases that did not finish" for row in rows)
