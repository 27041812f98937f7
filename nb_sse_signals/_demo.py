"""The ``--demo`` publisher: the seed's counter, and a signal patched by adds and removes."""

from __future__ import annotations

import asyncio
import math
import time

from ._hub import SignalHub

COUNT = "count"
READINGS = "readings"
KEEP = 30


def reading(n: int) -> dict[str, float | int]:
    """A deterministic, plausible sensor reading (a slow wave plus a ripple)."""
    return {
        "n": n,
        "t": round(time.time(), 3),
        "v": round(20 + 3 * math.sin(n / 7) + math.sin(n), 2),
    }


async def run_demo(hub: SignalHub, interval: float = 1.0) -> None:
    """Publish ``count`` = ``{"value": n}`` and a rolling list of readings every ``interval``."""
    hub.declare(COUNT, {"value": 0})
    hub.declare(READINGS, {"unit": "°C", "readings": [reading(0)]})
    n = 0
    while True:
        await asyncio.sleep(interval)
        n += 1
        hub.set(COUNT, {"value": n})
        ops: list[dict[str, object]] = [{"op": "add", "path": "/readings/-", "value": reading(n)}]
        if n >= KEEP:
            ops.insert(0, {"op": "remove", "path": "/readings/0"})
        hub.patch(READINGS, ops)
