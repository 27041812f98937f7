"""Child: the bare Tornado SSE loops the issue's baselines describe, with no hub at all.

``flush <n>``: each client gets ``n`` events, each encoded with orjson and flushed alone.
``batch <n>``: the same events, flushed 100 per write.
``fanout <updates> <rate>``: every connected client gets each update, ``rate`` per second,
one orjson encoding per update, written and flushed to every client in one loop.

Events have our wire shape (``id:``, a change message with a small patch), so clients
treat both servers alike. Each client first gets a hello event (rev 0); streaming
starts when the parent writes ``go`` on stdin. Prints ``{"port": p}``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import orjson
from tornado import httpserver, web
from tornado.iostream import StreamClosedError
from tornado.netutil import bind_sockets

from ._procs import raise_nofile, say

# The throughput signal's name, and an id shaped as a hub's (a 10-character epoch, then
# the sequence number): events of the same size as ours.
NAME = "bench/tp"
EPOCH = b"bareloop00"


def frame(rev: int, value: dict[str, object]) -> bytes:
    ops = [{"op": "replace", "path": "/" + k, "value": v} for k, v in value.items()]
    data = orjson.dumps({"name": NAME, "rev": rev, "patch": ops})
    return b"id: %b-%d\ndata: %b\n\n" % (EPOCH, rev, data)


class _Stream(web.RequestHandler):
    go: asyncio.Event
    mode: str
    count: int

    def initialize(self, go: asyncio.Event, mode: str, count: int) -> None:
        self.go, self.mode, self.count = go, mode, count

    async def get(self) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.write(frame(0, {"n": 0}))
        await self.flush()
        await self.go.wait()
        every = 1 if self.mode == "flush" else 100
        try:
            for rev in range(1, self.count + 1):
                self.write(frame(rev, {"n": rev}))
                if rev % every == 0 or rev == self.count:
                    await self.flush()
        except StreamClosedError:
            pass


class _Fan(web.RequestHandler):
    clients: set[_Fan]

    def initialize(self, clients: set[_Fan]) -> None:
        self.clients = clients

    async def get(self) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.write(frame(0, {"t": 0, "n": 0}))
        await self.flush()
        self.clients.add(self)
        self.done = asyncio.Event()
        await self.done.wait()

    def on_connection_close(self) -> None:
        self.clients.discard(self)
        if hasattr(self, "done"):
            self.done.set()


async def _broadcast(clients: set[_Fan], updates: int, rate: float) -> None:
    start = time.monotonic()
    for rev in range(1, updates + 1):
        await asyncio.sleep(max(0.0, start + rev / rate - time.monotonic()))
        data = frame(rev, {"t": time.time(), "n": rev})
        for client in list(clients):
            client.write(data)
            client.flush()  # the future is not awaited: one loop writes to all


async def main() -> None:
    mode = sys.argv[1]
    raise_nofile(8192)
    go = asyncio.Event()
    clients: set[_Fan] = set()
    if mode == "fanout":
        app = web.Application([(r"/nb-sse-signals/events", _Fan, {"clients": clients})])
    else:
        options = {"go": go, "mode": mode, "count": int(sys.argv[2])}
        app = web.Application([(r"/nb-sse-signals/events", _Stream, options)])
    server = httpserver.HTTPServer(app)
    [sock] = bind_sockets(0, "127.0.0.1", backlog=128)  # the hub's backlog too
    server.add_sockets([sock])
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # A line on stdin is "go"; end of file means the parent died: never outlive it.
    loop.add_reader(
        sys.stdin.fileno(), lambda: (go if os.read(sys.stdin.fileno(), 64) else stop).set()
    )
    say({"port": sock.getsockname()[1]})
    if mode == "fanout":
        await go.wait()
        await _broadcast(clients, int(sys.argv[2]), float(sys.argv[3]))
    await asyncio.wait_for(stop.wait(), 600)


if __name__ == "__main__":
    asyncio.run(main())
