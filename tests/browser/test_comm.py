"""Signals over the widget's comm, in a real Chromium, where no signals server is reachable.

JupyterLab runs with the server extension disabled (a server that never installed
it), and the browser may reach nothing but the Jupyter server's own port, as when
the kernel runs on another machine (Colab, VS Code remote, Binder, Voila behind a
proxy). So no EventSource can work: every value must come over the comm.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from ..jupyter import JupyterServer, free_port, isolated_env, stop_process, wait_until_serving
from .lab import (
    KERNEL_FRAMES,
    LAB_HOUSEKEEPING,
    NOTEBOOKS,
    event_sources,
    fresh_page,
    needs_chromium,
    notebook_page,
    run_all,
    save_notebook,
    wait_for_all_cells,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

RATE_WARNING = re.compile(r"IOPub (message|data) rate exceeded", re.IGNORECASE)


@pytest.fixture(scope="module")
def lab_options() -> dict[str, Any]:
    return {"extension": False}  # as a server that never installed it


def read_widget(page: Page, prefix: str) -> dict[str, object]:
    return dict(
        page.evaluate(
            """(prefix) => {
                const el = [...document.querySelectorAll('.nb-sse-signals-content')]
                    .find((e) => e.textContent.startsWith(prefix));
                const bar = document.querySelector('.widget-hprogress .progress-bar');
                return {
                    n: el ? Number(el.textContent.slice(prefix.length)) : null,
                    live: el?.parentElement.classList.contains('nb-sse-signals-status-live')
                        ?? false,
                    bar: bar ? parseFloat(bar.style.width) : null,
                };
            }""",
            prefix,
        )
    )


def test_the_server_really_has_no_extension(lab: JupyterServer) -> None:
    # No `signal` at all: the extension's handler would answer 400 (it asks for one),
    # so a 404 can only mean no handler is mounted. An unknown name would be 404 either way.
    answer = httpx.get(f"{lab.url}nb-sse-signals/snapshot", headers=lab.headers)
    assert answer.status_code == 404, "the extension should be disabled for these tests"


def test_the_quickstart_counts_over_the_comm_its_bar_follows_and_the_kernel_observes(
    browser: Browser, lab: JupyterServer, tmp_path: Path
) -> None:
    with notebook_page(browser, lab, "quickstart.ipynb", only_jupyter=True) as (page, log):
        run_all(page)
        counter = page.locator(
            ".nb-sse-signals-status-live > .nb-sse-signals-content", has_text="count = "
        )
        expect(counter).to_be_visible(timeout=30_000)
        readings = []
        for _ in range(4):
            readings.append(read_widget(page, "count = "))
            time.sleep(1.1)
        counts = [r["n"] for r in readings]
        assert all(r["live"] for r in readings), readings
        assert counts == sorted(counts), f"only forward: {counts}"  # type: ignore[type-var]
        assert len(set(counts)) >= 3, f"successive values over the comm: {counts}"
        bars = [r["bar"] for r in readings]
        assert bars[-1] > bars[0], f"the jsdlink'ed bar follows: {bars}"  # type: ignore[operator]

        wait_for_all_cells(page)
        observed = page.locator(".jp-OutputArea-output", has_text="the kernel observed")
        match = re.search(r"the kernel observed (\d+) changes", observed.inner_text())
        assert match, "the cell that reports the observed changes printed nothing"
        assert int(match[1]) >= 2, "kernel-side observe fires while a cell sleeps"
        assert event_sources(page)["opened"] == 0, "no EventSource: the comm carries it all"
        assert log.event_requests == []
        page.screenshot(path=tmp_path / "quickstart-comm.png")

        # Reload: saved first, so JupyterLab restores the views from the live kernel.
        save_notebook(page)
        before = read_widget(page, "count = ")["n"]
        page.reload()
        expect(counter).to_be_visible(timeout=60_000)
        after = read_widget(page, "count = ")
        assert after["live"], after
        assert after["n"] >= before, f"the current value after a reload: {before} -> {after}"  # type: ignore[operator]
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)


FLOOD = """
import threading, time
from nb_sse_signals import ServerSignal
flood = ServerSignal("flood", {"i": 0})
flood.widget("/i", template="flood = {value}")
"""

RUN_FLOOD = """
final = 0
def run():
    global final
    end = time.monotonic() + 5
    while time.monotonic() < end:
        for _ in range(10):
            final += 1
            flood.set({"i": final})
        time.sleep(0.01)  # about 1,000 set() a second
worker = threading.Thread(target=run)
worker.start()
worker.join()  # the main thread is busy meanwhile: the comm must keep flowing
print(f"flooded {final}")
"""


def test_a_thousand_sets_a_second_for_five_seconds_never_trip_the_iopub_limits(
    browser: Browser, lab: JupyterServer, tmp_path: Path
) -> None:
    name = write_notebook(lab, "flood.ipynb", "%load_ext nb_sse_signals", FLOOD, RUN_FLOOD)
    with notebook_page(browser, lab, name, only_jupyter=True) as (page, log):
        run_all(page)
        expect(page.locator(".nb-sse-signals-status-live", has_text="flood = ")).to_be_visible(
            timeout=30_000
        )
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            seen.append(read_widget(page, "flood = ")["n"])
            if page.locator(".jp-OutputArea-output", has_text="flooded").count():
                break
            time.sleep(0.5)
        wait_for_all_cells(page, timeout=60)
        final = int(
            re.search(
                r"flooded (\d+)",
                page.locator(".jp-OutputArea-output", has_text="flooded").inner_text(),
            )[1]  # type: ignore[index]
        )
        assert final >= 2_000, f"the thread should have called set() thousands of times: {final}"
        page.wait_for_function(
            """(final) => [...document.querySelectorAll('.nb-sse-signals-content')]
                .some((e) => e.textContent === `flood = ${final}`)""",
            arg=final,
            timeout=15_000,
        )
        moving = [n for n in seen if n]
        assert len(set(moving)) >= 3, f"values kept arriving while the cell was busy: {seen}"
        page.screenshot(path=tmp_path / "flood.png")
        text = page.locator("#main").inner_text()
        assert not RATE_WARNING.search(text), "the notebook shows an iopub rate-limit warning"
        assert not RATE_WARNING.search(lab.log()), "the server dropped iopub messages"
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)


@pytest.fixture
def voila(tmp_path: Path) -> Iterator[str]:
    """Standalone Voila (it loads no server extension) serving the quickstart."""
    root = tmp_path / "voila"
    env = isolated_env(root)
    notebook = root / "quickstart.ipynb"
    notebook.write_bytes((NOTEBOOKS / "quickstart.ipynb").read_bytes())
    port = free_port()
    log_path = root / "voila.log"
    cmd = [
        sys.executable, "-m", "voila", "--no-browser", f"--port={port}",
        "--Voila.ip=127.0.0.1", "--Voila.root_dir=" + str(root), str(notebook),
    ]  # fmt: skip
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(
            proc,
            f"http://127.0.0.1:{port}/voila/static/",
            log_path,
            "voila",
            ready=lambda response: response.status_code < 500,
        )
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_process(proc)


def test_standalone_voila_renders_the_quickstart_live_over_the_comm(
    browser: Browser, voila: str, tmp_path: Path
) -> None:
    viewport: ViewportSize = {"width": 1200, "height": 900}
    with fresh_page(browser, only=voila, viewport=viewport) as (page, log):
        page.goto(voila, timeout=120_000)
        counter = page.locator(
            ".nb-sse-signals-status-live > .nb-sse-signals-content", has_text="count = "
        )
        expect(counter).to_be_visible(timeout=90_000)
        first = read_widget(page, "count = ")["n"]
        page.wait_for_function(
            """(first) => [...document.querySelectorAll('.nb-sse-signals-content')]
                .some((e) => e.textContent.startsWith('count = ')
                    && Number(e.textContent.slice(8)) >= first + 2)""",
            arg=first,
            timeout=15_000,
        )
        page.screenshot(path=tmp_path / "voila-comm.png")
        assert log.event_requests == [], "no event stream in Voila: the comm carries it"
        # Voila's page asks a CDN for its icon font (this browser reaches only Voila), and
        # loads every installed lab extension, some of which (Notebook 7's) fail there.
        errors = [
            e
            for e in log.errors
            if "cdn.jsdelivr.net" not in e and "labextensions/@jupyter-notebook/" not in e
        ]
        assert errors == [], "the page logged errors:\n" + "\n".join(errors)


def test_the_live_plot_notebook_draws_its_bqplot_line_over_the_comm(
    browser: Browser, lab: JupyterServer, tmp_path: Path
) -> None:
    from .test_plots_in_lab import BQPLOT_LINE, POINTS

    with notebook_page(browser, lab, "live_plot.ipynb", only_jupyter=True) as (page, log):
        run_all(page)
        wait_for_all_cells(page)
        page.wait_for_function(f"() => ({BQPLOT_LINE})().n >= 5", timeout=20_000)
        first = page.evaluate(BQPLOT_LINE)
        time.sleep(1)  # twenty points a second
        later = page.evaluate(BQPLOT_LINE)
        assert later["path"] != first["path"], "the jsdlink'ed line moves with the signal"
        assert later["n"] > first["n"], (first["n"], later["n"])
        summary = page.locator(".nb-sse-signals-content", has_text="points, last")
        expect(summary).to_contain_text(f"{POINTS} points", timeout=30_000)
        page.locator(".bqplot").first.scroll_into_view_if_needed()
        page.screenshot(path=tmp_path / "live_plot_comm.png")
        assert event_sources(page)["opened"] == 0, "no EventSource: the comm carries it all"
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)


LINKED = """
import threading, time
import ipywidgets as widgets
import nb_sse_signals
from nb_sse_signals import ServerSignal

progress = ServerSignal("comm-progress", {"done": 0, "xs": [], "ys": []})
bar = widgets.IntProgress(min=0, max=40)
link = nb_sse_signals.link(progress.widget("/done"), (bar, "value"))
chart = progress.chart(x="/xs", y="/ys", title="over the comm", height=150)
widgets.VBox([bar, chart])
"""

LINKED_DRIVE = """
def work():
    time.sleep(2)  # the page is set up and its frame log cleared
    for i in range(1, 41):
        with progress.mutate() as doc:
            doc["done"] = i
            doc["xs"].append(i)
            doc["ys"].append(i * i)
        time.sleep(0.05)
threading.Thread(target=work, daemon=True).start()
"""


def test_link_and_the_chart_follow_over_the_comm_and_the_page_sends_only_handshakes(
    browser: Browser, lab: JupyterServer, tmp_path: Path
) -> None:
    name = write_notebook(
        lab, "linked_comm.ipynb", "%load_ext nb_sse_signals", LINKED, LINKED_DRIVE
    )
    with notebook_page(browser, lab, name, init_script=KERNEL_FRAMES, only_jupyter=True) as (
        page,
        log,
    ):
        run_all(page)
        wait_for_all_cells(page)
        # From here, what the page may send: the comm handshakes of the widgets (a
        # hello, snapshot requests), nothing else (a link that saved would send each
        # value; the producer runs for 2 s more after this).
        page.evaluate("window.__kernelFrames.sent = []")
        page.wait_for_function(
            """() => {
                const data = document.querySelector('.nb-sse-signals-chart')
                    .nbSseSignalsPlot?.data;
                const bar = document.querySelector('.widget-hprogress .progress-bar');
                return data?.[1]?.length === 40 && data[1][39] === 1600
                    && bar?.style.width === '100%';
            }""",
            timeout=30_000,
        )
        sent = page.evaluate("window.__kernelFrames.sent")
        other = [
            f
            for f in sent
            if f["msg_type"] not in LAB_HOUSEKEEPING
            and not (f["msg_type"] == "comm_msg" and f["method"] in ("hello", "snapshot"))
        ]
        assert other == [], f"the page sent the kernel more than handshakes: {sent}"
        assert event_sources(page)["opened"] == 0, "no EventSource: the comm carries it all"
        page.screenshot(path=tmp_path / "linked_comm.png")
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)
