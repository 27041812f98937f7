"""A real ``redis-server`` on 127.0.0.1: a free port, its own directory, stopped by its pid.

For tests/test_redis.py and bench/backplane.py. No persistence (``--save ""``,
no AOF): a restart comes back empty, which is the data loss the backplane must
survive. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def available() -> bool:
    return Path(REDIS_SERVER).exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``start()``/``stop()``/``restart()``; ``url`` to connect (with the password, if any)."""

    def __init__(self, directory: Path, *, password: str | None = None, tls: bool = False) -> None:
        self.directory = directory
        self.password = password
        self.tls = tls  # TLS only, with a certificate for 127.0.0.1 from a CA of its own
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.tls:
            return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.ca}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _certificates(self) -> list[str]:
        d = self.directory
        run = [["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=test CA", "-keyout", str(d / "ca.key"), "-out", str(self.ca)],
               ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                "-keyout", str(d / "server.key"), "-out", str(d / "server.csr")],
               ["openssl", "x509", "-req", "-in", str(d / "server.csr"), "-CA", str(self.ca),
                "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
                "-extfile", str(d / "san.cnf"), "-out", str(d / "server.crt")]]  # fmt: skip
        (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
        for args in run:
            subprocess.run(args, check=True, capture_output=True, timeout=60)
        return ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no",
                "--tls-cert-file", str(d / "server.crt"), "--tls-key-file", str(d / "server.key"),
                "--tls-ca-cert-file", str(self.ca)]  # fmt: skip

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            REDIS_SERVER,
            *(self._certificates() if self.tls else ["--port", str(self.port)]),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--daemonize", "no",
            "--loglevel", "warning",
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        log = (self.directory / "redis.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"redis-server did not answer within {timeout} s")
            time.sleep(0.02)
        return self

    def _answers(self) -> bool:
        try:
            with contextlib.ExitStack() as stack:
                sock = stack.enter_context(
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
                )
                if self.tls:
                    context = ssl.create_default_context(cafile=str(self.ca))
                    # The wrapped socket takes the descriptor over: close that one.
                    sock = stack.enter_context(
                        context.wrap_socket(sock, server_hostname="127.0.0.1")
                    )
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)
        except OSError:
            return False
        # +PONG, or -NOAUTH when a password is set: either way it is up.
        return reply.startswith((b"+PONG", b"-NOAUTH"))

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def restart(self) -> None:
        """Stop and start on the same port: empty, as after a crash without persistence."""
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()
