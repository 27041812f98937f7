"""Goal 3: events per second to one subscriber, beside bare Tornado SSE loops.

Ours: a publisher process (raw publish WebSocket, 100 small patches per frame) → the
hub (a standalone ``Server`` in its own process) → one SSE client process counting
events. Baselines, in the same run and with the same client: a bare Tornado loop that
encodes each event with orjson and flushes each, and one that flushes 100 per write;
every setup streams the same number of events of the same shape to the same client.
All three processes share 2 cores; the bare loops need only two. The same hub served
by the ASGI app under uvicorn (``asgi_app``) runs in the same rounds, read against the
Tornado server.
"""

from __future__ import annotations

import time

import orjson

from ._procs import Child, children
from ._timing import Row, Section, fmt_rate, fmt_ratio, median

SECTION = "3. Throughput, one subscriber"
SIGNAL = "bench/tp"


def _ours(count: int, timeout: float, asgi: bool = False) -> tuple[float, dict[str, object]]:
    with children() as started:
        initial = orjson.dumps({"n": 0}).decode()
        hub = Child("_hub_proc", SIGNAL, initial, *(["--asgi"] if asgi else []))
        started.append(hub)
        port = hub.read(timeout)["port"]
        client = Child(
            "_sse_client", "stream", str(port), f"signal={SIGNAL}", str(count), str(timeout)
        )
        started.append(client)
        client.read(timeout)  # the snapshot arrived: subscribed
        # One frame in flight, as the real Publisher has: with more, the hub ingests
        # faster than it writes and resyncs this subscriber (see docs/benchmarks.md).
        publisher = Child("_publish_proc", "ws", str(port), SIGNAL, str(count), "100", "1")
        started.append(publisher)
        sent = publisher.read(timeout)
        got = client.read(timeout)
    if sent["failures"]:
        raise AssertionError(f"the hub rejected {sent['failures']} of {count} patches")
    # From the publisher's first send to the client's last event (one machine, one clock).
    return got["events"] / (got["end"] - sent["start"]), {**got, "sent": sent["sent"]}


def _bare(mode: str, count: int, timeout: float) -> tuple[float, dict[str, object]]:
    with children() as started:
        server = Child("_bare", mode, str(count))
        started.append(server)
        port = server.read(timeout)["port"]
        client = Child("_sse_client", "stream", str(port), "signal=x", str(count), str(timeout))
        started.append(client)
        client.read(timeout)
        start = time.time()
        server.send("go")
        got = client.read(timeout)
    return got["events"] / (got["end"] - start), got


def run(quick: bool = False) -> Section:
    # The same events for all: the same count, so every run spans a like stretch of a
    # shared machine's load (~2 s for ours and the flush loop when the machine is quiet;
    # the batched loop, much faster, needs no more to be timed to a few percent).
    ours_n = flush_n = batch_n = 2_000 if quick else 100_000
    repeat = 1 if quick else 3
    timeout = 30.0 if quick else 120.0
    ours, flush, batch, asgi = [], [], [], []
    facts: dict[str, float | int | bool] = {}
    for _ in range(repeat):
        rate, got = _ours(ours_n, timeout)
        ours.append(rate)
        facts["ours_events"] = int(got["events"])  # type: ignore[call-overload]
        facts["ours_snapshots"] = int(got["snapshots"])  # type: ignore[call-overload]
        rate, got = _ours(ours_n, timeout, asgi=True)
        asgi.append(rate)
        facts["asgi_events"] = int(got["events"])  # type: ignore[call-overload]
        facts["asgi_snapshots"] = int(got["snapshots"])  # type: ignore[call-overload]
        rate, got = _bare("flush", flush_n, timeout)
        flush.append(rate)
        facts["flush_events"] = int(got["events"])  # type: ignore[call-overload]
        rate, got = _bare("batch", batch_n, timeout)
        batch.append(rate)
        facts["batch_events"] = int(got["events"])  # type: ignore[call-overload]
    facts.update(ours_expected=ours_n, flush_expected=flush_n, batch_expected=batch_n)
    o, f, b, a = median(ours), median(flush), median(batch), median(asgi)
    rows = [
        Row(
            SECTION,
            "publisher process → hub → SSE client, small patches",
            fmt_rate(o),
            f"bare Tornado, flush per event {fmt_rate(f)}",
            fmt_ratio(o / f),
            "≥ flush-per-event, no loss",
            o >= f and not facts["ours_snapshots"],
        ),
        Row(
            SECTION,
            "the same, against batched writes",
            fmt_rate(o),
            f"bare Tornado, orjson + flush per 100 {fmt_rate(b)}",
            fmt_ratio(o / b),
            "",
            None,
        ),
        Row(
            SECTION,
            "the same through the ASGI app under uvicorn",
            fmt_rate(a),
            f"Tornado server {fmt_rate(o)}",
            fmt_ratio(a / o),
            "no loss",
            not facts["asgi_snapshots"],
        ),
    ]
    return Section(SECTION, rows, facts)
