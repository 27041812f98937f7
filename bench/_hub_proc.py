"""Child: a standalone ``Server`` (the hub) with one declared signal, until terminated.

Usage: ``python -m bench._hub_proc <signal> <initial JSON> [<redis URL>]``; prints
``{"port": p}``. With a Redis URL the hub shares its signals through that Redis.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading

import orjson

from nb_sse_signals._server import Server

from ._procs import SECRET, TOKEN, raise_nofile, say


def _until_eof(stop: threading.Event) -> None:
    # os.read, not sys.stdin: a daemon thread must not hold the buffered reader's lock
    # when the interpreter shuts down.
    while os.read(0, 4096):
        pass
    stop.set()


def main() -> None:
    name, initial = sys.argv[1], orjson.loads(sys.argv[2])
    redis = sys.argv[3] if len(sys.argv) > 3 else None
    raise_nofile(16384)
    server = Server(port=0, token=TOKEN, publish_secret=SECRET, redis=redis).start()
    server.hub.declare(name, initial)
    gc.freeze()  # as `nb-sse-signals serve` does once it listens
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Stdin closes when the parent dies, however it dies: never outlive it.
    threading.Thread(target=_until_eof, args=(stop,), daemon=True).start()
    say({"port": server.port})
    stop.wait(600)  # bounded: the parent terminates us long before
    server.stop()


if __name__ == "__main__":
    main()
