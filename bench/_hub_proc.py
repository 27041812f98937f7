"""Child: a hub with one declared signal, served until terminated: the standalone
Tornado ``Server``, or (``--asgi``) the ASGI app under uvicorn (httptools, the asyncio
loop that Tornado runs on too), mounted at ``/`` so that every client finds the same
paths.

Usage: ``python -m bench._hub_proc <signal> <initial JSON> [<redis URL> | --asgi]``;
prints ``{"port": p}``. With a Redis URL the hub shares its signals through that Redis.

``NB_SSE_SIGNALS_BENCH_PROFILE=<file>`` in the environment profiles the loop's thread
(cProfile, from the moment the port is printed) and writes the stats to that file when
the hub stops: where a benchmark's hub time goes (``python -m pstats <file>``). It
counts the thread's CPU time, not wall time: on a shared machine the time a process
waits for a core (mostly right after a ``send`` wakes its reader) is not the hub's.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

import orjson

from nb_sse_signals import SignalHub
from nb_sse_signals._server import Server

from ._procs import SECRET, TOKEN, raise_nofile, say


def _until_eof(stop: threading.Event) -> None:
    # os.read, not sys.stdin: a daemon thread must not hold the buffered reader's lock
    # when the interpreter shuts down.
    while os.read(0, 4096):
        pass
    stop.set()


def _serve_asgi(hub: SignalHub) -> tuple[int, asyncio.AbstractEventLoop, Callable[[], None]]:
    """``asgi_app(hub)`` under uvicorn in a thread of its own; its port, loop and stop."""
    import uvicorn

    from nb_sse_signals import asgi_app

    app = asgi_app(hub, token=TOKEN, publish_secret=SECRET)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        http="httptools",
        ws="websockets-sansio",
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(server.serve(sockets=[sock]),), daemon=True
    )
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.01)
    if not server.started:
        raise RuntimeError("uvicorn did not start")

    def stop() -> None:
        loop.call_soon_threadsafe(app.end_streams)
        server.should_exit = True
        thread.join(10)

    return int(sock.getsockname()[1]), loop, stop


def _profiled(loop: asyncio.AbstractEventLoop, path: str) -> Callable[[], None]:
    """Profile ``loop``'s thread from now on; the returned function writes the stats."""
    profile = cProfile.Profile(time.thread_time)
    loop.call_soon_threadsafe(profile.enable)  # cProfile profiles the calling thread

    def write() -> None:
        done = threading.Event()

        def stop() -> None:
            profile.disable()
            done.set()

        loop.call_soon_threadsafe(stop)
        done.wait(10)
        profile.dump_stats(path)

    return write


def main() -> None:
    name, initial = sys.argv[1], orjson.loads(sys.argv[2])
    extra = sys.argv[3] if len(sys.argv) > 3 else None
    raise_nofile(16384)
    if extra == "--asgi":
        hub = SignalHub()
        port, loop, stop_serving = _serve_asgi(hub)
    else:
        server = Server(port=0, token=TOKEN, publish_secret=SECRET, redis=extra).start()
        hub, port, stop_serving = server.hub, server.port, server.stop
        assert server._loop is not None  # started
        loop = server._loop
    hub.declare(name, initial)
    gc.freeze()  # as `nb-sse-signals serve` does once it listens
    profile = os.environ.get("NB_SSE_SIGNALS_BENCH_PROFILE")
    write_profile = _profiled(loop, profile) if profile else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Stdin closes when the parent dies, however it dies: never outlive it.
    threading.Thread(target=_until_eof, args=(stop,), daemon=True).start()
    say({"port": port})
    stop.wait(600)  # bounded: the parent terminates us long before
    if write_profile is not None:
        write_profile()
    stop_serving()


if __name__ == "__main__":
    main()
