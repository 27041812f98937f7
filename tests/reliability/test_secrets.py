"""Secrets stay secret: no token in any log line, no server without a token unless
asked for on loopback, the demo cookie only from a valid token (issue 12, item 4)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from nb_sse_signals._server import Server

from ..conftest import TOKEN


def test_no_token_reaches_the_access_log_or_a_refusal_log_line(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.hub.declare("a", 1)
    caplog.set_level(logging.DEBUG)
    events = server.url + "nb-sse-signals/snapshot"
    assert httpx.get(events, params={"signal": "a", "token": TOKEN}, timeout=5).status_code == 200
    assert httpx.get(events, params={"signal": "a", "token": "guess"}, timeout=5).status_code == 403
    # Ours and tornado's (the client's own request log is not the server's).
    lines = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("tornado", "nb_sse_signals"))
    )
    assert "token=[secret]" in lines, "the requests were logged"
    assert TOKEN not in lines
    assert "guess" not in lines


def test_an_empty_token_needs_no_auth_which_needs_loopback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ValueError, match="expected a non-empty subscriber token"):
        Server(token="")
    with pytest.raises(ValueError, match="expected a loopback host with no_auth"):
        Server(host="0.0.0.0", no_auth=True)
    server = Server(no_auth=True).start()
    try:
        assert "WITHOUT a subscriber token" in caplog.text
        server.hub.declare("open", 1)
        answer = httpx.get(server.url + "nb-sse-signals/snapshot?signal=open", timeout=5)
        assert answer.status_code == 200
    finally:
        server.stop()


def test_the_cli_refuses_an_empty_token_unless_told_no_auth(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "nb-sse-signals"
    done = subprocess.run(
        [str(script), "serve", "--token", "", "--port", "0"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "say --no-auth" in done.stderr
    done = subprocess.run(
        [str(script), "serve", "--no-auth", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "loopback" in done.stderr


def test_the_demo_page_sets_its_cookie_only_from_a_valid_token() -> None:
    server = Server(token=TOKEN, demo=False).start()
    try:
        good = httpx.get(server.url, params={"token": TOKEN}, timeout=5)
        assert good.status_code == 200
        assert "nb_sse_signals_token" in good.headers.get("set-cookie", "")
        # A planted ?token= is refused and never becomes the cookie, even beside a
        # valid cookie.
        cookies = {"nb_sse_signals_token": TOKEN}
        planted = httpx.get(server.url, params={"token": "planted"}, cookies=cookies, timeout=5)
        assert planted.status_code == 403
        assert "set-cookie" not in planted.headers
    finally:
        server.stop()
