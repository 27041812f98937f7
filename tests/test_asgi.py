"""The ASGI app beyond the protocol suite (which runs it in test_handlers and
test_publish_endpoint): the README's FastAPI example as a real uvicorn process, one
hub served by Tornado and ASGI at once, and what only a mounted app can get wrong."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sseclient

from nb_sse_signals import SignalHub
from nb_sse_signals._protocol import parse_change
from nb_sse_signals._server import Server

from .conftest import SECRET, TOKEN, wait_until
from .jupyter import free_port
from .servers import AsgiServer

README = Path(__file__).parent.parent / "README.md"


def readme_example() -> str:
    text = README.read_text()
    found = re.search(r"<!-- fastapi-example:.*?-->\n```python\n(.*?)```", text, re.S)
    assert found, "README.md lost its FastAPI example (the marker comment before it)"
    return found.group(1)


def sse_events(response: httpx.Response) -> Iterator[Any]:
    """sseclient-py over an httpx stream: the events a browser would dispatch."""
    return iter(sseclient.SSEClient(response.iter_bytes()).events())


@pytest.fixture
def readme_app(tmp_path: Path) -> Iterator[str]:
    """The README's example, run as a real `uvicorn app:app` process; stopped by its pid."""
    (tmp_path / "app.py").write_text(readme_example())
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def listening() -> bool:
            assert proc.poll() is None, f"uvicorn exited: {proc.stderr.read().decode()}"  # type: ignore[union-attr]
            try:
                return httpx.get(url + "/docs", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(listening, timeout=20, what="the README's FastAPI app to listen")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stderr.close()  # type: ignore[union-attr]


def test_the_readme_fastapi_example_serves_the_signal_it_changes(readme_app: str) -> None:
    assert len(readme_example().strip().splitlines()) <= 12, "keep the example short"
    events_url = readme_app + "/signals/nb-sse-signals/events"
    with (
        httpx.Client(timeout=5) as client,
        client.stream(
            "GET",
            events_url,
            params={"signal": "clicks"},
            headers={"Authorization": "token change-me"},
        ) as resp,
    ):
        assert resp.status_code == 200
        events = sse_events(resp)
        assert parse_change(next(events).data).patch[0]["value"] == 0
        for n in (1, 2):
            assert client.post(readme_app + "/click").json() == {"rev": n}
            change = parse_change(next(events).data)
            assert (change.rev, change.patch) == (
                n,
                [{"op": "replace", "path": "", "value": n}],
            )
    refused = httpx.get(events_url, params={"signal": "clicks"}, timeout=5)
    assert refused.status_code == 403
    assert "subscriber credentials" in refused.json()["error"]


def test_one_hub_serves_tornado_and_asgi_viewers_at_once() -> None:
    hub = SignalHub()
    hub.declare("shared", {"n": 0})
    tornado = Server(hub, port=0, token=TOKEN, publish_secret=SECRET).start()
    try:
        # uvicorn on the Tornado server's loop: a hub serves subscribers on one loop.
        asgi = AsgiServer(hub, token=TOKEN, publish_secret=SECRET, loop=tornado._loop).start()
        try:
            auth = {"Authorization": f"token {TOKEN}"}
            with (
                httpx.Client(timeout=5, headers=auth) as client,
                client.stream(
                    "GET", tornado.url + "nb-sse-signals/events", params={"signal": "shared"}
                ) as via_tornado,
                client.stream(
                    "GET", asgi.url + "nb-sse-signals/events", params={"signal": "shared"}
                ) as via_asgi,
            ):
                streams = [sse_events(via_tornado), sse_events(via_asgi)]
                for events in streams:
                    assert parse_change(next(events).data).is_snapshot
                # One change posted to each server; every viewer sees both, in order.
                for url, n in ((asgi.url, 1), (tornado.url, 2)):
                    body = orjson.dumps({"op": "set", "name": "shared", "value": {"n": n}})
                    posted = client.post(
                        url + "nb-sse-signals/publish",
                        content=body,
                        headers={"X-Signals-Publish-Secret": SECRET},
                    )
                    assert posted.json() == {"ok": True, "rev": n}
                for events in streams:
                    assert [parse_change(next(events).data).rev for _ in (1, 2)] == [1, 2]
                assert hub.subscriber_count("shared") == 2
        finally:
            asgi.stop()
    finally:
        tornado.stop()
    assert hub.get("shared") == (2, {"n": 2})


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "nb-sse-signals/elsewhere", 404, "expected a path of nb_sse_signals"),
        ("POST", "nb-sse-signals/events", 405, "expected GET, got POST"),
        ("PUT", "nb-sse-signals/publish", 405, "expected POST or a WebSocket, got PUT"),
    ],
)
def test_a_mounted_app_answers_wrong_paths_and_methods_with_json(
    method: str, path: str, status: int, message: str
) -> None:
    srv = AsgiServer(token=TOKEN, publish_secret=SECRET, mount="/deep/mount").start()
    try:
        resp = httpx.request(method, srv.url + path, timeout=5)
    finally:
        srv.stop()
    assert resp.status_code == status
    assert message in resp.json()["error"]


def test_end_streams_ends_every_open_stream_at_once() -> None:
    srv = AsgiServer(token=TOKEN, publish_secret=SECRET).start()
    try:
        srv.hub.declare("a", 1)
        with (
            httpx.Client(timeout=5) as client,
            client.stream(
                "GET", srv.url + "nb-sse-signals/events", params={"signal": "a", "token": TOKEN}
            ) as resp,
        ):
            events = sse_events(resp)
            next(events)
            assert srv._loop is not None
            started = time.monotonic()
            srv._loop.call_soon_threadsafe(srv.app.end_streams)
            assert list(events) == [], "the stream should end with nothing more"
            assert time.monotonic() - started < 4, "the stream should end at once"
        wait_until(lambda: srv.hub.subscriber_count() == 0, what="the subscriber to leave")
    finally:
        srv.stop()
