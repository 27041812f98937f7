"""The standalone server's demo page (`nb-sse-signals serve --demo`) in a real Chromium."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from .lab import fresh_page, needs_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]


def test_the_demo_page_shows_both_signals_live_with_one_stream(
    browser: Browser, demo: tuple[str, str], tmp_path: Path
) -> None:
    url, token = demo
    with fresh_page(browser) as (page, page_log):
        page.goto(f"{url}?token={token}", timeout=20_000)
        big = page.get_by_test_id("count")
        expect(big).not_to_have_text("…", timeout=10_000)
        first = int(big.inner_text())
        time.sleep(2.2)  # the demo counts once a second
        assert int(big.inner_text()) >= first + 2, "the counter should keep counting"
        points = page.locator("#line").get_attribute("points") or ""
        assert len(points.split()) >= 2, "the readings line should have several points"
        expect(page.locator("#readings")).to_contain_text("readings, the latest")
        expect(page.locator("#readings")).to_contain_text("°C")
        page.screenshot(path=tmp_path / "demo.png")
    # The page's EventSource needs no token in its URL: the cookie set by /?token=.
    assert len(page_log.event_requests) == 1, page_log.event_requests
    assert "token=" not in page_log.event_requests[0]
    assert page_log.errors == [], "\n".join(page_log.errors)
