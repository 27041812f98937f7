"""Goal 5: what sharing one stream across tabs costs: ``set()`` → DOM, leader vs follower.

Two tabs of one real Chromium (Debian's, through Playwright; one browser context, so
one group of tabs) show the same signal with the browser client (`static/client.js`,
the demo page's). The first tab holds the EventSource; the second gets every frame
relayed over the BroadcastChannel. A publisher process (the kernel path:
``ServerSignal.set({"t": time.time(), "n": i})``) → the hub (a standalone ``Server``
process) → the leader tab → the follower tab. Each tab stamps the first DOM change
showing ``n`` with ``performance.timeOrigin + performance.now()`` (the same clock as
the publisher's ``time.time()``, to ~0.1 ms). The relay's cost is, per update, the
follower's stamp minus the leader's, measured in the same run.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from nb_sse_signals import __version__

from ._procs import TOKEN, Child, children
from ._timing import Row, Section, median, percentile

SECTION = "6. Tabs"
SIGNAL = "bench/relay"
CHROMIUM = "/usr/bin/chromium"
# As tests/browser/lab.py: without the background-networking flags Chromium floods
# the closed network with refused connections.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TABS_KEY = f'Symbol.for("nb_sse_signals.tabs@{__version__}")'

# Served by Playwright at the hub's own origin (so both tabs share its locks and
# channels, and /static/client.js is same-origin); the hub itself has no such page.
PAGE = (
    """<!doctype html><meta charset="utf-8"><title>relay bench</title>
<div id="shown"></div>
<script type="module">
  import { show } from "/static/client.js";
  const el = document.getElementById("shown");
  window.__stamps = {};
  new MutationObserver(() => {
    const now = performance.timeOrigin + performance.now();
    const text = el.querySelector(".nb-sse-signals-content")?.textContent.trim() ?? "";
    const match = /^(\\d+) ([\\d.]+)$/.exec(text);
    if (match && !(match[1] in window.__stamps))
      window.__stamps[match[1]] = [now, Number(match[2]) * 1000];
  }).observe(el, { subtree: true, childList: true, characterData: true });
  const token = new URL(location.href).searchParams.get("token");
  show(el, `${location.origin}/`, "SIGNAL", { token, template: "{/n} {/t}" });
</script>
"""
).replace("SIGNAL", SIGNAL)


def _measure(updates: int, rate: float, timeout: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with children() as started, sync_playwright() as playwright:
        hub = Child("_hub_proc", SIGNAL, orjson.dumps({"t": 0, "n": 0}).decode())
        started.append(hub)
        port = hub.read(timeout)["port"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            context = browser.new_context()
            context.route(
                lambda url: urlsplit(url).path == "/relay-bench.html",
                lambda route: route.fulfill(body=PAGE, content_type="text/html; charset=utf-8"),
            )
            url = f"http://127.0.0.1:{port}/relay-bench.html?token={TOKEN}"
            pages = []
            for _ in range(2):
                page = context.new_page()
                page.goto(url, timeout=timeout * 1000)
                page.wait_for_selector(".nb-sse-signals-status-live", timeout=timeout * 1000)
                pages.append(page)
            roles = [
                page.evaluate(f"globalThis[{TABS_KEY}]?.groups?.[0]?.leading ?? null")
                for page in pages
            ]
            args = (str(port), SIGNAL, str(updates), str(int(rate)))
            started.append(Child("_publish_proc", "signal", *args))
            for page in pages:
                page.wait_for_function(
                    f"Object.keys(window.__stamps).length >= {updates}", timeout=timeout * 1000
                )
            stamps = [page.evaluate("window.__stamps") for page in pages]
        finally:
            browser.close()
    return {"roles": roles, "stamps": stamps}


def run(quick: bool) -> Section:
    updates, rate = (20, 20.0) if quick else (300, 20.0)
    if not Path(CHROMIUM).exists() or shutil.which("node") is None:
        row = Row(SECTION, "relay set() → DOM", f"not measured: no {CHROMIUM}", "", "", "", None)
        return Section(SECTION, [row], {"measured": False})
    got = _measure(updates, rate, timeout=60)
    leader, follower = (got["stamps"][i] for i in (0, 1))
    if got["roles"] != [True, False]:
        raise RuntimeError(f"expected tab 1 to hold the stream and tab 2 to follow: {got['roles']}")
    # Update 0 may be the initial value (no stamp): only updates the publisher sent.
    keys = [k for k in leader if k in follower and int(k) >= 1]
    direct = [leader[k][0] - leader[k][1] for k in keys]
    relayed = [follower[k][0] - follower[k][1] for k in keys]
    cost = [follower[k][0] - leader[k][0] for k in keys]
    what = f"{len(keys)} updates at {rate:.0f}/s, 2 tabs"

    def ms(values: list[float], q: float) -> str:
        return f"{percentile(values, q):.2f} ms"

    rows = [
        Row(SECTION, f"{what}: set() → DOM p50, follower tab", ms(relayed, 50),
            f"leader tab {ms(direct, 50)}", "", "", None),
        Row(SECTION, f"{what}: set() → DOM p99, follower tab", ms(relayed, 99),
            f"leader tab {ms(direct, 99)}", "", "", None),
        Row(SECTION, f"{what}: relay cost p50 (follower DOM - leader DOM)", ms(cost, 50),
            "", "", "≤ 1 ms", percentile(cost, 50) <= 1.0),
        Row(SECTION, f"{what}: relay cost p99 (follower DOM - leader DOM)", ms(cost, 99),
            "", "", "", None),
    ]  # fmt: skip
    facts: dict[str, float | int | bool] = {
        "measured": True,
        "updates": updates,
        "leader_seen": sum(1 for k in leader if int(k) >= 1),
        "follower_seen": sum(1 for k in follower if int(k) >= 1),
        "median_cost_ms": median(cost),
    }
    return Section(SECTION, rows, facts)
