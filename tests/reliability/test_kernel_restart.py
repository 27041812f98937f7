"""A kernel restart in a real Jupyter server with the extension (issue 12, "clean stops"):
a follower of the kernel's signal shows ``stale`` from the moment the old kernel's
connection drops, not ``closed``, for as long as the restarted kernel has not run its
cell again, then ``live``; and ``closed`` once the kernel is shut down."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from nb_sse_signals._follow import Follower

from ..jupyter import JupyterServer, Kernel, start_jupyter

GRACE = 1.0  # the extension's orphan_grace here: short, so "kept past it" is quick to see
CELL = "from nb_sse_signals import ServerSignal\ns = ServerSignal('count', {'n': 5})\nprint(s.key)"


class Seen:
    """What the follower showed, in order, from its thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: list[tuple[Any, int]] = []
        self.statuses: list[str] = []

    def value(self, value: Any, rev: int) -> None:
        with self.lock:
            self.values.append((json.loads(json.dumps(value)), rev))

    def status(self, status: str) -> None:
        with self.lock:
            self.statuses.append(status)

    @property
    def now(self) -> str:
        with self.lock:
            return self.statuses[-1] if self.statuses else ""


async def until(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    """Poll without blocking the loop (the kernel's channels are read on it)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    server = start_jupyter(
        tmp_path_factory.mktemp("restart"), args=[f"--SignalsExtension.orphan_grace={GRACE}"]
    )
    try:
        yield server
    finally:
        server.stop()


def snapshot(jupyter: JupyterServer, key: str) -> httpx.Response:
    return httpx.get(
        jupyter.url + "nb-sse-signals/snapshot",
        params={"signal": key},
        headers=jupyter.headers,
        timeout=5,
    )


@pytest.mark.timeout(240)
async def test_a_kernel_restart_shows_stale_then_live_and_closes_only_once_the_kernel_is_gone(
    jupyter: JupyterServer, kernel: Kernel
) -> None:
    key = (await kernel.run(CELL)).strip()
    await until(lambda: snapshot(jupyter, key).status_code == 200, "the kernel to declare it")
    seen = Seen()
    follower = Follower(jupyter.url, key, seen.value, seen.status, headers=jupyter.headers)
    try:
        await until(lambda: seen.now == "live" and seen.values, "the follower to be live")
        assert seen.values[-1] == ({"n": 5}, 0)

        await kernel.restart()  # the old kernel's connection drops; the id stays
        await until(lambda: seen.now == "stale", "stale after the restart")
        await asyncio.sleep(3 * GRACE)  # well past the grace: a kernel that lives is kept
        assert seen.now == "stale", seen.statuses
        assert "closed" not in seen.statuses
        fetched = snapshot(jupyter, key).json()[0]
        assert fetched["stale"] is True, "the snapshot endpoint says so too"
        assert fetched["patch"][0]["value"] == {"n": 5}, "the last value stays"

        # The restarted kernel runs its cell again, with the very same value.
        assert (await kernel.run(CELL)).strip() == key, "a restarted kernel keeps its keys"
        await until(lambda: seen.now == "live", "live once the cell ran again")
        assert seen.values[-1] == ({"n": 5}, 1), "a whole-value replace at the next revision"
        assert "stale" not in snapshot(jupyter, key).json()[0]

        # Shut down for good: stale, then closed after the grace.
        await kernel.shutdown()
        await until(lambda: seen.now == "closed", "closed once the kernel is gone")
    finally:
        follower.stop()
    # The follower's own stream never dropped (the Jupyter server stayed up): these are
    # the hub's per-signal events, in order.
    assert seen.statuses == ["connecting", "live", "stale", "live", "stale", "closed"]
    assert all(value == {"n": 5} for value, _ in seen.values), seen.values
