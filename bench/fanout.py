"""Goal 4: 1,000 subscribers at 20 updates/s: loss and latency, beside a bare Tornado loop.

Ours: the kernel path in a process of its own (``Publisher.connect`` and
``ServerSignal.set({"t": time.time(), "n": i})``) → the hub (a standalone ``Server`` in
its own process) → 1,000 SSE connections held by one client process. Latency runs
from the publisher's ``time.time()`` to the client's receipt, so it includes the diff,
the publisher thread, the WebSocket and the hub. The bare loop stamps ``t`` as it
writes, so its latency is the fan-out write loop alone.
"""

from __future__ import annotations

from typing import Any

import orjson

from ._procs import Child, children
from ._timing import Row, Section, fmt_ratio, median, percentile

SECTION = "4. Fan-out"
SIGNAL = "bench/fan"


def _collect(client: Child, timeout: float) -> dict[str, Any]:
    # A loss is a result to report, not a crash: the row says how many clients missed.
    got: dict[str, Any] = client.read(timeout)
    return got


def _client(port: int, query: str, clients: int, updates: int, timeout: float) -> Child:
    args = (str(port), query, str(clients), str(updates), str(timeout))
    return Child("_sse_client", "fanout", *args)


def _ours(clients: int, updates: int, rate: float, timeout: float) -> dict[str, Any]:
    with children() as started:
        hub = Child("_hub_proc", SIGNAL, orjson.dumps({"t": 0, "n": 0}).decode())
        started.append(hub)
        port = hub.read(timeout)["port"]
        client = _client(port, f"signal={SIGNAL}", clients, updates, timeout)
        started.append(client)
        client.read(timeout)  # every client has its snapshot
        args = (str(port), SIGNAL, str(updates), str(int(rate)))
        started.append(Child("_publish_proc", "signal", *args))
        return _collect(client, timeout)


def _bare(clients: int, updates: int, rate: float, timeout: float) -> dict[str, Any]:
    with children() as started:
        server = Child("_bare", "fanout", str(updates), str(rate))
        started.append(server)
        port = server.read(timeout)["port"]
        client = _client(port, "signal=x", clients, updates, timeout)
        started.append(client)
        client.read(timeout)
        server.send("go")
        return _collect(client, timeout)


def _ms(values: list[float], q: float) -> float:
    return percentile(values, q) * 1e3


def run(quick: bool = False) -> Section:
    clients, updates, rate = (20, 10, 20.0) if quick else (1_000, 200, 20.0)
    # Three alternating rounds, medians of their percentiles: one round's tail swings
    # with whatever else this shared machine runs in those ten seconds.
    rounds = 1 if quick else 3
    timeout = updates / rate + 60
    results = [
        (_ours(clients, updates, rate, timeout), _bare(clients, updates, rate, timeout))
        for _ in range(rounds)
    ]
    ours = {
        "complete": min(o["complete"] for o, _ in results),
        "clients": results[0][0]["clients"],
        "deliveries": min(o["deliveries"] for o, _ in results),
    }
    bare = {
        "complete": min(b["complete"] for _, b in results),
        "clients": results[0][1]["clients"],
        "deliveries": min(b["deliveries"] for _, b in results),
    }
    p50 = median([_ms(o["latencies"], 50) for o, _ in results])
    p99 = median([_ms(o["latencies"], 99) for o, _ in results])
    b50 = median([_ms(b["latencies"], 50) for _, b in results])
    b99 = median([_ms(b["latencies"], 99) for _, b in results])
    lo = [x for o, _ in results for x in o["latencies"]]
    bl = [x for _, b in results for x in b["latencies"]]
    what = f"{clients:,} clients, {updates} updates at {rate:.0f}/s"
    if rounds > 1:
        what += f", median of {rounds} rounds"
    rows = [
        Row(
            SECTION,
            f"{what}: clients that got every revision",
            f"{ours['complete']:,}/{ours['clients']:,}",
            f"bare Tornado {bare['complete']:,}/{bare['clients']:,}",
            "",
            "zero loss",
            ours["complete"] == ours["clients"],
        ),
        Row(
            SECTION,
            f"{what}: latency p50, publish → receipt",
            f"{p50:.1f} ms",
            f"bare Tornado {b50:.1f} ms",
            fmt_ratio(p50 / b50),
            "",
            None,
        ),
        Row(
            SECTION,
            f"{what}: latency p99, publish → receipt",
            f"{p99:.1f} ms",
            f"bare Tornado {b99:.1f} ms",
            fmt_ratio(p99 / b99),
            "≤ 25 ms",
            p99 <= 25,
        ),
    ]
    facts: dict[str, float | int | bool] = {
        "clients": clients,
        "updates": updates,
        "ours_complete": ours["complete"],
        "bare_complete": bare["complete"],
        "ours_deliveries": ours["deliveries"],
        "bare_deliveries": bare["deliveries"],
        "ours_samples": len(lo),
        "bare_samples": len(bl),
    }
    return Section(SECTION, rows, facts)
