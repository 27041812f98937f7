"""Issue 12's load run: 1,000 subscribers, 100 updates a second for 60 s, on the
standalone server. Zero loss, and the hub's resident memory flat after the first 10 s.

The same processes as the fan-out benchmark (``bench/fanout.py``): a kernel-like
publisher → the hub (a standalone ``Server`` process) → 1,000 SSE connections in one
client process that checks every client got every revision. The hub's RSS is read
from ``/proc/<pid>/status`` every 2 s while it runs. The baseline is the hub's own
RSS at 10 s, in the same run.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson

from ._procs import Child, children
from ._timing import Row, Section, fmt_ratio

SECTION = "7. Soak"
SIGNAL = "bench/soak"


def _rss_mib(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def run(quick: bool = False) -> Section:
    clients, rate, seconds = (20, 50.0, 4.0) if quick else (1_000, 100.0, 60.0)
    updates = int(rate * seconds)
    timeout = seconds + 120
    samples: list[tuple[float, float]] = []
    with children() as started:
        hub = Child("_hub_proc", SIGNAL, orjson.dumps({"t": 0, "n": 0}).decode())
        started.append(hub)
        port = hub.read(timeout)["port"]
        client = Child("_sse_client", "fanout", str(port), f"signal={SIGNAL}", str(clients),
                       str(updates), str(timeout))  # fmt: skip
        started.append(client)
        client.read(timeout)  # every client has its snapshot
        stop = threading.Event()
        start = time.monotonic()

        def sample() -> None:
            while not stop.wait(2.0 if not quick else 0.5):
                rss = _rss_mib(hub.proc.pid)
                if rss is not None:
                    samples.append((time.monotonic() - start, rss))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started.append(Child("_publish_proc", "signal", str(port), SIGNAL, str(updates),
                             str(int(rate))))  # fmt: skip
        got = client.read(timeout)
        stop.set()
        sampler.join(5)
    warm = 10.0 if not quick else 1.0
    after = [rss for t, rss in samples if t >= warm]
    base = after[0] if after else float("nan")
    peak = max(after) if after else float("nan")
    last = after[-1] if after else float("nan")
    what = f"{clients:,} clients, {rate:.0f} updates/s for {seconds:.0f} s"
    growth = (peak - base) / base if after else float("nan")
    return Section(
        SECTION,
        [
            Row(
                SECTION,
                f"{what}: clients that got every revision",
                f"{got['complete']:,}/{got['clients']:,}",
                f"{updates:,} updates, {got['deliveries']:,} deliveries",
                "",
                "zero loss",
                got["complete"] == got["clients"],
            ),
            Row(
                SECTION,
                f"{what}: hub RSS, peak after {warm:.0f} s (last {last:.1f} MiB)",
                f"{peak:.1f} MiB",
                f"at {warm:.0f} s {base:.1f} MiB",
                fmt_ratio(peak / base) if after else "",
                "flat (≤ 1.1x)",
                bool(after) and growth <= 0.10,
            ),
        ],
        {"samples": len(samples), "rss_base_mib": base, "rss_peak_mib": peak},
    )
