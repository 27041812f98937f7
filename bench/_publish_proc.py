"""Child: a publisher in its own process, as a kernel is.

``ws <port> <signal> <count> <batch> <window>``: the publish WebSocket, raw: ``count``
small patch messages, ``batch`` per frame, at most ``window`` frames awaiting replies.
``signal <port> <signal> <updates> <rate>``: the kernel path, ``Publisher.connect`` and
``ServerSignal.set({"t": <now>, "n": i})`` at ``rate`` per second.
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson
from tornado import httpclient, websocket

from nb_sse_signals._protocol import SECRET_HEADER
from nb_sse_signals._publisher import Publisher
from nb_sse_signals._signal import ServerSignal

from ._procs import SECRET, say


async def raw(port: int, name: str, count: int, batch: int, window: int) -> None:
    request = httpclient.HTTPRequest(
        f"ws://127.0.0.1:{port}/nb-sse-signals/publish",
        headers={SECRET_HEADER: SECRET},
        request_timeout=10,
    )
    conn = await websocket.websocket_connect(request)
    slots = asyncio.Semaphore(window)
    failures = 0
    frames = (count + batch - 1) // batch

    async def read_replies() -> None:
        nonlocal failures
        for _ in range(frames):
            reply = await conn.read_message()
            if reply is None:
                raise RuntimeError("the hub closed the publish WebSocket")
            failures += sum(1 for r in orjson.loads(reply) if not r.get("ok"))
            slots.release()

    reader = asyncio.create_task(read_replies())
    start, wall = time.perf_counter(), time.time()
    for first in range(1, count + 1, batch):
        await slots.acquire()
        messages = [
            {"op": "patch", "name": name, "patch": [{"op": "replace", "path": "/n", "value": i}]}
            for i in range(first, min(first + batch, count + 1))
        ]
        await conn.write_message(orjson.dumps(messages), binary=True)
    await asyncio.wait_for(reader, 120)
    say(
        {"sent": count, "start": wall, "seconds": time.perf_counter() - start, "failures": failures}
    )
    conn.close()


def kernel(port: int, name: str, updates: int, rate: float) -> None:
    publisher = Publisher.connect(f"http://127.0.0.1:{port}/", SECRET)
    try:
        # max_rate above the update rate: every set() is its own revision, no coalescing.
        signal = ServerSignal(
            name, {"t": 0, "n": 0}, shared=True, publisher=publisher, max_rate=1e3
        )
        start = time.monotonic()
        for n in range(1, updates + 1):
            time.sleep(max(0.0, start + n / rate - time.monotonic()))
            signal.set({"t": time.time(), "n": n})
        publisher.flush()
        say({"sent": updates})
    finally:
        publisher.shutdown()


def main() -> None:
    mode, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    numbers = [int(a) for a in sys.argv[4:]]
    if mode == "ws":
        asyncio.run(raw(port, name, *numbers))
    else:
        kernel(port, name, numbers[0], float(numbers[1]))


if __name__ == "__main__":
    main()
