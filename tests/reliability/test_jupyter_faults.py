"""``kill -9`` of the Jupyter server mid-stream, then a new one on the same port, token
and root (issue 12, faults): the Python follower and the widget already on the page
resync to the truth.

What "the truth" is after the restart: the new server's hub is empty. Until a kernel
of the new server declares the signal, the hub answers that it has no such signal
(404), so both clients must show ``error`` (the old value may stay on screen, but
never as ``live``). Once a new kernel declares it, both show that kernel's values,
``live``, without a reload: the browser's view is the very one shown before the kill,
retrying on its own. At no point does either show a value no kernel published.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import threading
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # ipykernel needs it; finds the kernels
import pytest
from playwright.sync_api import Browser, Page, expect

from nb_sse_signals._follow import Follower

from ..browser.conftest import browser as browser  # one Chromium per module
from ..browser.lab import (
    needs_chromium,
    notebook_page,
    run_all,
    start_lab,
    write_notebook,
)
from ..conftest import wait_until
from ..jupyter import JupyterServer, Kernel, start_jupyter
from .test_faults import Seen

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

KEY = "faults/jupyter-kill"  # shared: a new kernel declares the very key the views follow
# The first server's kernel publishes {"server": "first", "n": 1, 2, ...} 20 times a
# second until the server dies under it.
FIRST = f"""
import threading, time
from nb_sse_signals import ServerSignal
s = ServerSignal({KEY!r}, {{"server": "first", "n": 0}}, shared=True)
def tick():
    n = 0
    while True:
        n += 1
        s.set({{"server": "first", "n": n}})
        time.sleep(0.05)
threading.Thread(target=tick, daemon=True).start()
"""
SHOW = 's.widget(template="{/server} {/n}")'
SECOND = [{"server": "second", "n": 1000 + i} for i in range(5)]
SECOND_CODE = f"""
import time
from nb_sse_signals import ServerSignal
s = ServerSignal({KEY!r}, {SECOND[0]!r}, shared=True)
for value in {SECOND[1:]!r}:
    time.sleep(0.05)
    s.set(value)
"""


# Marks the view, and records every text it shows from then on.
MARK_AND_RECORD = """(el) => {
    el.dataset.faultMark = 'before-kill';
    const content = el.querySelector('.nb-sse-signals-content');
    window.__faultShown = [content.textContent];
    new MutationObserver(() => window.__faultShown.push(content.textContent)).observe(
        content, { childList: true, characterData: true, subtree: true });
}"""


def published_by_a_kernel(value: Any) -> bool:
    """Whether a kernel of this test ever published ``value``."""
    if value in SECOND:
        return True
    return (
        isinstance(value, dict)
        and value.keys() == {"server", "n"}
        and value["server"] == "first"
        and isinstance(value["n"], int)
        and value["n"] >= 0
    )


def view_state(page: Page) -> dict[str, Any]:
    """The marked view's status (from its class) and text."""
    state = page.evaluate(
        """() => {
            const el = document.querySelector('[data-fault-mark="before-kill"]');
            if (!el) return null;
            const status = [...el.classList].find((c) => c.startsWith('nb-sse-signals-status-'));
            return {
                status: status ? status.slice('nb-sse-signals-status-'.length) : '',
                text: el.querySelector('.nb-sse-signals-content').textContent,
                views: document.querySelectorAll('.nb-sse-signals').length,
            };
        }"""
    )
    assert state is not None, "the view shown before the kill is gone from the page"
    return dict(state)


def run_in_new_kernel(server: JupyterServer, code: str) -> Kernel:
    """Start a kernel on ``server`` and run ``code`` in it, from a thread of its own:
    Playwright's sync API keeps an event loop of its own on this one."""
    result: list[Kernel | BaseException] = []

    async def go() -> None:
        kernel = await Kernel.start(server, timeout=90)
        await kernel.run(code, timeout=60)
        await kernel.disconnect()  # the kernel lives on; it is shut down through the API
        result.append(kernel)

    def main() -> None:
        try:
            asyncio.run(go())
        except BaseException as exc:  # reported below
            result.append(exc)

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    thread.join(150)
    assert result, "the new kernel did not answer in time"
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def kill_all(processes: list[psutil.Process]) -> None:
    """SIGKILL each by its pid; psutil checks first that the pid was not reused."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


@pytest.mark.timeout(420)
def test_kill_9_of_the_jupyter_server_then_a_restart_resyncs_the_follower_and_the_widget(
    browser: Browser, tmp_path: Path
) -> None:
    root = tmp_path / "lab"
    first = start_lab(root)
    second: JupyterServer | None = None
    orphans: list[psutil.Process] = []
    seen = Seen()
    follower: Follower | None = None
    try:
        name = write_notebook(first, "kill9.ipynb", FIRST, SHOW)
        with notebook_page(browser, first, name) as (page, _log):
            run_all(page)
            view = page.locator(".nb-sse-signals").first
            expect(view).to_have_class(re.compile("nb-sse-signals-status-live"), timeout=30_000)
            expect(view).to_contain_text(re.compile(r"first \d+"))
            # The same DOM node must show the new server's values at the end.
            view.evaluate(MARK_AND_RECORD)
            follower = Follower(
                first.url, KEY, seen.value, seen.status, headers=first.headers, timeout=5
            )
            wait_until(
                lambda: seen.statuses[-1:] == ["live"] and (seen.last() or {}).get("n", 0) > 3,
                timeout=30,
                what="the follower to be live, mid-stream",
            )
            # A server killed by SIGKILL cannot stop its kernels: they are orphans
            # (ipykernel's parent poller ends them after a second or so, if it runs).
            # Note them now, and end them at once, before the new server starts.
            orphans = psutil.Process(first.proc.pid).children(recursive=True)
            assert orphans, "the server has no kernel"
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(10)
            kill_all(orphans)
            before_restart = seen.last()

            # Both clients notice: nothing shows "live" while no hub serves the signal.
            wait_until(
                lambda: seen.statuses[-1] in ("stale", "connecting", "error"),
                timeout=30,
                what="the follower to see the server gone",
            )
            expect(view).not_to_have_class(re.compile("nb-sse-signals-status-live"), timeout=30_000)

            (root / "jupyter.log").rename(root / "jupyter-first.log")
            second = start_jupyter(root, port=first.port)

            # The new hub has no such signal: an error, not a frozen "live" (the last
            # value may stay on screen).
            wait_until(
                lambda: seen.statuses[-1] == "error", timeout=60, what="the follower's error"
            )
            expect(view).to_have_class(re.compile("nb-sse-signals-status-error"), timeout=60_000)
            assert seen.last() == before_restart, "no value came from an empty hub"

            kernel = run_in_new_kernel(second, SECOND_CODE)
            wait_until(
                lambda: seen.last() == SECOND[-1] and seen.statuses[-1] == "live",
                timeout=60,
                what=f"the follower to show the new truth; it showed {seen.values[-3:]}",
            )
            assert all(published_by_a_kernel(value) for value, _ in seen.values), seen.values

            expect(view).to_have_text(f"second {SECOND[-1]['n']}", timeout=60_000)
            expect(view).to_have_class(re.compile("nb-sse-signals-status-live"))
            state = view_state(page)
            shown = page.evaluate("window.__faultShown")
            page.screenshot(path="/tmp/nb_sse_signals_jupyter_kill9.png")  # for a human to look at
            allowed = re.compile(r"first \d+|second 100[0-4]")
            assert all(allowed.fullmatch(text) for text in shown), shown
            assert state["views"] == 1, state
            assert state["status"] == "live", state
            del kernel
    finally:
        if follower is not None:
            follower.stop()
        kill_all(orphans)
        for server in (second, first):
            if server is not None:
                server.stop()
