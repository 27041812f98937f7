"""Network faults for the fault tests: a loopback TCP relay whose connections the test
cuts at will, and the browser client's code following a signal from Node through it."""

from __future__ import annotations

import contextlib
import json
import select
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

JS = Path(__file__).resolve().parents[2] / "js"
HARNESS = JS / "harness" / "follow.js"


class CutRelay:
    """Listens on 127.0.0.1 and relays each connection to ``upstream``'s port.

    :meth:`cut` drops every connection open at that moment, both ways, as a network
    that fails does; new connections go through again. Every thread it starts ends in
    :meth:`stop`.
    """

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._stopped = False
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stop() closed the listener
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:
                client.close()  # the server is down: so is the relay's connection
                continue
            pair = (client, server)
            with self._lock:
                if self._stopped:
                    client.close()
                    server.close()
                    return
                self._pairs.add(pair)
                thread = threading.Thread(target=self._pump, args=(pair,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        """Both directions in one thread, until either side closes or the pair is cut."""
        client, server = pair
        try:
            while True:
                ready, _, _ = select.select([client, server], [], [], 1.0)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (server if sock is client else client).sendall(data)
        except (OSError, ValueError):  # cut: the sockets were shut down or closed
            return
        finally:
            self._close(pair)

    def _close(self, pair: tuple[socket.socket, socket.socket]) -> None:
        with self._lock:
            self._pairs.discard(pair)
        for sock in pair:
            _shut(sock)
            sock.close()

    def cut(self) -> int:
        """Drop every open connection; returns how many there were."""
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            for sock in pair:
                _shut(sock)  # wakes the pump, which closes both
        return len(pairs)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        _shut(self._listener)  # wakes accept(); close() alone does not
        self._listener.close()
        self.cut()
        for thread in self._threads:
            thread.join(5)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already shut or closed
        sock.shutdown(socket.SHUT_RDWR)


def node() -> str:
    """The ``node`` on PATH (scripts/setup.sh installs one where it is missing)."""
    found = shutil.which("node")
    assert found, "node is not on PATH: run scripts/setup.sh"
    return found


class JsFollower:
    """``js/harness/follow.js`` in a subprocess: the widget's ConnectionPool and Signal
    following ``name`` at ``base``; its JSON lines are read into ``values`` (value,
    rev) and ``statuses`` as they come. :meth:`stop` ends it by its pid."""

    def __init__(self, base: str, name: str, token: str = "") -> None:
        self.values: list[tuple[Any, int]] = []
        self.statuses: list[str] = []
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [node(), str(HARNESS), base, name, token],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=JS,
        )
        self._stderr: list[bytes] = []
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode()
            event = json.loads(line)
            with self._lock:
                self.lines.append(line)
                if event["type"] == "value":
                    self.values.append((event["value"], event["rev"]))
                else:
                    self.statuses.append(event["status"])

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self._stderr.append(raw)

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr).decode(errors="replace")

    def last(self) -> Any:
        with self._lock:
            return self.values[-1][0] if self.values else None

    def status(self) -> str:
        with self._lock:
            return self.statuses[-1] if self.statuses else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # by its own pid
        self.proc.wait(10)
        for reader in self._readers:
            reader.join(5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
