"""Eight tabs of the standalone demo page in one browser share one event stream."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, Page, expect

from .lab import COUNT_EVENT_SOURCES, PageLog, needs_chromium, new_page

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

TABS = 8


def count(page: Page) -> int:
    text = page.get_by_test_id("count").inner_text()
    return int(text) if text.isdigit() else -1


def open_streams(pages: list[Page]) -> int:
    return sum(int(page.evaluate("window.__eventSources.open")) for page in pages)


def leader(pages: list[Page]) -> Page:
    leaders = [page for page in pages if page.evaluate("window.__eventSources.open") == 1]
    assert len(leaders) == 1, f"{len(leaders)} tabs hold a stream"
    return leaders[0]


def test_eight_demo_tabs_share_one_stream_and_survive_losing_the_tab_that_holds_it(
    browser: Browser, demo: tuple[str, str]
) -> None:
    url, token = demo
    context = browser.new_context()  # one browser profile: one group of tabs
    context.add_init_script(COUNT_EVENT_SOURCES)
    logs: list[PageLog] = []
    pages: list[Page] = []
    try:
        for _ in range(TABS):
            page, log = new_page(context)
            page.goto(f"{url}?token={token}", timeout=20_000)
            expect(page.get_by_test_id("count")).not_to_have_text("…", timeout=15_000)
            pages.append(page)
            logs.append(log)
        assert open_streams(pages) == 1, "one EventSource for all eight tabs"
        # Were each tab holding a connection, the browser would have none left for this.
        answered = pages[0].evaluate(
            """async (u) => Promise.race([
                fetch(u).then((r) => r.status),
                new Promise((resolve) => setTimeout(() => resolve("no answer in 5 s"), 5000)),
            ])""",
            f"{url}?token={token}",
        )
        assert answered == 200, answered

        before = [count(page) for page in pages]
        time.sleep(2.5)  # the demo counts once a second
        after = [count(page) for page in pages]
        assert all(b > a for a, b in zip(before, after, strict=True)), (before, after)

        leader_page = leader(pages)
        rest = [page for page in pages if page is not leader_page]
        leader_page.close()
        # Within 5 s every other tab shows the counter moving again.
        seen = [count(page) for page in rest]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            now = [count(page) for page in rest]
            if all(n > s + 1 for s, n in zip(seen, now, strict=True)):
                break
            time.sleep(0.2)
        now = [count(page) for page in rest]
        assert all(n > s + 1 for s, n in zip(seen, now, strict=True)), (seen, now)
        assert open_streams(rest) == 1, "one successor holds the stream"
        for page in rest:
            expect(page.locator(".nb-sse-signals-status-live").first).to_be_visible()
        rest[0].screenshot(path="/tmp/nb_sse_signals_demo_tabs.png")
        errors = [e for log in logs for e in log.errors]
        assert errors == [], "\n".join(errors)
    finally:
        context.close()
