"""The Jupyter server extension with a real server, a real kernel, and a third-party SSE client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from bench._redis_server import RedisServer, available
from nb_sse_signals._protocol import ENV_REDIS_URL, SNAPSHOT_PATH

from .conftest import missing, wait_until
from .jupyter import TOKEN, JupyterServer, Kernel, start_jupyter
from .test_handlers import reconstruct

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    server = start_jupyter(tmp_path_factory.mktemp("jupyter"), base_url="/prefix/")
    try:
        yield server
    finally:
        server.stop()


async def collect(jupyter: JupyterServer, path: str, count: int, timeout: float = 20) -> list[Any]:
    """Read ``count`` events from ``path`` (a signal's ``url``) with the server's token."""
    out: list[Any] = []

    async def read() -> None:
        async with (
            httpx.AsyncClient(timeout=10) as client,
            aconnect_sse(
                client, "GET", f"http://127.0.0.1:{jupyter.port}{path}", headers=jupyter.headers
            ) as source,
        ):
            source.response.raise_for_status()
            async for event in source.aiter_sse():
                if not event.data:  # a keep-alive after an id (see test_handlers.data_events)
                    continue
                out.append(event)
                if len(out) == count:
                    return

    await asyncio.wait_for(read(), timeout)
    return out


SETUP = """
import threading, time
from nb_sse_signals import ServerSignal
s = ServerSignal("count", {"value": 0, "log": []}, max_rate=1000)
print(s.url)
"""

CHANGE_FROM_A_THREAD = """
def work():
    time.sleep(0.5)
    for i in range(1, 11):
        with s.mutate() as doc:
            doc["value"] = i
            doc["log"].append(i)
        s._publisher.flush()
threading.Thread(target=work).start()
"""


async def test_a_kernel_signal_changed_from_a_thread_reaches_a_third_party_client(
    jupyter: JupyterServer, kernel: Kernel
) -> None:
    url = (await kernel.run(SETUP)).strip()
    assert url.startswith("/prefix/nb-sse-signals/events?signal=k-")
    assert url.endswith("/count")
    reader = asyncio.create_task(collect(jupyter, url, 11))
    await kernel.run(CHANGE_FROM_A_THREAD)
    events = await reader
    key = url.split("signal=")[1]
    assert reconstruct(events)[key] == {"value": 10, "log": list(range(1, 11))}


async def test_values_flow_while_the_kernels_main_thread_sleeps(
    jupyter: JupyterServer, kernel: Kernel
) -> None:
    url = (await kernel.run(SETUP)).strip()
    await kernel.run(CHANGE_FROM_A_THREAD)
    busy = kernel.submit("for _ in range(60): time.sleep(0.1)")
    events = await collect(jupyter, url, 11)
    assert not busy.done.is_set(), "the cell should still be running"
    assert reconstruct(events)[url.split("signal=")[1]]["value"] == 10
    await asyncio.wait_for(busy.done.wait(), 30)


async def test_two_kernels_may_both_have_a_signal_named_count(
    jupyter: JupyterServer, kernel: Kernel
) -> None:
    other = await Kernel.start(jupyter)
    try:
        first = (await kernel.run(SETUP)).strip()
        second = (await other.run(SETUP.replace('"value": 0', '"value": 99'))).strip()
    finally:
        await other.shutdown()
    assert first != second
    (a,) = await collect(jupyter, first, 1)
    (b,) = await collect(jupyter, second, 1)
    assert reconstruct([a])[first.split("signal=")[1]]["value"] == 0
    assert reconstruct([b])[second.split("signal=")[1]]["value"] == 99


@pytest.mark.parametrize("endpoint", ["events", "snapshot"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "token wrong"}, {"X-Signals-Publish-Secret": "wrong"}],
    ids=["none", "wrong-token", "wrong-secret"],
)
def test_subscribing_without_jupyter_credentials_is_forbidden(
    jupyter: JupyterServer, endpoint: str, headers: dict[str, str]
) -> None:
    resp = httpx.get(
        jupyter.url + f"nb-sse-signals/{endpoint}",
        params={"signal": "x"},
        headers=headers,
        timeout=10,
    )
    assert resp.status_code == 403


def test_the_token_is_accepted_as_a_query_parameter_too(jupyter: JupyterServer) -> None:
    resp = httpx.get(
        jupyter.url + "nb-sse-signals/snapshot",
        params={"signal": "never-declared", "token": TOKEN},
        timeout=10,
    )
    assert resp.status_code == 404, "authenticated, so the unknown signal is what is wrong"
    assert "never-declared" in resp.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": f"token {TOKEN}"},
        {"X-Signals-Publish-Secret": "wrong"},
    ],
    ids=["none", "jupyter-token", "wrong-secret"],
)
def test_the_publish_endpoint_refuses_anything_but_the_publish_secret(
    jupyter: JupyterServer, headers: dict[str, str]
) -> None:
    resp = httpx.post(
        jupyter.url + "nb-sse-signals/publish",
        json={"op": "declare", "name": "intruder", "value": 1},
        headers=headers,
        cookies={},
        timeout=10,
    )
    assert resp.status_code == 403
    check = httpx.get(
        jupyter.url + "nb-sse-signals/snapshot",
        params={"signal": "intruder"},
        headers=jupyter.headers,
        timeout=10,
    )
    assert check.status_code == 404


def test_the_extension_is_listed_as_enabled(jupyter: JupyterServer) -> None:
    log = jupyter.log()
    assert "nb_sse_signals" in log
    assert "/prefix/nb-sse-signals/events" in log


def test_fresh_venv_pip_install_enables_the_extension(tmp_path: Path) -> None:
    """A plain ``pip install`` of the package, in a new virtual environment, enables it."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    # The wheel is built from this checkout (npm builds the front end during the build).
    done = subprocess.run(
        [*pip, str(root)], capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    listed = subprocess.run(
        [str(venv / "bin" / "jupyter"), "server", "extension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = listed.stdout + listed.stderr
    assert "nb_sse_signals" in output
    line = next(
        line for line in output.splitlines() if "nb_sse_signals" in line and "enabled" in line
    )
    assert "enabled" in line


@pytest.mark.skipif(not available(), reason=missing("redis-server", "scripts/setup.sh installs it"))
def test_two_jupyter_servers_share_signals_through_redis_set_by_config_or_environment(
    tmp_path: Path,
) -> None:
    from nb_sse_signals import RedisPublisher

    with RedisServer(tmp_path / "redis") as redis_server:
        by_config = tmp_path / "by-config"
        (by_config / "config").mkdir(parents=True)
        (by_config / "config" / "jupyter_server_config.json").write_text(
            json.dumps({"SignalsExtension": {"redis_url": redis_server.url}})
        )
        servers = [
            start_jupyter(by_config),
            start_jupyter(tmp_path / "by-env", env={ENV_REDIS_URL: redis_server.url}),
        ]
        try:
            with RedisPublisher(redis_server.url) as publisher:
                publisher.declare("shared/run", {"step": 1})
                publisher.set("shared/run", {"step": 2})
            for server in servers:

                def snapshot(server: JupyterServer = server) -> Any:
                    reply = httpx.get(
                        f"{server.url}{SNAPSHOT_PATH}?signal=shared/run",
                        headers=server.headers,
                        timeout=10,
                    )
                    return reply.json() if reply.status_code == 200 else None

                # Each server's hub applies Redis's stream a moment after the publisher.
                got = wait_until(lambda: (s := snapshot()) and s[0]["rev"] == 1 and s, 10)
                assert got[0]["patch"][0]["value"] == {"step": 2}
        finally:
            for server in servers:
                server.stop()


def test_a_kernels_signals_are_kept_while_the_kernel_exists_and_nothing_else_is() -> None:
    from types import SimpleNamespace

    from nb_sse_signals._serverext import _kernel_lives

    # A stand-in for serverapp.kernel_manager: the predicate asks only for the ids.
    ids = ["3f2a9c1e-77aa-4b1c-9d2e-0123456789ab"]
    lives = _kernel_lives(
        SimpleNamespace(kernel_manager=SimpleNamespace(list_kernel_ids=lambda: ids))
    )
    assert lives("k-3f2a9c1e77aa/count")
    assert not lives("k-3f2a9c1e77ab/count"), "another kernel's scope"
    assert not lives("count"), "a shared key belongs to no kernel"
    assert not lives("k-3f2a9c1e77aa"), "no scope without a name after it"
    ids.clear()  # shut down
    assert not lives("k-3f2a9c1e77aa/count")
    assert not _kernel_lives(SimpleNamespace())("k-3f2a9c1e77aa/count"), "no kernel manager"


def test_a_living_kernels_keys_share_one_quota_scope_and_nothing_else_does() -> None:
    from types import SimpleNamespace

    from nb_sse_signals._serverext import _kernel_scope

    ids = ["3f2a9c1e-77aa-4b1c-9d2e-0123456789ab"]
    scope_of = _kernel_scope(
        SimpleNamespace(kernel_manager=SimpleNamespace(list_kernel_ids=lambda: ids))
    )
    assert scope_of("k-3f2a9c1e77aa/count") == "k-3f2a9c1e77aa"
    assert scope_of("k-3f2a9c1e77aa/other") == "k-3f2a9c1e77aa"
    assert scope_of("k-000000000000/count") is None, "no such kernel: the connection's own"
    assert scope_of("count") is None
