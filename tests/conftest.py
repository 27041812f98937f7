"""Shared fixtures: real servers on loopback, bounded waits, a reference patch applier."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nb_sse_signals._server import Server

CONFORMANCE = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "json-patch"
TOKEN = "test-token"
SECRET = "test-publish-secret"


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


@pytest.fixture
def server() -> Iterator[Server]:
    """A standalone server on 127.0.0.1 in a background thread, stopped after the test."""
    srv = Server(
        port=0, token=TOKEN, publish_secret=SECRET, keepalive=0.5, orphan_grace=0.3
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


def conformance_records() -> list[dict[str, Any]]:
    """Enabled records of the RFC 6902 suite; skips (never passes vacuously) if it is absent."""
    import json

    if not CONFORMANCE.is_dir():
        pytest.skip(f"the JSON Patch conformance suite is not at {CONFORMANCE}")
    records = []
    for name in ("tests.json", "spec_tests.json"):
        for record in json.loads((CONFORMANCE / name).read_text()):
            if "doc" in record and not record.get("disabled"):
                records.append(record)
    assert len(records) > 100, "the conformance suite looks truncated"
    return records
