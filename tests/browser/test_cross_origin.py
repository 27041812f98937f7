"""A page on another origin follows a standalone server's signal, as a notebook does when a
kernel outside Jupyter falls back to its own server (another port, so another origin)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from importlib import resources

import pytest
from playwright.sync_api import Browser, expect
from tornado import httpserver, web
from tornado.netutil import bind_sockets

from nb_sse_signals._server import Server

from ..conftest import TOKEN
from .lab import fresh_page, needs_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>another origin</title>
<link rel="icon" href="data:,">
<div id="count"></div>
<script type="module">
  import { show } from "/client.js";
  show(document.getElementById("count"), "%(base)s", "count", {
    token: "%(token)s", template: "count = {value}",
  });
</script>
"""


class _Page(web.RequestHandler):
    def initialize(self, base: str) -> None:
        self.base = base

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(PAGE % {"base": self.base, "token": TOKEN})


class _Client(web.RequestHandler):
    def get(self) -> None:
        # The client bundle from our own origin: the page fetches only the stream and
        # snapshots from the signal server (a widget carries its code in its state).
        bundle = resources.files("nb_sse_signals").joinpath("static", "client.js").read_bytes()
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.finish(bundle)


@pytest.fixture
def other_origin(server: Server) -> Iterator[str]:
    """A page server on another port of 127.0.0.1, in its own thread, stopped after."""
    app = web.Application([(r"/", _Page, {"base": server.url}), (r"/client.js", _Client)])
    [sock] = bind_sockets(0, "127.0.0.1")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    http: list[httpserver.HTTPServer] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        http.append(httpserver.HTTPServer(app))
        http[0].add_sockets([sock])
        loop.call_soon(ready.set)
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5), "the page server did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:

        async def stop() -> None:
            # The browser's keep-alive connections too: left to a closed loop, their
            # sockets would reach the garbage collector (a ResourceWarning, an error here).
            http[0].stop()
            await http[0].close_all_connections()

        try:
            asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()


def test_a_page_on_another_origin_follows_the_signal_with_the_token(
    browser: Browser, server: Server, other_origin: str
) -> None:
    assert other_origin.split(":")[2] != server.url.split(":")[2], "the origins must differ"
    server.hub.declare("count", 0)
    with fresh_page(browser) as (page, page_log):
        page.goto(other_origin, timeout=20_000)
        count = page.locator("#count")
        expect(count).to_have_text("count = 0", timeout=10_000)
        for n in range(1, 4):
            server.hub.set("count", n)
            expect(count).to_have_text(f"count = {n}", timeout=5_000)
    assert len(page_log.event_requests) == 1, page_log.event_requests
    assert page_log.event_requests[0].startswith(server.url), "the stream is the server's"
    assert page_log.errors == [], "\n".join(page_log.errors)
