"""Child processes of the benchmarks: started with this interpreter, spoken to in JSON lines.

Every child prints JSON objects, one per line, on stdout; the parent waits for each
with a deadline. Every child is stopped by its own pid (terminate, then kill), never
by name, and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import queue
import resource
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
SECRET = "bench-publish-secret"


class Child:
    """A ``python -m bench.<module>`` child whose stdout lines are read by a thread."""

    def __init__(self, module: str, *args: str) -> None:
        self.name = module
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"bench.{module}", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._lines: queue.Queue[bytes] = queue.Queue()
        # A reader thread, so that a wait on a silent child can time out.
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(b"")

    def read(self, timeout: float) -> dict[str, Any]:
        """The next JSON line; raises ``TimeoutError`` or ``RuntimeError`` if none comes."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"bench.{self.name} said nothing for {timeout} s") from None
        if not line:
            code = self.proc.wait(5)
            raise RuntimeError(f"bench.{self.name} exited with code {code} before answering")
        result: dict[str, Any] = orjson.loads(line)
        return result

    def cpu_seconds(self) -> float:
        """CPU time (user + system, all threads) the child has used so far (Linux)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


@contextlib.contextmanager
def children() -> Iterator[list[Child]]:
    """A list to append children to; each is stopped by its pid on the way out."""
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            child.stop()


def say(obj: dict[str, Any]) -> None:
    """What a child prints for its parent: one JSON line, flushed at once."""
    sys.stdout.buffer.write(orjson.dumps(obj) + b"\n")
    sys.stdout.buffer.flush()


def raise_nofile(wanted: int) -> None:
    """Lift this process's descriptor limit to ``wanted`` (as far as the hard limit allows)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
