"""A real Jupyter server (subprocess) with the extension, and a kernel driven over its REST API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tornado import httpclient, websocket

from .ws import close_websocket

TOKEN = "jupyter-test-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_env(root: Path) -> dict[str, str]:
    """Keep Jupyter's state out of the real home (settings, workspaces, runtime files)."""
    env = dict(os.environ)
    for var in ("NB_SSE_SIGNALS_URL", "NB_SSE_SIGNALS_PUBLISH_SECRET", "NB_SSE_SIGNALS_BASE_URL"):
        env.pop(var, None)
    for name in ("home", "runtime", "config", "settings", "workspaces", "data"):
        (root / name).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(root / "home"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        JUPYTER_CONFIG_DIR=str(root / "config"),
        JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class JupyterServer:
    proc: subprocess.Popen[bytes]
    port: int
    base_url: str
    root: Path
    log_path: Path
    token: str = TOKEN

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop the server by its own process id (and its kernels with it)."""
        stop_process(self.proc)

    def __enter__(self) -> JupyterServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def stop_process(
    proc: subprocess.Popen[bytes], how: signal.Signals = signal.SIGTERM, grace: float = 15
) -> None:
    """Stop a process this test started, by its own handle: ``how`` (SIGINT for a CLI
    that should stop as on Ctrl-C), then a kill after ``grace`` seconds."""
    if proc.poll() is None:
        proc.send_signal(how)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_until_serving(
    proc: subprocess.Popen[bytes],
    url: str,
    log_path: Path,
    what: str,
    timeout: float = 60.0,
    *,
    headers: dict[str, str] | None = None,
    ready: Callable[[httpx.Response], bool] = lambda response: response.is_success,
) -> None:
    """Until ``url`` answers as ``ready`` says; fail with the log at ``log_path`` if the
    process ``what`` exits first or ``timeout`` seconds pass (the caller stops it)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            log = log_path.read_text(errors="replace")
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log}")
        try:
            if ready(httpx.get(url, headers=headers, timeout=2)):
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            log = log_path.read_text(errors="replace")
            raise TimeoutError(f"{what} did not start within {timeout} s:\n{log}")
        time.sleep(0.2)


def start_jupyter(
    root: Path,
    base_url: str = "/",
    app: str = "server",
    timeout: float = 60.0,
    *,
    extension: bool = True,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    port: int = 0,
    python: str = sys.executable,
    token: str = TOKEN,
) -> JupyterServer:
    """Jupyter ``app`` on a free loopback port (or ``port``, as a server restarted on
    its predecessor's); ``extension=False`` disables ours, as a server that has not
    installed it (its kernels then use the comm transport). ``env``: more environment
    variables for the server; ``args``: more options (``--SignalsExtension.orphan_grace=1``);
    ``python``: the interpreter of another environment (the installed wheel's). It runs
    in ``root``, so the source tree is never importable by accident.
    ``token``: its login (another user's server has another)."""
    port = port or free_port()
    env = {**isolated_env(root), **(env or {})}
    if not extension:
        # The user's config dir outranks the sys-prefix file pip installed.
        (root / "config" / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": {"nb_sse_signals": False}}})
        )
    (root / "notebooks").mkdir(exist_ok=True)
    log_path = root / "jupyter.log"
    cmd = [
        python, "-m", "jupyter", app, "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={base_url}", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root / 'notebooks'}", *(args or []),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    server = JupyterServer(proc, port, base_url, root, log_path, token)
    try:
        url = server.url + "api/status"
        wait_until_serving(proc, url, log_path, f"jupyter {app}", timeout, headers=server.headers)
    except TimeoutError:
        server.stop()
        raise
    return server


@dataclass
class Execution:
    status: str = ""
    stdout: str = ""
    error: str = ""
    idle: bool = False  # iopub said the kernel is idle after this request
    displays: list[dict[str, Any]] = field(default_factory=list)  # what the cell showed
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Kernel:
    """A kernel started through the server's REST API, run through its WebSocket channels."""

    def __init__(self, server: JupyterServer, kernel_id: str, conn: Any) -> None:
        self.server = server
        self.id = kernel_id
        self._conn = conn
        self._session = uuid.uuid4().hex
        self._runs: dict[str, Execution] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(
        cls, server: JupyterServer, timeout: float = 60.0, path: str | None = None
    ) -> Kernel:
        """Start a kernel; ``path`` (a notebook's, relative to the root) sets its folder."""
        body = {"name": "python3"} if path is None else {"name": "python3", "path": path}
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.post(server.url + "api/kernels", headers=server.headers, json=body)
            resp.raise_for_status()
            kernel_id = resp.json()["id"]
        ws_url = server.url.replace("http", "ws", 1) + f"api/kernels/{kernel_id}/channels"
        request = httpclient.HTTPRequest(ws_url, headers=server.headers, request_timeout=timeout)
        conn = await asyncio.wait_for(websocket.websocket_connect(request), timeout)
        kernel = cls(server, kernel_id, conn)
        try:
            await kernel.ready(timeout)  # the kernel answers: it is ready
        except BaseException:
            await kernel.shutdown()
            raise
        return kernel

    async def _read(self) -> None:
        while True:
            raw = await self._conn.read_message()
            if raw is None:
                return
            if isinstance(raw, bytes):
                # A message with binary buffers (a widget's comm, e.g. bqplot's or
                # plotly's arrays): never a run's output, reply or status.
                continue
            msg = json.loads(raw)
            run = self._runs.get(msg.get("parent_header", {}).get("msg_id", ""))
            if run is None:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content["name"] == "stdout":
                run.stdout += content["text"]
            elif kind == "error":
                run.error += "\n".join(content["traceback"])
            elif kind in ("display_data", "execute_result"):
                run.displays.append(content["data"])
            elif kind == "execute_reply":
                run.status = content["status"]
            elif kind == "status" and content["execution_state"] == "idle":
                run.idle = True
            # The reply (shell) may overtake the output (iopub): done needs both, and
            # iopub's idle comes after every output of the request.
            if run.status and run.idle:
                run.done.set()

    def submit(self, code: str) -> Execution:
        """Send code; returns at once with the Execution that fills in as the kernel runs."""
        msg_id = uuid.uuid4().hex
        run = self._runs[msg_id] = Execution()
        self._conn.write_message(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": "test",
                        "session": self._session,
                        "msg_type": "execute_request",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        return run

    def comm_msg(self, comm_id: str, data: dict[str, Any]) -> None:
        """Send ``data`` to the kernel's comm ``comm_id``, as a front end does (a widget
        view's ``{"method": "update", "state": ...}``); the shell runs it before any
        request sent after it."""
        self._conn.write_message(
            json.dumps(
                {
                    "header": {
                        "msg_id": uuid.uuid4().hex,
                        "username": "test",
                        "session": self._session,
                        "msg_type": "comm_msg",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"comm_id": comm_id, "data": data},
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )

    async def run(self, code: str, timeout: float = 30.0) -> str:
        """Run code to the end; return its stdout, or fail with the kernel's traceback."""
        run = self.submit(code)
        await asyncio.wait_for(run.done.wait(), timeout)
        assert run.status == "ok", f"the kernel failed:\n{run.error}"
        return run.stdout

    async def restart(self, timeout: float = 60.0) -> None:
        """Restart the kernel (``POST api/kernels/<id>/restart``: a new process, the same
        id) and wait until it runs code again over the same channels."""
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.post(
                self.server.url + f"api/kernels/{self.id}/restart", headers=self.server.headers
            )
            resp.raise_for_status()
        await self.ready(timeout)

    async def ready(self, timeout: float) -> None:
        """Until the kernel answers a request. One sent while it (re)starts can be lost
        on the way to the new process, so each try waits briefly and a new one follows."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self.run("1", timeout=min(5.0, timeout))
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the kernel did not answer within {timeout} s") from None

    async def disconnect(self) -> None:
        """Close our channels; the kernel lives on (shut it down through the API)."""
        await close_websocket(self._conn, self._reader)

    async def shutdown(self) -> None:
        await self.disconnect()
        async with httpx.AsyncClient(timeout=10) as client:
            await client.delete(
                self.server.url + f"api/kernels/{self.id}", headers=self.server.headers
            )
