"""Child: a standalone ``Server`` whose one signal has a full history, until terminated.

Usage: ``python -m bench._memory_proc <changes> <bytes per change>``; prints
``{"port": p, "oldest": cursor, "last": cursor}``: ``oldest`` resumes from before the
first change the history still holds (a replay of all of it), ``last`` is the newest.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading

from nb_sse_signals._protocol import format_cursor
from nb_sse_signals._server import Server

from ._procs import SECRET, TOKEN, raise_nofile, say

NAME = "bench/memory"


def _until_eof(stop: threading.Event) -> None:
    while os.read(0, 4096):
        pass
    stop.set()


def main() -> None:
    changes, size = int(sys.argv[1]), int(sys.argv[2])
    raise_nofile(16384)
    server = Server(port=0, token=TOKEN, publish_secret=SECRET).start()
    hub = server.hub
    hub.declare(NAME, {"i": 0, "pad": ""})
    for i in range(1, changes + 1):
        # Each change replaces the pad: one frame of about `size` bytes.
        hub.set(NAME, {"i": i, "pad": f"{i:08d}" * (size // 8)})
    sig = hub.store.entries[NAME]  # where the history begins
    oldest, last = sig.floor_seq, hub.store.seq
    gc.collect()
    gc.freeze()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=_until_eof, args=(stop,), daemon=True).start()
    say(
        {
            "port": server.port,
            "oldest": format_cursor(hub.epoch, oldest),
            "last": format_cursor(hub.epoch, last),
            "history": len(sig.history),
            "history_bytes": sig.history_bytes,
        }
    )
    stop.wait(600)
    server.stop()


if __name__ == "__main__":
    main()
