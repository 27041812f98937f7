"""Goal 4: 1,000 subscribers at 20 updates/s: loss and latency, beside a bare Tornado loop.

Ours: the kernel path in a process of its own (``Publisher.connect`` and
``ServerSignal.set({"t": time.time(), "n": i})``) → the hub (a standalone ``Server`` in
its own process) → 1,000 SSE connections held by one client process. Latency runs
from the publisher's ``time.time()`` to the client's receipt, so it includes the diff,
the publisher thread, the WebSocket and the hub. The bare loop stamps ``t`` as it
writes, so its latency is the fan-out write loop alone.

The same hub is also served by the ASGI app under uvicorn (``asgi_app``), in the same
run: its rows are read against the Tornado server's, with the hub process's CPU time
per delivery (user + system, from /proc) as the steadiest measure of cost on a shared
machine, shown as deliveries per CPU second so that, as in every row, a ratio of
ours ÷ the baseline's above 1 is better (the goal: at least 0.8x of Tornado's).
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from ._procs import Child, children
from ._timing import Row, Section, fmt_rate, fmt_ratio, median, percentile

SECTION = "4. Fan-out"
_UNDER_A_TICK = "under one clock tick of CPU"
SIGNAL = "bench/fan"


def _collect(client: Child, timeout: float) -> dict[str, Any]:
    # A loss is a result to report, not a crash: the row says how many clients missed.
    got: dict[str, Any] = client.read(timeout)
    return got


def _client(port: int, query: str, clients: int, updates: int, timeout: float) -> Child:
    args = (str(port), query, str(clients), str(updates), str(timeout))
    return Child("_sse_client", "fanout", *args)


def _ours(
    clients: int, updates: int, rate: float, timeout: float, asgi: bool = False
) -> dict[str, Any]:
    with children() as started:
        initial = orjson.dumps({"t": 0, "n": 0}).decode()
        hub = Child("_hub_proc", SIGNAL, initial, *(["--asgi"] if asgi else []))
        started.append(hub)
        port = hub.read(timeout)["port"]
        client = _client(port, f"signal={SIGNAL}", clients, updates, timeout)
        started.append(client)
        client.read(timeout)  # every client has its snapshot
        cpu = hub.cpu_seconds()
        args = (str(port), SIGNAL, str(updates), str(int(rate)))
        started.append(Child("_publish_proc", "signal", *args))
        got = _collect(client, timeout)
        got["hub_cpu"] = hub.cpu_seconds() - cpu
        return got


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
    load = os.getloadavg()  # a shared machine: the reader weighs the timings by it
    results = []
    served = []  # (Tornado server, ASGI app under uvicorn), the same rounds
    for _ in range(rounds):
        results.append(
            (_ours(clients, updates, rate, timeout), _bare(clients, updates, rate, timeout))
        )
        served.append(results[-1][0])
        served.append(_ours(clients, updates, rate, timeout, asgi=True))
    tornado, asgi = served[0::2], served[1::2]
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
    a99 = median([_ms(a["latencies"], 99) for a in asgi])
    t_cpu = median([t["hub_cpu"] / max(1, t["deliveries"]) for t in tornado])
    a_cpu = median([a["hub_cpu"] / max(1, a["deliveries"]) for a in asgi])
    # Read as efficiency, deliveries per CPU second: higher is better, and the ratio is
    # ours ÷ the baseline's as in every other row (Tornado's CPU ÷ the ASGI app's).
    # /proc counts CPU in clock ticks (10 ms): a quick run can use less than one, and
    # then there is no figure to give, not a division by zero.
    measured = t_cpu > 0 and a_cpu > 0
    efficiency = t_cpu / a_cpu if measured else float("nan")
    a_complete = min(a["complete"] for a in asgi)
    rows += [
        Row(
            SECTION,
            f"ASGI app under uvicorn, {what}: clients that got every revision",
            f"{a_complete:,}/{asgi[0]['clients']:,}",
            f"Tornado server {ours['complete']:,}/{ours['clients']:,}",
            "",
            "zero loss",
            a_complete == asgi[0]["clients"],
        ),
        Row(
            SECTION,
            f"ASGI app under uvicorn, {what}: deliveries per second of hub CPU (higher is "
            "better; CPU per delivery in brackets)",
            f"{fmt_rate(1 / a_cpu)} ({a_cpu * 1e6:.1f} µs)" if measured else _UNDER_A_TICK,
            f"Tornado server {fmt_rate(1 / t_cpu)} ({t_cpu * 1e6:.1f} µs)"
            if measured
            else f"Tornado server {_UNDER_A_TICK}",
            fmt_ratio(efficiency) if measured else "",
            "≥ 0.8x of Tornado's",
            efficiency >= 0.8 if measured else None,
        ),
        Row(
            SECTION,
            f"ASGI app under uvicorn, {what}: latency p99, publish → receipt",
            f"{a99:.1f} ms",
            f"Tornado server {p99:.1f} ms",
            fmt_ratio(a99 / p99),
            "",
            None,
        ),
        Row(
            SECTION,
            "the machine's load average (1 min) at the start and end of these rounds",
            f"{load[0]:.1f} → {os.getloadavg()[0]:.1f}",
            "",
            "",
            "",
            None,
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
        "asgi_complete": a_complete,
        "asgi_deliveries": min(a["deliveries"] for a in asgi),
        "asgi_cpu_us_per_delivery": a_cpu * 1e6,
        "tornado_cpu_us_per_delivery": t_cpu * 1e6,
        "asgi_efficiency_vs_tornado": efficiency,
    }
    return Section(SECTION, rows, facts)
