"""The standalone server: the console script with --demo, and the in-process Python API."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nb_sse_signals import ServerSignal, serve
from nb_sse_signals._protocol import parse_change
from nb_sse_signals._server import Server

from .test_handlers import read_events, reconstruct


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``nb-sse-signals serve --demo --port 0`` as a subprocess; yields (url, token)."""
    script = Path(sys.executable).parent / "nb-sse-signals"
    out = tmp_path / "serve.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [str(script), "serve", "--demo", "--port", "0"], stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 20
        while not (match := re.search(r"serving at (\S+)\n.*token: (\S+)", out.read_text(), re.S)):
            assert proc.poll() is None, f"the server exited: {out.read_text()}"
            assert time.monotonic() < deadline, f"no URL printed: {out.read_text()}"
            time.sleep(0.05)
        yield match.group(1), match.group(2)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


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
