"""The quickstart notebook in JupyterLab, in a real Chromium, at the root and under a prefix."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from ..jupyter import JupyterServer
from .lab import (
    event_sources,
    needs_chromium,
    notebook_page,
    run_all,
    wait_for_all_cells,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]


@pytest.fixture(scope="module", params=["/", "/prefix/"], ids=["root", "prefix"])
def lab_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"base_url": request.param}


# Read in one go, so the counter and the bar it drives are seen at the same moment.
READ_COUNTER = """() => {
    const counter = [...document.querySelectorAll('.nb-sse-signals-content')]
        .find((el) => el.textContent.startsWith('count = '));
    const bar = document.querySelector('.widget-hprogress .progress-bar');
    return {
        count: counter ? Number(counter.textContent.slice('count = '.length)) : null,
        live: counter?.parentElement.classList.contains('nb-sse-signals-status-live') ?? false,
        bar: bar ? parseFloat(bar.style.width) : null,
    };
}"""


def test_the_quickstart_counter_counts_in_the_page_its_bar_follows_and_the_kernel_observes(
    browser: Browser, lab: JupyterServer, tmp_path: Path
) -> None:
    with notebook_page(browser, lab, "quickstart.ipynb") as (page, log):
        run_all(page)
        # The first value comes with the widget's state (status "connecting"); wait
        # until the stream has taken over.
        counter = page.locator(
            ".nb-sse-signals-status-live > .nb-sse-signals-content", has_text="count = "
        )
        expect(counter).to_be_visible(timeout=20_000)

        readings = []
        for _ in range(4):
            readings.append(page.evaluate(READ_COUNTER))
            time.sleep(1.1)  # the notebook drives the counter once a second
        counts = [r["count"] for r in readings]
        assert all(r["live"] for r in readings), f"the status dot should be live: {readings}"
        assert counts == sorted(counts), f"the counter should only go up, read {counts}"
        assert len(set(counts)) >= 3, f"the widget should show successive values, read {counts}"
        for r in readings:
            # jsdlink'ed in the browser: IntProgress(max=60) at count/60 of its width.
            # Within one count: the bar updates just after the counter in the same event.
            assert r["bar"] is not None, "the progress bar is missing"
            assert abs(r["bar"] - 100 * r["count"] / 60) <= 100 / 60 + 0.01, readings
        bars = [r["bar"] for r in readings]
        assert bars[-1] > bars[0], f"the bar should grow with the counter: {bars}"

        wait_for_all_cells(page)
        observed = page.locator(".jp-OutputArea-output", has_text="the kernel observed")
        match = re.search(r"the kernel observed (\d+) changes", observed.inner_text())
        assert match, "the cell that reports the observed changes printed nothing"
        assert int(match[1]) >= 2, (
            "the kernel-side observe callback should fire while a cell sleeps"
        )

        stats = event_sources(page)
        assert stats["opened"] == 1, stats
        assert stats["urls"][0].startswith(f"{lab.base_url}nb-sse-signals/events?signal=k-"), (
            "the stream must be under the server's base URL, not the page's path"
        )
        assert log.event_requests == [f"{lab.url}{stats['urls'][0][len(lab.base_url) :]}"]

        page.locator(".widget-hprogress").first.scroll_into_view_if_needed()
        page.screenshot(path=tmp_path / "quickstart.png")
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)
