"""A canary: a subscriber that must keep receiving while each test attacks the server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import connect_sse

from nb_sse_signals._protocol import parse_change
from nb_sse_signals._server import Server

from ..conftest import TOKEN, wait_until


class Canary:
    """Follows signal ``canary`` in a thread; ``revs`` grows as changes arrive."""

    def __init__(self, server: Server) -> None:
        server.hub.declare("canary", 0)
        self.server = server
        self.revs: list[int] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        wait_until(
            lambda: server.hub.subscriber_count("canary") == 1 or self.error is not None,
            what="the canary to subscribe",
        )

    def _run(self) -> None:
        try:
            with (
                httpx.Client(timeout=30) as client,
                connect_sse(
                    client,
                    "GET",
                    self.server.url + "nb-sse-signals/events",
                    params={"signal": "canary"},
                    headers={"Authorization": f"token {TOKEN}"},
                ) as source,
            ):
                for event in source.iter_sse():
                    if self._stop.is_set():
                        return
                    if event.data:
                        self.revs.append(parse_change(event.data).rev)
        except BaseException as exc:  # reported by alive()
            if not self._stop.is_set():
                self.error = exc

    def alive(self) -> bool:
        """Publish one more change and see it arrive (a bounded wait)."""
        before = len(self.revs)
        rev = self.server.hub.set("canary", before + 1000)
        deadline = threading.Event()
        for _ in range(100):
            if self.revs and self.revs[-1] >= rev:
                return True
            deadline.wait(0.05)
        return self.error is None and len(self.revs) > before

    def stop(self) -> None:
        self._stop.set()
        self.server.hub.set("canary", -1)  # wakes the reader so it sees the stop
        self._thread.join(5)


@pytest.fixture
def canary(server: Server) -> Iterator[Canary]:
    c = Canary(server)
    try:
        yield c
    finally:
        c.stop()
