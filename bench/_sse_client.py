"""Child: SSE clients on raw asyncio sockets, fast enough not to be the bottleneck.

``stream <port> <query> <last_rev>``: one client counts events (C-speed byte counts,
no parsing) until it sees ``"rev":<last_rev>``; reports events and seconds.
``fanout <port> <query> <clients> <last_n> <timeout>``: many clients keep every event,
stamped on receipt, and parse them once the last has arrived: they check that
revisions arrive without a gap, and time each from the publish timestamp ``t`` in the
value (wall clock: all processes share this machine's) to receipt.

Requests are HTTP/1.0, so the body comes without chunked framing: raw SSE bytes.
Prints ``{"ready": ...}`` once every client has its first event, then the result.
"""

from __future__ import annotations

import asyncio
import selectors
import socket
import sys
import time
from typing import Any

import orjson

from ._procs import TOKEN, raise_nofile, say


def _request(query: str) -> bytes:
    return (
        f"GET /nb-sse-signals/events?{query} HTTP/1.0\r\nHost: 127.0.0.1\r\n"
        f"Authorization: token {TOKEN}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()


async def stream(port: int, query: str, last_rev: int, timeout: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_request(query))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"expected 200 from the events endpoint, got {head[:200]!r}")
    first = await asyncio.wait_for(reader.readuntil(b"\n\n"), timeout)
    say({"ready": True, "first": first[-200:].decode()})
    target = b'"rev":%d,' % last_rev
    events = snapshots = 0
    tail = b""
    started = 0.0
    deadline = time.monotonic() + timeout
    while True:
        chunk = await asyncio.wait_for(reader.read(1 << 20), deadline - time.monotonic())
        if not chunk:
            raise RuntimeError(f"the stream ended after {events} events")
        if not started:
            started = time.perf_counter()
        # An event's blank line may straddle two reads: count from the last byte before.
        events += (tail[-1:] + chunk).count(b"\n\n")
        # A root replace mid-stream is a resync: the hub dropped events for us.
        snapshots += chunk.count(b'"path":"",')
        window = tail + chunk
        if target in window:
            break
        tail = window[-64:]
    # ``end`` is wall-clock time, comparable with the time the producer started.
    end, seconds = time.time(), time.perf_counter() - started
    writer.close()
    say({"events": events, "end": end, "seconds": seconds, "snapshots": snapshots})


class _Fan:
    """One fan-out client: tracks revisions and latencies.

    While the clock runs it only keeps ``(receipt time, bytes)`` and looks for the
    last update's marker; parsing waits until the end (:meth:`finish`), so one
    client's parsing never delays another's receipt stamp.
    """

    def __init__(self, sock: socket.socket, last_n: int, latencies: list[float]) -> None:
        self.sock = sock
        self.last_n = last_n
        self.latencies = latencies
        self.buf = b""
        self.head = True
        self.rev: int | None = None
        self.gaps = self.resyncs = self.events = 0
        self.first = self.done = False
        self.deferred: list[tuple[float, bytes]] | None = None
        self._marker = b'"path":"/n","value":%d}' % last_n
        self._tail = b""

    def defer(self) -> None:
        """From now on keep what arrives, stamped, and parse it in :meth:`finish`."""
        self.deferred = []

    def feed(self, data: bytes, now: float) -> None:
        if self.deferred is None:
            self._parse(data, now)
            return
        self.deferred.append((now, data))
        window = self._tail + data
        if self._marker in window:
            self.done = True
        self._tail = window[-len(self._marker) :]

    def finish(self) -> None:
        chunks, self.deferred = self.deferred or [], None
        self.done = False
        for now, data in chunks:
            self._parse(data, now)

    def _parse(self, data: bytes, now: float) -> None:
        buf = self.buf + data
        if self.head:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if b" 200 " not in buf[: buf.find(b"\r\n")]:
                raise RuntimeError(f"expected 200 from the events endpoint, got {buf[:100]!r}")
            buf, self.head = buf[end + 4 :], False
        *blocks, self.buf = buf.split(b"\n\n")
        for block in blocks:
            if block.startswith(b"event: ") or b"\nevent: " in block:
                continue  # closed, stale (orphaned or backplane lost), refused: no patch
            start = block.find(b"data: ")
            if start >= 0:
                self._event(orjson.loads(block[start + 6 :]), now)

    def _event(self, message: dict[str, Any], now: float) -> None:
        rev, ops = message["rev"], message["patch"]
        self.events += 1
        value: dict[str, Any] = {}
        for op in ops:
            if op["path"] == "":
                value = op["value"]
                # A whole-value replace at the next revision is a change like any other
                # (a publisher taking a signal over declares it whole); anywhere else it
                # is a snapshot the hub sent instead of changes we missed.
                if self.rev is not None and rev != self.rev + 1:
                    self.resyncs += 1
            else:
                value[op["path"][1:]] = op["value"]
        if self.rev is not None and rev != self.rev + 1:
            self.gaps += 1
        self.rev = rev
        if not self.first:
            self.first = True
        elif value.get("t"):
            # (t 0: the initial value, which a publisher taking the signal over declares
            # whole again; it was never published at a time, so it has no latency.)
            self.latencies.append(now - value["t"])
        if value.get("n") == self.last_n:
            self.done = True


def _pump(
    sel: selectors.BaseSelector, until: Any, deadline: float, span: list[float] | None = None
) -> None:
    """Read every ready socket, stamping receipt once per wake-up, before any parsing:
    the clients' own parsing then does not count as the server's latency. ``span``
    gets the first and the last receipt time."""
    while not until() and time.monotonic() < deadline:
        ready = sel.select(0.5)
        now = time.time()
        if span is not None and ready:
            if not span:
                span.append(now)
            span[1:] = [now]
        chunks = [(key.data, key.fileobj.recv(1 << 16)) for key, _ in ready]  # type: ignore[union-attr]
        for conn, data in chunks:
            if not data:
                sel.unregister(conn.sock)
                continue
            conn.feed(data, now)


def fanout(port: int, query: str, clients: int, last_n: int, timeout: float) -> None:
    # A plain epoll loop rather than asyncio: one wake-up reads every ready socket, and
    # 1,000 connections cost one descriptor each and no task.
    sel = selectors.DefaultSelector()
    latencies: list[float] = []
    conns: list[_Fan] = []
    request = _request(query)
    deadline = time.monotonic() + timeout
    for start in range(0, clients, 100):  # batches: the servers' listen backlog is 128
        batch = []
        for _ in range(min(100, clients - start)):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(request)
            sock.setblocking(False)
            conn = _Fan(sock, last_n, latencies)
            sel.register(sock, selectors.EVENT_READ, conn)
            batch.append(conn)
        _pump(sel, lambda b=batch: all(c.first for c in b), deadline)
        conns += batch
    if not all(c.first for c in conns):
        raise RuntimeError("not every client got its first event in time")
    latencies.clear()
    for conn in conns:
        conn.defer()
    say({"ready": True})
    span: list[float] = []
    _pump(sel, lambda: all(c.done for c in conns), time.monotonic() + timeout, span)
    for conn in conns:
        conn.finish()
    say(
        {
            "clients": len(conns),
            "complete": sum(1 for c in conns if c.done and not c.gaps and not c.resyncs),
            "unfinished": sum(1 for c in conns if not c.done),
            "gaps": sum(c.gaps for c in conns),
            "resyncs": sum(c.resyncs for c in conns),
            "deliveries": sum(c.events for c in conns) - len(conns),
            "latencies": sorted(latencies),
            "span": span[-1] - span[0] if span else 0.0,
        }
    )
    for conn in conns:
        conn.sock.close()


def main() -> None:
    mode, port, query = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    raise_nofile(16384)
    if mode == "stream":
        asyncio.run(stream(port, query, int(sys.argv[4]), float(sys.argv[5])))
    else:
        fanout(port, query, int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))


if __name__ == "__main__":
    main()
