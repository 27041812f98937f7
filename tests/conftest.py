"""Shared fixtures: real servers on loopback, bounded waits, a reference patch applier."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any

import pytest
from hypothesis import settings

from nb_sse_signals._protocol import EVENTS_PATH
from nb_sse_signals._publisher import Publisher
from nb_sse_signals._server import Server

from .jupyter import JupyterServer, Kernel
from .servers import KINDS, start_server

# Tests assert behaviour, never wall-clock time: Hypothesis's default 200 ms deadline
# per example turns a slow example on a loaded machine (CI shares its cores) into a
# FlakyFailure that says nothing about the code. Every property test runs unbounded
# per example; pytest-timeout still bounds each test as a whole.
settings.register_profile("nb_sse_signals", deadline=None)
settings.load_profile("nb_sse_signals")

TOKEN = "test-token"
SECRET = "test-publish-secret"

# A skip whose reason starts so is a tool scripts/setup.sh installs (Chromium,
# redis-server): a developer without it is told, but CI (CI=true, as .ci/run sets
# it) must have it, so there the skip is a failure. Every such skip says it with
# missing(), and the hooks below are the one place that decides.
MISSING = "missing from this machine:"


def missing(tool: str, how: str) -> str:
    """The skip reason for a missing ``tool`` (``how``: what installs it)."""
    return f"{MISSING} {tool} ({how})"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _fail_in_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not (report.skipped and in_ci()):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    if MISSING in reason:
        report.outcome = "failed"
        report.longrepr = f"CI=true, where a skip would hide a test that never ran: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
    outcome = yield
    _fail_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None]:
    outcome = yield  # a module that skips itself (tests/test_redis.py) is collected so
    _fail_in_ci(outcome.get_result())


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until truthy; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A test marked both_servers runs once per server (the protocol suite).
    if metafunc.definition.get_closest_marker("both_servers") and "kind" in metafunc.fixturenames:
        metafunc.parametrize("kind", KINDS)


@pytest.fixture
def kind() -> str:
    """Which server ``server`` is: Tornado, unless the test is marked ``both_servers``."""
    return "tornado"


@pytest.fixture
def server(kind: str) -> Iterator[Any]:
    """A server on 127.0.0.1 in a background thread, stopped after the test: the
    standalone Tornado ``Server``, or (``kind == "asgi"``) the ASGI app under uvicorn."""
    srv = start_server(kind, token=TOKEN, publish_secret=SECRET, keepalive=0.5, orphan_grace=1.0)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def publisher(server: Server) -> Iterator[Publisher]:
    """A publisher into the ``server`` fixture's hub (in process), shut down after."""
    pub = Publisher.for_hub(server.hub, server.url + EVENTS_PATH, server.token)
    try:
        yield pub
    finally:
        pub.shutdown()


@pytest.fixture
async def kernel(jupyter: JupyterServer) -> AsyncIterator[Kernel]:
    """A real kernel on the test module's own ``jupyter`` fixture (a Jupyter server)."""
    k = await Kernel.start(jupyter)
    try:
        yield k
    finally:
        await k.shutdown()
