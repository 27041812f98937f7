"""JupyterLab in a real Chromium: the server, the browser, a notebook page, and what it logged."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    ViewportSize,
    expect,
    sync_playwright,
)

from ..conftest import missing
from ..jupyter import TOKEN, JupyterServer, start_jupyter

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=missing(
        f"Debian's Chromium at {CHROMIUM}",
        "apt-get install -y chromium; Playwright's own browser download is never used",
    ),
)
# Without the background-networking flags Chromium floods the closed network with
# refused connections (see /work/shared/browser-testing.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
EVENTS_PATH = "nb-sse-signals/events"
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}

# Counts the EventSources the page opens and how many are open at once. Installed
# before any page script runs; the widget's code finds the wrapper on globalThis.
COUNT_EVENT_SOURCES = """
(() => {
  const Native = window.EventSource;
  const stats = { opened: 0, open: 0, maxOpen: 0, urls: [] };
  window.__eventSources = stats;
  class Counted extends Native {
    constructor(url, init) {
      super(url, init);
      this.__open = true;
      stats.opened += 1;
      stats.open += 1;
      stats.maxOpen = Math.max(stats.maxOpen, stats.open);
      stats.urls.push(String(url));
    }
    close() {
      if (this.__open) {
        this.__open = false;
        stats.open -= 1;
      }
      super.close();
    }
  }
  window.EventSource = Counted;
})();
"""


# What JupyterLab itself asks the kernel, whatever the page shows: its debugger's probe
# (`debug_request` on the control channel) and kernel info. Not widget traffic, and seen
# at random in CI (a tab that opens asks the debugger for the kernel's state).
LAB_HOUSEKEEPING = frozenset({"debug_request", "kernel_info_request"})

# Records every frame the page sends on a kernel WebSocket, decoded (JupyterLab 4 speaks
# the binary v1.kernel.websocket.jupyter.org protocol: a count, offsets, then channel,
# header, parent header, metadata, content, buffers): channel, msg_type, and for comm
# messages the content's `data.method` or `data.type`. `window.__kernelFrames.sent` is
# the list; tests clear it to start a window. Installed before any page script.
KERNEL_FRAMES = """
(() => {
  const frames = { sent: [] };
  window.__kernelFrames = frames;
  const decode = (data) => {
    if (typeof data === "string") {
      const msg = JSON.parse(data);
      return [msg.channel, msg.header, msg.content];
    }
    const buffer = data instanceof ArrayBuffer ? data : data.buffer;
    const view = new DataView(buffer);
    const count = Number(view.getBigUint64(0, true));
    const offsets = [];
    for (let i = 0; i < count; i++) offsets.push(Number(view.getBigUint64(8 * (i + 1), true)));
    const text = new TextDecoder();
    const part = (i) => text.decode(buffer.slice(offsets[i], offsets[i + 1]));
    return [part(0), JSON.parse(part(1)), JSON.parse(part(4))];
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    send(data) {
      if (String(this.url).includes("/api/kernels/")) {
        const size = typeof data === "string" ? data.length : (data.byteLength ?? 0);
        try {
          const [channel, header, content] = decode(data);
          // ipywidgets wraps a model.send() as {method: "custom", content: ...}: name
          // such a message by what it carries (our "hello", "snapshot"), not "custom".
          const body = content?.data;
          const method = body?.method === "custom" ? body.content?.type ?? "custom"
            : body?.method ?? body?.type ?? null;
          frames.sent.push({ channel, msg_type: header.msg_type, size, method });
        } catch (error) {
          frames.sent.push({ channel: null, msg_type: "undecoded", size, method: null });
        }
      }
      super.send(data);
    }
  };
})();
"""


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium through Playwright's sync API, closed after. For module-scoped
    fixtures: the sync API runs its own event loop, which must be gone before the next
    module's asyncio tests start theirs."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


def start_lab(
    root: Path,
    base_url: str = "/",
    app: str = "lab",
    *,
    extension: bool = True,
    port: int = 0,
    **options: Any,
) -> JupyterServer:
    """JupyterLab (or ``app="notebook"``, Notebook 7) with the extension (unless not
    ``extension``), the notebooks in its root, and no news toast; on ``port`` if given.
    ``options``: more of :func:`start_jupyter`'s (``python``, ``env``)."""
    settings = root / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    # The "Jupyter news?" toast would cover the page.
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    shutil.rmtree(root / "workspaces", ignore_errors=True)  # else old tabs come back
    contents = root / "notebooks"
    contents.mkdir(parents=True, exist_ok=True)
    for path in NOTEBOOKS.iterdir():
        if path.suffix in (".ipynb", ".py", ".js"):
            shutil.copy(path, contents / path.name)
    return start_jupyter(
        root, base_url=base_url, app=app, extension=extension, port=port, **options
    )


@dataclass
class PageLog:
    """What a page reported: console errors, uncaught exceptions, event-stream requests."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # console.warn of this package
    event_requests: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("request", self._request)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console.error: {message.text} ({message.location})")
        elif message.type == "warning" and "[nb_sse_signals]" in message.text:
            self.warnings.append(message.text)

    def _request(self, request: Request) -> None:
        if EVENTS_PATH in request.url:
            self.event_requests.append(request.url)


def write_notebook(lab: JupyterServer, name: str, *cells: str) -> str:
    """A notebook of code cells in the server's root (python3, so no kernel picker)."""
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in cells],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(notebook, lab.root / "notebooks" / name)
    return name


def shutdown_kernels(lab: JupyterServer, timeout: float = 10) -> None:
    """A notebook's kernel outlives its page; end it, so threads of one test never load the next."""
    with httpx.Client(base_url=lab.url, headers=lab.headers, timeout=timeout) as client:
        for kernel in client.get("api/kernels").json():
            client.delete(f"api/kernels/{kernel['id']}")


def new_page(context: BrowserContext) -> tuple[Page, PageLog]:
    """A new page of ``context``, its :class:`PageLog` listening from the first request."""
    page = context.new_page()
    log = PageLog()
    log.attach(page)
    return page, log


def only_reach(context: BrowserContext, prefix: str) -> None:
    """Abort every request of ``context`` but those to ``prefix``: a browser that reaches
    nothing but one server (the kernel's on another machine, behind a proxy)."""
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(prefix) else route.abort(),
    )


@contextmanager
def fresh_page(
    browser: Browser, *, only: str | None = None, **options: Any
) -> Iterator[tuple[Page, PageLog]]:
    """A page in a context of its own (its own EventSource pool), closed after;
    ``only``: see :func:`only_reach`; ``options``: ``Browser.new_context``'s."""
    context = browser.new_context(**options)
    if only is not None:
        only_reach(context, only)
    try:
        yield new_page(context)
    finally:
        context.close()


def wait_for_kernel_idle(page: Page, timeout: float = 60) -> None:
    """Until JupyterLab's status bar says the notebook's kernel is idle. The execution
    indicator says idle before a kernel exists; the status bar names the kernel only
    once it runs (see browser-testing.md)."""
    expect(page.locator("#jp-main-statusbar")).to_contain_text(
        "(ipykernel) | Idle", timeout=timeout * 1000
    )


@contextmanager
def _lab_tab(
    browser: Browser, url: str, init_script: str, only: str | None = None
) -> Iterator[tuple[Page, PageLog]]:
    """A page of a context of its own at ``url`` (a notebook in JupyterLab), with the
    EventSource counter and ``init_script``, once the kernel is idle; closed after."""
    with fresh_page(browser, only=only, viewport=VIEWPORT) as (page, log):
        page.set_default_timeout(30_000)
        page.add_init_script(COUNT_EVENT_SOURCES)
        if init_script:
            page.add_init_script(init_script)
        page.goto(url)
        wait_for_kernel_idle(page)
        yield page, log


@contextmanager
def notebook_page(
    browser: Browser,
    lab: JupyterServer,
    name: str,
    init_script: str = "",
    *,
    only_jupyter: bool = False,
) -> Iterator[tuple[Page, PageLog]]:
    """A fresh page (its own EventSource pool) showing notebook ``name``, kernel idle.

    ``init_script`` runs before any page script, after the EventSource counter.
    ``only_jupyter``: the browser reaches nothing but the Jupyter server's own port,
    as when the kernel runs on another machine (every other request is aborted).
    """
    # JupyterLab saves the open tabs in the server's workspace and restores them on
    # the next load: an earlier test's notebook would come back, and take "Run All".
    shutil.rmtree(lab.root / "workspaces", ignore_errors=True)
    (lab.root / "workspaces").mkdir()
    only = f"http://127.0.0.1:{lab.port}/" if only_jupyter else None
    try:
        url = f"{lab.url}lab/tree/{name}?token={TOKEN}"
        with _lab_tab(browser, url, init_script, only) as page_and_log:
            yield page_and_log
    finally:
        shutdown_kernels(lab)


@contextmanager
def another_tab(
    browser: Browser, lab: JupyterServer, name: str, init_script: str = ""
) -> Iterator[tuple[Page, PageLog]]:
    """One more page showing notebook ``name`` of a :func:`notebook_page` that is still
    open: its own JupyterLab workspace (so the tabs do not restore each other), the same
    kernel, widget views restored from it (save the notebook first). Its kernel is left
    to the first page's teardown."""
    url = f"{lab.url}lab/workspaces/another/tree/{name}?token={TOKEN}"
    with _lab_tab(browser, url, init_script) as page_and_log:
        yield page_and_log


def save_notebook(page: Page, timeout: float = 30) -> Response:
    """Ctrl+S, until the server has the file (a page opened later restores its views);
    returns the server's answer to the save."""
    with page.expect_response(
        lambda r: r.request.method == "PUT" and "/api/contents/" in r.url, timeout=timeout * 1000
    ) as saved:
        page.keyboard.press("Control+s")
    return saved.value


def run_all(page: Page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def wait_for_all_cells(page: Page, timeout: float = 60) -> None:
    """Until every code cell has run: no prompt is empty or busy."""
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll(
                '.jp-CodeCell .jp-InputArea-prompt')].map((p) => p.textContent.trim());
            return prompts.length > 0 && prompts.every((p) => /^\\[\\d+\\]:$/.test(p));
        }""",
        timeout=timeout * 1000,
    )


def event_sources(page: Page) -> dict[str, Any]:
    return dict(page.evaluate("window.__eventSources"))
