"""The standalone server: the console script with --demo, and the in-process Python API."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nb_sse_signals import LimitError, Limits, ServerSignal, serve
from nb_sse_signals._protocol import parse_change
from nb_sse_signals._server import Server

from .jupyter import stop_process
from .test_handlers import read_events, reconstruct


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``nb-sse-signals serve --demo --port 0`` as a subprocess; yields (url, token)."""
    with serving(tmp_path / "serve.out", ["--demo"]) as (url, token, _):
        yield url, token


@contextlib.contextmanager
def serving(
    out: Path, args: list[str], env: dict[str, str] | None = None
) -> Iterator[tuple[str, str, str]]:
    """``nb-sse-signals serve --port 0 ARGS``; yields (url, token, all it printed), then
    stops it by its own pid."""
    script = Path(sys.executable).parent / "nb-sse-signals"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [str(script), "serve", "--port", "0", *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    try:
        deadline = time.monotonic() + 20
        while not (match := re.search(r"serving at (\S+)\n.*token: (\S+)", out.read_text(), re.S)):
            assert proc.poll() is None, f"the server exited: {out.read_text()}"
            assert time.monotonic() < deadline, f"no URL printed: {out.read_text()}"
            time.sleep(0.05)
        time.sleep(0.1)  # the rest of what it prints at start
        yield match.group(1), match.group(2), out.read_text()
    finally:
        stop_process(proc, signal.SIGINT, grace=10)


def test_demo_binds_loopback_prints_its_url_and_a_random_token(demo: tuple[str, str]) -> None:
    url, token = demo
    assert url.startswith("http://127.0.0.1:")
    assert len(token) >= 20


def test_demo_counter_and_readings_change_every_second(demo: tuple[str, str]) -> None:
    url, token = demo
    with (
        httpx.Client(timeout=10) as client,
        client.stream(
            "GET",
            url + "nb-sse-signals/events",
            params={"signal": ["count", "readings"]},
            headers={"Authorization": f"token {token}"},
        ) as resp,
    ):
        datas = []
        for line in resp.iter_lines():
            if line.startswith("data: "):
                datas.append(parse_change(line[6:]))
            if len(datas) == 6:
                break
    counts = [c for c in datas if c.name == "count" and not c.is_snapshot]
    readings = [c for c in datas if c.name == "readings" and not c.is_snapshot]
    assert counts
    assert counts[0].patch[0]["path"] == "/value"
    assert readings
    assert readings[0].patch[-1]["op"] == "add", "readings grow by add ops, not whole replaces"


def test_demo_page_needs_the_token_once_then_uses_a_cookie(demo: tuple[str, str]) -> None:
    url, token = demo
    assert httpx.get(url, timeout=10).status_code == 403
    with httpx.Client(timeout=10) as client:
        page = client.get(url, params={"token": token})
        assert page.status_code == 200
        assert "EventSource" in page.text or "client.js" in page.text
        port = httpx.URL(url).port
        assert client.cookies.get(f"nb_sse_signals_token_{port}") == token
        snapshot = client.get(url + "nb-sse-signals/snapshot", params={"signal": "count"})
        assert snapshot.status_code == 200
    assert httpx.get(url + "static/client.js", timeout=10).status_code == 200


def test_a_port_in_use_is_a_clear_error(server: Server) -> None:
    script = Path(sys.executable).parent / "nb-sse-signals"
    done = subprocess.run(
        [str(script), "serve", "--port", str(server.port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 1
    assert f"cannot serve on 127.0.0.1:{server.port}" in done.stderr


def test_a_script_can_start_a_server_in_a_thread_and_publish_to_it() -> None:
    with serve(port=0) as server:
        s = ServerSignal("temps", [20.5], server=server)
        assert s.key == "temps", "outside a kernel, names are keys as they are"
        assert s.url == f"{server.url}nb-sse-signals/events?signal=temps"
        with s.mutate() as doc:
            doc.append(21.0)
        server.publisher.flush()
        events = read_events_with_token(server, [s.key], 1)
    assert reconstruct(events)[s.key] == [20.5, 21.0]


def read_events_with_token(server: Server, names: list[str], count: int) -> list[object]:
    headers = {"Authorization": f"token {server.token}"}
    return read_events(server, names, count, headers=headers)


def test_a_change_over_the_message_limit_is_rejected_in_process_too() -> None:
    # Over the WebSocket the hub's handshake tells set() the limit; in process, the
    # hub itself does: the same LimitError, before anything changes.
    with serve(port=0, limits=Limits(message_bytes=1_000)) as server:
        s = ServerSignal("big", {"xs": []}, server=server)
        with pytest.raises(LimitError, match="at most 1,000 bytes"):
            s.set({"xs": ["y" * 2_000]})
        with pytest.raises(LimitError), s.mutate() as doc:
            doc["xs"].append("y" * 2_000)
        assert s.value == {"xs": []}, "nothing changed"
        s.set({"xs": ["y"]})
        server.publisher.flush()
        assert server.hub.get("big") == (1, {"xs": ["y"]})
        with pytest.raises(Exception, match="1,000"):
            ServerSignal("huge", "y" * 2_000, server=server)
        assert "huge" not in server.hub.names()


def test_hubs_behind_one_load_balancer_share_a_publish_secret_from_a_file_or_the_environment(
    tmp_path: Path,
) -> None:
    shared = "one-secret-for-every-hub"
    (tmp_path / "secret").write_text(shared + "\n")
    message = {"op": "declare", "name": "load", "value": 0.7}
    with (
        serving(tmp_path / "a.out", ["--publish-secret-file", str(tmp_path / "secret")]) as a,
        serving(tmp_path / "b.out", [], env={"NB_SSE_SIGNALS_PUBLISH_SECRET": shared}) as b,
        serving(tmp_path / "c.out", [], env={"NB_SSE_SIGNALS_PUBLISH_SECRET": ""}) as c,
    ):
        for url, _, printed in (a, b):
            resp = httpx.post(
                url + "nb-sse-signals/publish",
                json=message,
                headers={"X-Signals-Publish-Secret": shared},
                timeout=10,
            )
            assert resp.json() == {"ok": True, "rev": 0}, printed
            assert shared not in printed, "a secret the user gave is not echoed"
        assert "(from " in a[2]
        assert "NB_SSE_SIGNALS_PUBLISH_SECRET" in b[2]
        resp = httpx.post(
            c[0] + "nb-sse-signals/publish",
            json=message,
            headers={"X-Signals-Publish-Secret": shared},
            timeout=10,
        )
        assert resp.status_code == 403, "without one, each hub makes its own"


def test_an_empty_publish_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("\n")
    script = Path(sys.executable).parent / "nb-sse-signals"
    done = subprocess.run(
        [str(script), "serve", "--port", "0", "--publish-secret-file", str(tmp_path / "secret")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "expected a publish secret in" in done.stderr


def test_wait_blocks_until_the_server_stops() -> None:
    server = serve(port=0)
    try:
        assert server.wait(timeout=0.3) is False, "still serving"
        threading.Timer(0.2, server.stop).start()
        assert server.wait(timeout=10) is True
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url, timeout=2)
    finally:
        server.stop()


def test_a_script_that_ends_in_wait_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "serve.py"
    script.write_text(
        "from nb_sse_signals import serve\n"
        "server = serve(port=0)\n"
        "print(server.url, flush=True)\n"
        "server.wait()\n"
        "print('stopped', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        assert httpx.get(url + "nope", timeout=5).status_code == 404, "it serves"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err
    assert out == b"stopped\n"
    assert b"Traceback" not in err


def test_the_command_logs_each_line_with_one_prefix(tmp_path: Path) -> None:
    with serving(tmp_path / "serve.out", ["--no-auth"]) as (url, _, _):
        httpx.get(url + "nb-sse-signals/events", timeout=5)  # a 400, logged by tornado
        time.sleep(0.3)
        printed = (tmp_path / "serve.out").read_text()
    assert "nb_sse_signals: serving WITHOUT a subscriber token" in printed
    assert "nb_sse_signals: nb_sse_signals:" not in printed, printed
    assert "tornado.access: 400 GET" in printed, "other loggers keep their name"
