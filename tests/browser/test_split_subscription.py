"""A page that follows more signals than one request may name, in a real Chromium
against the standalone server: the subscription is split across streams, not rejected."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser

from nb_sse_signals._server import Server

from .lab import COUNT_EVENT_SOURCES, needs_chromium, new_page

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

TOKEN = "split-token"
N = 2_500  # past signals_per_subscription (1,000), and past 32 KiB of URL per 1,000


@pytest.fixture
def server() -> Iterator[Server]:
    with Server(token=TOKEN) as srv:
        for i in range(N):
            srv.hub.declare(f"split/signal-number-{i:05d}", {"i": i})
        yield srv


def test_a_page_past_the_hubs_limits_of_one_request_follows_every_signal(
    browser: Browser, server: Server
) -> None:
    context = browser.new_context()
    page, log = new_page(context)
    rejections: list[str] = []
    page.on(
        "response",
        lambda r: rejections.append(f"{r.status} {r.url[:100]}") if r.status >= 400 else None,
    )
    page.add_init_script(COUNT_EVENT_SOURCES)
    # A blank page of the server's origin (the client module is same-origin there).
    page.route(
        server.url + "blank",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<html></html>"),
    )
    try:
        page.goto(server.url + "blank")
        live = page.evaluate(
            """async ([base, token, n]) => {
                const { subscribe } = await import(base + "static/client.js");
                const seen = new Map();
                await new Promise((resolve, reject) => {
                    setTimeout(() => reject(new Error(`only ${seen.size} values in 30 s`)), 30000);
                    for (let i = 0; i < n; i++) {
                        const name = `split/signal-number-${String(i).padStart(5, "0")}`;
                        subscribe(base, name, (event) => {
                            if (event.type === "value") seen.set(name, event.value.i);
                            if (seen.size === n) resolve();
                        }, { token });
                    }
                });
                return [...seen.values()].reduce((a, b) => a + b, 0);
            }""",
            [server.url, TOKEN, N],
        )
        stats = page.evaluate("window.__eventSources")
    finally:
        context.close()
    assert live == sum(range(N)), "every signal's value arrived"
    urls = stats["urls"]
    assert 3 <= len(urls) <= 6, f"one stream per limit's worth: {len(urls)}"
    for url in urls:
        names = parse_qs(urlsplit(url).query)["signal"]
        assert len(names) <= 1_000, len(names)
        assert len(url) <= 32 * 1024, len(url)
    assert rejections == [], rejections
    assert log.errors == [], log.errors
