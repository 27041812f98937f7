"""Issue 23's memory per connection: what one more subscriber costs the hub, by what it does.

Three runs, each with a fresh hub (a ``Server`` process) whose one signal has a full
history (1,024 changes of ~4 KiB: its 4 MiB byte budget is what bounds it): 1,000
**idle** subscribers (the baseline: a snapshot, then nothing), 1,000 that **replay**
the whole history from its oldest cursor (each is sent ~4 MiB) and read it, and 1,000
that ask for the same replay and **stop reading** (a 4 KiB receive buffer, never read).
The figure is the hub's RSS growth (``VmRSS``, sampled every 0.1 s; the peak) divided
by the connections; the goal is within 2x of an idle subscriber's. The kernel's socket
buffers (up to a few MiB a connection on loopback, capped by ``tcp_mem`` for all) are
not in RSS: a replay smaller than they are would not show what the hub itself holds.
Before issue 23 each replay was joined into a private copy per connection, and a
reader that stopped kept what the kernel did not take for ever.
"""

from __future__ import annotations

import threading
import time

from ._procs import Child, children
from ._timing import Row, Section, fmt_ratio
from .soak import _rss_mib

SECTION = "10. Memory per connection"


def _phase(mode: str, clients: int, changes: int, size: int, timeout: float) -> dict[str, float]:
    """One hub, ``clients`` connections of ``mode``: RSS before, at peak, and settled (MiB)."""
    with children() as started:
        hub = Child("_memory_proc", str(changes), str(size))
        started.append(hub)
        info = hub.read(timeout)
        time.sleep(1.0)
        before = _rss_mib(hub.proc.pid) or float("nan")
        peak = before
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.wait(0.1):
                rss = _rss_mib(hub.proc.pid)
                if rss is not None:
                    peak = max(peak, rss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        client = Child("_memory_clients", str(info["port"]), mode, str(clients), info["oldest"],
                       info["last"], str(timeout))  # fmt: skip
        started.append(client)
        ready = client.read(timeout)
        time.sleep(2.0)  # what is queued stays queued; what was written is gone
        settled = _rss_mib(hub.proc.pid) or float("nan")
        stop.set()
        sampler.join(5)
    return {
        "before": before,
        "peak": max(peak, settled),
        "settled": settled,
        "ready": float(ready["ready"]),
        "history_bytes": float(info["history_bytes"]),
    }


def run(quick: bool = False) -> Section:
    clients, changes, size = (50, 64, 4096) if quick else (1_000, 1_024, 4096)
    timeout = 120.0 if not quick else 30.0
    idle = _phase("idle", clients, changes, size, timeout)
    replay = _phase("replay", clients, changes, size, timeout)
    stuck = _phase("stuck", clients, changes, size, timeout)

    def per(phase: dict[str, float]) -> float:
        return (phase["peak"] - phase["before"]) * 1024 / phase["ready"]  # KiB per connection

    base = per(idle)
    rows = [
        Row(
            SECTION,
            f"{clients:,} idle subscribers: RSS growth per connection",
            f"{base:.1f} KiB",
            "",
            "",
            "(the baseline)",
            None,
        ),
    ]
    replayed = f"{replay['history_bytes'] / 1024:,.0f} KiB"
    for what, phase in (
        (f"replay the whole history ({replayed}) from its oldest cursor, and read it", replay),
        (f"ask for the same replay and stop reading ({replayed} each)", stuck),
    ):
        ours = per(phase)
        ratio = ours / base if base > 0 else float("nan")
        rows.append(
            Row(
                SECTION,
                f"{clients:,} connections that {what}: RSS growth per connection",
                f"{ours:.1f} KiB",
                f"idle {base:.1f} KiB",
                fmt_ratio(ratio),
                "≤ 2x idle",
                ratio <= 2.0,
            )
        )
    facts = {f"{name}_ready": int(phase["ready"]) for name, phase in
             (("idle", idle), ("replay", replay), ("stuck", stuck))}  # fmt: skip
    return Section(SECTION, rows, {**facts, "clients": clients})
