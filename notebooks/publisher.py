"""Publish a fake training run's loss as the shared signal ``training/loss``, then exit.

Started from a kernel of a Jupyter server with nb_sse_signals, the script inherits
the server's address and publish secret from the kernel's environment and publishes
through that server; anywhere else it starts a standalone server and prints its URL.
It ends by itself after ``--epochs`` times ``--period`` seconds, or on SIGTERM; either
way it closes the signal, so viewers show it as ended.
"""

from __future__ import annotations

import argparse
import math
import random
import signal
import sys
import time

from nb_sse_signals import ServerSignal


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=120)
    parser.add_argument("--period", type=float, default=0.5, help="seconds per epoch")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop)

    initial: dict[str, object] = {"epoch": 0, "loss": None, "history": [], "done": False}
    loss = ServerSignal("training/loss", initial, shared=True)
    try:
        # The caller waits for this line: the signal exists from now on.
        print(f"publishing {loss.key} at {loss.url}", flush=True)  # noqa: T201  (its interface)
        for epoch in range(1, args.epochs + 1):
            time.sleep(args.period)
            value = round(2.5 * math.exp(-epoch / 25) + random.uniform(0, 0.05), 4)
            with loss.mutate() as doc:
                doc["epoch"] = epoch
                doc["loss"] = value
                doc["history"].append(value)
        with loss.mutate() as doc:
            doc["done"] = True
    finally:
        loss.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
