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


async def test_signal_url_in_jupyter_is_a_path_read_with_the_jupyter_token_as_the_readme_says(
    jupyter: JupyterServer, kernel: Kernel
) -> None:
    # README: a path on the Jupyter server (under its base_url), s.token None, and
    # curl with the server's address in front and its token in the header.
    code = "%load_ext nb_sse_signals\n" + SETUP + "print(s.token)\n"
    url, token = (await kernel.run(code)).split()
    assert token == "None"
    path = (await kernel.run("print(get_ipython().run_line_magic('signal_url', 'count'))")).strip()
    assert path == url
    assert path.startswith("/prefix/nb-sse-signals/events?signal=k-")
    [snapshot] = await collect(jupyter, path, 1)
    assert reconstruct([snapshot])[path.split("signal=")[1]] == {"value": 0, "log": []}


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


def test_head_on_the_snapshot_endpoint_answers_the_status_only_behind_jupyters_auth(
    jupyter: JupyterServer,
) -> None:
    url = jupyter.url + "nb-sse-signals/snapshot"
    unknown = httpx.head(url, params={"signal": "never-declared"}, headers=jupyter.headers)
    assert (unknown.status_code, unknown.content) == (404, b"")
    anonymous = httpx.head(url, params={"signal": "never-declared"}, cookies={}, timeout=10)
    assert anonymous.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": f"token {TOKEN}"},
        {"X-Signals-Publish-Secret": "wrong"},
    ],
    ids=["none", "jupyter-token", "wrong-secret"],
)
def test_the_publish_endpoint_rejects_anything_but_the_publish_secret(
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


TENANT_SETUP = """
import json, os
from nb_sse_signals import ServerSignal
diary = ServerSignal("diary", {"entry": "{who}'s"})
board = ServerSignal("board", "{who}", shared=True)
leaked = [k for k, v in os.environ.items() if "redis" in k.lower() or "{password}" in v]
print(json.dumps({"diary": diary.key, "leaked": leaked}))
"""

TRESPASS = """
import json
from nb_sse_signals import ServerSignal
scope, _, name = {key!r}.partition("/")
mine = ServerSignal(name, {{"entry": "bob's"}}, scope=scope)
mine.close()
board = ServerSignal("board", "bob", shared=True)
board.close()
print(json.dumps(mine.key))
"""


@pytest.mark.skipif(not available(), reason="redis-server is not installed (scripts/setup.sh)")
async def test_two_users_on_one_redis_never_see_or_change_each_others_signals(
    tmp_path: Path,
) -> None:
    """JupyterHub's case: alice's and bob's servers (own logins, own JUPYTERHUB_USER) get
    the same Redis URL. Alice's second server shares her signals; bob's server never
    serves them, and his kernel cannot replace or close them whatever keys it uses.
    No kernel inherits the Redis URL or its password."""
    from nb_sse_signals._backplane import DEFAULT_PREFIX

    password = "redis-pass-4u"
    with RedisServer(tmp_path / "redis", password=password) as redis_server:
        env = {ENV_REDIS_URL: redis_server.url}
        servers = []
        try:
            for name, user, token in [
                ("alice", "alice", "alice-token"),
                ("alice2", "alice", "alice-token-2"),
                ("bob", "bob", "bob-token"),
            ]:
                root = tmp_path / name
                servers.append(
                    start_jupyter(root, env={**env, "JUPYTERHUB_USER": user}, token=token)
                )
            alice, alice2, bob = servers
            # Her kernel lives to the end: a kernel shut down has its signals closed.
            hers = await Kernel.start(alice)
            out = await hers.run(
                TENANT_SETUP.replace("{who}", "alice").replace("{password}", password)
            )
            setup = json.loads(out)
            key = setup["diary"]
            assert setup["leaked"] == [], "a kernel inherited a Redis credential"

            def snapshot(server: JupyterServer, name: str, login: Any = None) -> Any:
                reply = httpx.get(
                    f"{server.url}{SNAPSHOT_PATH}", params={"signal": name},
                    headers=(login or server).headers, timeout=10,
                )  # fmt: skip
                return reply.json()[0] if reply.status_code == 200 else reply.status_code

            def value(server: JupyterServer, name: str) -> Any:
                got = snapshot(server, name)
                return got if isinstance(got, int) else (got["rev"], got["patch"][0]["value"])

            # Her second server has them (after its feed applied them); bob's never does.
            wait_until(lambda: value(alice2, key) == (0, {"entry": "alice's"}), 10, "alice2")
            assert value(alice2, "board") == (0, "alice")
            assert snapshot(bob, key) == 404
            assert snapshot(bob, "board") == 404
            # Her login does not open his server either (another token).
            assert snapshot(bob, key, login=alice) == 403

            kernel = await Kernel.start(bob)
            try:
                bobs = json.loads(await kernel.run(TRESPASS.format(key=key)))
                leaked = await kernel.run(
                    TENANT_SETUP.replace("{who}", "bob").replace("{password}", password)
                )
            finally:
                await kernel.shutdown()
            assert bobs == key, "his kernel used her very key"
            assert json.loads(leaked)["leaked"] == []
            # His value and his close stayed his: hers are as they were, on both servers.
            for server in (alice, alice2):
                assert value(server, key) == (0, {"entry": "alice's"})
                assert value(server, "board") == (0, "alice")
            assert snapshot(bob, "board")["rev"] == 1  # (his own, redeclared in TENANT_SETUP)

            import redis

            client = redis.Redis.from_url(redis_server.url)
            try:
                keys = [k.decode() for k in client.keys("*")]
            finally:
                client.close()
            assert keys, "the servers use Redis"
            assert all(
                k.startswith((f"{DEFAULT_PREFIX}user:alice:", f"{DEFAULT_PREFIX}user:bob:"))
                for k in keys
            ), keys
            await hers.shutdown()
        finally:
            for server in servers:
                server.stop()


def test_a_servers_redis_namespace_is_its_users_unless_a_shared_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from traitlets.config import Config

    from nb_sse_signals._serverext import SignalsExtension

    def prefix(**options: str) -> str:
        return str(SignalsExtension(config=Config({"SignalsExtension": options})).key_prefix())

    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    assert prefix() == "nb_sse_signals:", "one deployment: the prefix alone"
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    assert prefix() == "nb_sse_signals:user:alice:"
    assert prefix(redis_prefix="lab:") == "lab:user:alice:"
    assert prefix(redis_namespace="team") == "nb_sse_signals:shared:team:", "explicitly shared"
    # A name cannot reach into another's namespace, nor hold an ACL glob character.
    monkeypatch.setenv("JUPYTERHUB_USER", "alice:x*")
    assert prefix() == "nb_sse_signals:user:alice%3Ax%2A:"


PUBLISH_FOREVER = """
import threading, time
from nb_sse_signals import ServerSignal
s = ServerSignal("ticks", {"n": 0}, max_rate=100)
stop = threading.Event()
def tick():
    n = 0
    while not stop.is_set():
        n += 1
        s.set({"n": n})
        time.sleep(0.01)
threading.Thread(target=tick, daemon=True).start()
print(s.key)
"""


@pytest.mark.skipif(not available(), reason="redis-server is not installed (scripts/setup.sh)")
async def test_jupyter_answers_at_once_while_redis_is_stopped_and_converges_once_it_is_back(
    tmp_path: Path,
) -> None:
    import os
    import signal
    import time

    with RedisServer(tmp_path / "redis") as redis_server:
        assert redis_server.proc is not None
        pid = redis_server.proc.pid  # the redis-server this test started, and only it
        server = start_jupyter(tmp_path / "jupyter", env={ENV_REDIS_URL: redis_server.url})
        stopped = False
        try:
            kernel = await Kernel.start(server)
            key = (await kernel.run(PUBLISH_FOREVER)).strip()
            async with httpx.AsyncClient(timeout=30) as client:

                async def status() -> float:
                    start = time.monotonic()
                    reply = await client.get(server.url + "api/status", headers=server.headers)
                    assert reply.status_code == 200
                    return time.monotonic() - start

                async def snapshot() -> Any:
                    reply = await client.get(
                        f"{server.url}{SNAPSHOT_PATH}", params={"signal": key},
                        headers=server.headers,
                    )  # fmt: skip
                    return reply.json()[0] if reply.status_code == 200 else None

                os.kill(pid, signal.SIGSTOP)
                stopped = True
                waits = []
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:  # the kernel publishes all along
                    waits.append(await status())
                    await asyncio.sleep(0.1)
                os.kill(pid, signal.SIGCONT)
                stopped = False
                # A loop that waited for Redis would stall for its 5 s timeout per
                # commit; one that does not answers in far less, even on a busy machine.
                assert max(waits) < 2.5, sorted(waits)[-5:]
                await kernel.run("stop.set(); time.sleep(0.2); s.set({'n': 'last'})")
                deadline = time.monotonic() + 40
                while True:
                    got = await snapshot()
                    if got and got["patch"][0]["value"] == {"n": "last"}:
                        break
                    assert time.monotonic() < deadline, f"never converged: {got}"
                    await asyncio.sleep(0.2)
            await kernel.shutdown()
        finally:
            if stopped:
                os.kill(pid, signal.SIGCONT)
            server.stop()
