"""Goal 6: fan-out over hub processes that share signals through Redis, beside one hub alone.

The same workload as 4. Fan-out (the kernel path, ``ServerSignal.set({"t", "n"})``
in a publisher process, into hub A's publish WebSocket), with the subscribers split
over one or two hub processes (``_hub_proc``, with ``--redis`` semantics when a URL is
given) and one client process per hub. With Redis, hub A commits each change through
the Lua script and both hubs apply it from the stream, so latency includes Redis.

Measured: clients that got every revision, delivered events/s (deliveries over the
span from the first to the last receipt), p50/p99 publish → receipt, each hub's CPU
time (``/proc/<pid>/stat``) per delivered event, and Redis's own cost per change
(``INFO commandstats`` and the network byte counters, read before and after).
Skips with a row saying why when ``redis-server`` or the ``redis`` package is missing.

``NB_SSE_SIGNALS_BENCH_BACKPLANE=commit`` (or ``fanout``) runs only the commit-rate rows
(or only the fan-out rows); both by default.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from . import _redis_server
from ._procs import TOKEN, Child, children
from ._timing import Row, Section, fmt_ratio, median, percentile

SECTION = "8. Backplane"
SIGNAL = "bench/bp"
TICKS = os.sysconf("SC_CLK_TCK")
ALL_PARTS = ("commit", "fanout")
PARTS = os.environ.get("NB_SSE_SIGNALS_BENCH_BACKPLANE", ",".join(ALL_PARTS)).split(",")


def _cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _redis_counters(url: str) -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        stats: dict[str, Any] = client.info("commandstats")
        net: dict[str, Any] = client.info("stats")
    finally:
        client.close()
    out = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}
    out["bytes_in"] = int(net["total_net_input_bytes"])
    out["bytes_out"] = int(net["total_net_output_bytes"])
    return out


def _run(
    clients: int, hubs: int, redis_url: str | None, updates: int, rate: float, timeout: float
) -> dict[str, Any]:
    initial = orjson.dumps({"t": 0, "n": 0}).decode()
    with children() as started:
        hub_procs, ports = [], []
        for _ in range(hubs):
            hub = Child("_hub_proc", SIGNAL, initial, *([redis_url] if redis_url else []))
            started.append(hub)
            hub_procs.append(hub)
            ports.append(hub.read(timeout)["port"])
        shares = [clients // hubs + (1 if i < clients % hubs else 0) for i in range(hubs)]
        readers = []
        for port, share in zip(ports, shares, strict=True):
            args = (str(port), f"signal={SIGNAL}", str(share), str(updates), str(timeout))
            reader = Child("_sse_client", "fanout", *args)
            started.append(reader)
            readers.append(reader)
        for reader in readers:
            reader.read(timeout)  # every client has its snapshot
        cpu_before = [_cpu(h.proc.pid) for h in hub_procs]
        counters_before = _redis_counters(redis_url) if redis_url else {}
        publish = (str(ports[0]), SIGNAL, str(updates), str(int(rate)))
        publisher = Child("_publish_proc", "signal", *publish)
        started.append(publisher)
        results = [reader.read(timeout) for reader in readers]
        cpu = [_cpu(h.proc.pid) - b for h, b in zip(hub_procs, cpu_before, strict=True)]
        # The publisher leaves, and its hub tells the others its signal is orphaned (one
        # script more): counted always, never depending on who comes first.
        publisher.read(timeout)
        publisher.proc.wait(timeout)
        _until_orphaned(ports[-1], timeout)
        counters_after = _redis_counters(redis_url) if redis_url else {}
    redis_cost = {
        key: value - counters_before.get(key, 0)
        for key, value in counters_after.items()
        if value != counters_before.get(key, 0)
    }
    if redis_url:
        redis_cost["info"] = redis_cost.get("info", 0) - 2  # our own two INFO calls after
    deliveries = sum(r["deliveries"] for r in results)
    span = max(r["span"] for r in results)
    return {
        "clients": sum(r["clients"] for r in results),
        "complete": sum(r["complete"] for r in results),
        "deliveries": deliveries,
        "rate": deliveries / span if span else 0.0,
        "latencies": sorted(x for r in results for x in r["latencies"]),
        "cpu": sum(cpu),
        "cpu_per_delivery": sum(cpu) / deliveries if deliveries else 0.0,
        "redis": redis_cost,
        "updates": updates,
    }


def _commit_rate(redis_url: str | None, count: int, timeout: float) -> float:
    """Changes a hub commits per second: ``count`` small patches, 100 per frame, one
    frame in flight (as the kernel's publisher sends), from the first send to the last
    reply; through Redis (``redis_url``) or alone."""
    with children() as started:
        extra = [redis_url] if redis_url else []
        hub = Child("_hub_proc", SIGNAL, orjson.dumps({"n": 0}).decode(), *extra)
        started.append(hub)
        port = hub.read(timeout)["port"]
        publisher = Child("_publish_proc", "ws", str(port), SIGNAL, str(count), "100", "1")
        started.append(publisher)
        sent = publisher.read(timeout)
    if sent["failures"]:
        raise AssertionError(f"the hub rejected {sent['failures']} of {count} patches")
    return count / float(sent["seconds"])


def _commit_rows(url: str, quick: bool) -> tuple[list[Row], dict[str, float | int | bool]]:
    count, rounds = (400, 1) if quick else (4_000, 9)
    alone, shared = [], []
    for _ in range(rounds):  # interleaved: the machine's load falls on both alike
        alone.append(_commit_rate(None, count, 60))
        shared.append(_commit_rate(url, count, 60))
    a, r = median(alone), median(shared)
    ratio = r / a if a else 0.0
    what = f"{count:,} small patches, 100 per frame" + (
        f", median of {rounds} rounds" if rounds > 1 else ""
    )
    row = Row(
        SECTION,
        f"Changes committed per second by a hub through Redis vs alone ({what})",
        f"{r:,.0f}/s",
        f"alone {a:,.0f}/s",
        fmt_ratio(ratio),
        "≥ 0.5x",
        None if quick else ratio >= 0.5,
    )
    return [row], {"commit_rate_redis": r, "commit_rate_alone": a, "commit_ratio": ratio}


def _until_orphaned(port: int, timeout: float) -> None:
    """Until the hub on ``port`` says the signal is orphaned (its snapshot's ``"stale"``
    flag; asked over HTTP, which costs Redis nothing)."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/nb-sse-signals/snapshot?signal={SIGNAL}"
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(url, headers={"Authorization": f"token {TOKEN}"}, timeout=5)
        except httpx.TimeoutException:
            continue  # a hub still writing to 10,000 sockets on a loaded machine: ask again
        if reply.is_success and reply.json()[0].get("stale"):
            return
        time.sleep(0.05)
    raise TimeoutError(f"the hub on port {port} did not show {SIGNAL} orphaned in {timeout} s")


def _label(clients: int, hubs: int, redis: bool) -> str:
    return (
        f"{clients:,} clients on {hubs} hub{'s' if hubs > 1 else ''}{' + Redis' if redis else ''}"
    )


def _merge(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Alternating rounds on a shared machine: the worst loss, medians of the rest."""
    lat = [r["latencies"] for r in rounds if r["latencies"]]
    return {
        "clients": rounds[0]["clients"],
        "complete": min(r["complete"] for r in rounds),
        "rate": median([r["rate"] for r in rounds]),
        "p50": median([percentile(x, 50) for x in lat]) if lat else 0.0,
        "p99": median([percentile(x, 99) for x in lat]) if lat else 0.0,
        "cpu_per_delivery": median([r["cpu_per_delivery"] for r in rounds]),
        "redis": rounds[-1]["redis"],
        "rounds": len(rounds),
    }


def _latency(result: dict[str, Any]) -> str:
    return f"p50 {result['p50'] * 1e3:.1f} ms, p99 {result['p99'] * 1e3:.1f} ms"


def _skip(reason: str) -> Section:
    return Section(SECTION, [Row(SECTION, "Redis backplane", "skipped", reason, "", "", None)], {})


def run(quick: bool = False) -> Section:
    if not _redis_server.available():
        return _skip("redis-server is not installed (scripts/setup.sh installs it)")
    try:
        import redis  # noqa: F401  (the backplane's optional dependency)
    except ImportError:
        return _skip("the redis package is missing: pip install 'nb_sse_signals[redis]'")
    # (clients, updates, rate): 10,000 clients take ~0.3 s per update on one hub here.
    # (clients, updates, rate, rounds)
    sizes = [(20, 10, 20.0, 1)] if quick else [(1_000, 100, 20.0, 3), (10_000, 20, 2.0, 1)]
    if "fanout" not in PARTS:
        sizes = []
    rows: list[Row] = []
    facts: dict[str, float | int | bool] = {}
    with tempfile.TemporaryDirectory(prefix="nb-sse-bench-redis-") as tmp:
        server = _redis_server.RedisServer(Path(tmp)).start()
        try:
            for clients, updates, rate, rounds in sizes:
                timeout = updates / rate + (300 if clients > 5_000 else 60)
                runs: list[list[dict[str, Any]]] = [[], [], []]
                for _ in range(rounds):
                    runs[0].append(_run(clients, 1, None, updates, rate, timeout))
                    runs[1].append(_run(clients, 1, server.url, updates, rate, timeout))
                    runs[2].append(_run(clients, 2, server.url, updates, rate, timeout))
                alone, one, two = (_merge(r) for r in runs)
                rows += _rows(clients, updates, rate, alone, one, two, quick)
                tag = f"{clients}"
                facts |= {
                    f"alone_complete_{tag}": alone["complete"],
                    f"one_complete_{tag}": one["complete"],
                    f"two_complete_{tag}": two["complete"],
                    f"clients_{tag}": clients,
                    f"cpu_ratio_{tag}": one["cpu_per_delivery"] / alone["cpu_per_delivery"]
                    if alone["cpu_per_delivery"]
                    else 0.0,
                    f"script_calls_{tag}": two["redis"].get("evalsha", 0),
                    f"updates_{tag}": updates,
                }
            if "commit" in PARTS:
                commit_rows, commit_facts = _commit_rows(server.url, quick)
                rows = commit_rows + rows
                facts |= commit_facts
        finally:
            server.stop()
    return Section(SECTION, rows, facts)


def _rows(
    clients: int,
    updates: int,
    rate: float,
    alone: dict[str, Any],
    one: dict[str, Any],
    two: dict[str, Any],
    quick: bool,
) -> list[Row]:
    what = f"{updates} updates at {rate:g}/s"
    if alone["rounds"] > 1:
        what += f", median of {alone['rounds']} rounds"
    rows = []
    for result, hubs, redis in ((alone, 1, False), (one, 1, True), (two, 2, True)):
        label = f"{_label(clients, hubs, redis)}, {what}"
        rows.append(
            Row(
                SECTION,
                f"{label}: clients with every revision; delivered events/s; latency",
                f"{result['complete']:,}/{result['clients']:,}; {result['rate']:,.0f}/s; "
                f"{_latency(result)}",
                "",
                "",
                "zero loss" if redis else "",
                result["complete"] == result["clients"] if redis else None,
            )
        )
    ratio = one["cpu_per_delivery"] / alone["cpu_per_delivery"] if alone["cpu_per_delivery"] else 0
    rows.append(
        Row(
            SECTION,
            f"{clients:,} clients: a hub's CPU per delivered event, with Redis vs alone",
            f"{one['cpu_per_delivery'] * 1e6:.1f} µs",
            f"alone {alone['cpu_per_delivery'] * 1e6:.1f} µs",
            fmt_ratio(ratio),
            "≤ 1.2x",
            None if quick else ratio <= 1.2,  # a quick run's CPU is a few clock ticks
        )
    )
    rows.append(
        Row(
            SECTION,
            f"{clients:,} clients on 2 hubs: both hubs' CPU per delivered event",
            f"{two['cpu_per_delivery'] * 1e6:.1f} µs",
            f"1 hub + Redis {one['cpu_per_delivery'] * 1e6:.1f} µs",
            fmt_ratio(two["cpu_per_delivery"] / one["cpu_per_delivery"])
            if one["cpu_per_delivery"]
            else "",
            "",
            None,
        )
    )
    cost = two["redis"]
    per = max(1, updates)
    commands = ", ".join(
        f"{name} {calls / per:.2f}"
        for name, calls in sorted(cost.items(), key=lambda kv: -kv[1])
        if name not in ("bytes_in", "bytes_out") and calls > 0
    )
    rows.append(
        Row(
            SECTION,
            f"Redis per change, 2 hubs ({clients:,} clients): commands (those the script "
            "runs included); bytes in / out",
            f"{commands}; {cost.get('bytes_in', 0) / per:,.0f} B / "
            f"{cost.get('bytes_out', 0) / per:,.0f} B",
            "",
            "",
            "",
            None,
        )
    )
    return rows
