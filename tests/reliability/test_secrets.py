"""Secrets stay secret: no token in any log line, no server without a token unless
asked for on loopback, the demo cookie only from a valid token (issue 12, item 4)."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx
import pytest

from nb_sse_signals._protocol import ENV_TOKEN
from nb_sse_signals._server import Server

from ..conftest import TOKEN
from ..jupyter import stop_process


def test_no_token_reaches_the_access_log_or_a_rejection_log_line(
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


def test_the_cli_rejects_an_empty_token_unless_told_no_auth(tmp_path: Path) -> None:
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
        cookie = f"nb_sse_signals_token_{server.port}"
        assert good.headers.get("set-cookie", "").startswith(cookie + "=")
        # A planted ?token= is refused and never becomes the cookie, even beside a
        # valid cookie.
        cookies = {cookie: TOKEN}
        planted = httpx.get(server.url, params={"token": "planted"}, cookies=cookies, timeout=5)
        assert planted.status_code == 403
        assert "set-cookie" not in planted.headers
    finally:
        server.stop()


def test_two_servers_on_one_host_keep_their_own_demo_cookie() -> None:
    # Cookies ignore ports: one browser (one cookie jar) on two servers of one host.
    with (
        Server(token="token-a") as a,
        Server(token="token-b") as b,
        httpx.Client(timeout=5) as client,
    ):
        assert client.get(a.url, params={"token": "token-a"}).status_code == 200
        assert client.get(b.url, params={"token": "token-b"}).status_code == 200
        for server in (a, b):
            server.hub.declare("x", 1)
            answer = client.get(server.url + "nb-sse-signals/snapshot", params={"signal": "x"})
            assert answer.status_code == 200, (
                f"{server.url}'s cookie was overwritten: {answer.text}"
            )


def _serve(
    *args: str,
    env: dict[str, str] | None = None,
    probe: Callable[[str], None] | None = None,
    timeout: float = 20,
) -> str:
    """All that ``nb-sse-signals serve --port 0 ARGS`` wrote (out and err) once it
    serves, after ``probe(url)`` ran against it; stopped with SIGINT. Fails the test
    if it exits first."""
    script = Path(sys.executable).parent / "nb-sse-signals"
    environ = {k: v for k, v in os.environ.items() if k != ENV_TOKEN} | (env or {})
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(
            [str(script), "serve", "--port", "0", *args], stdout=out, stderr=out, env=environ
        )
        try:
            deadline = time.monotonic() + timeout
            while not (
                found := re.search(r"serving at (\S+)\n.*token: .*\n.*secret", _read(out), re.S)
            ):
                assert proc.poll() is None, f"the server exited: {_read(out)}"
                assert time.monotonic() < deadline, f"no URL printed: {_read(out)}"
                time.sleep(0.05)
            if probe is not None:
                probe(found.group(1))
            return _read(out)
        finally:
            stop_process(proc, signal.SIGINT, grace=10)


def _read(file: IO[str]) -> str:
    file.seek(0)
    return file.read()


def test_the_cli_takes_its_token_from_a_file_or_the_environment_and_does_not_echo_it(
    tmp_path: Path,
) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text("from-a-file-0123456789\n")
    for args, env, token in (
        (["--token-file", str(secret_file)], None, "from-a-file-0123456789"),
        ([], {ENV_TOKEN: "from-the-env-0123456789"}, "from-the-env-0123456789"),
    ):

        def probe(url: str, token: str = token) -> None:
            snapshot = url + "nb-sse-signals/snapshot?signal=x"
            assert httpx.get(snapshot, timeout=5).status_code == 403
            auth = {"Authorization": f"token {token}"}
            assert httpx.get(snapshot, headers=auth, timeout=5).status_code != 403

        output = _serve(*args, env=env, probe=probe)
        assert token not in output, f"the token was echoed: {output}"
        assert "subscriber token: (from " in output, output
        assert "visible to every user" not in output, output
    output = _serve("--token-file", str(secret_file), "--demo")
    assert "?token=<the token>" in output, output
    assert "from-a-file" not in output, output


def test_the_cli_warns_that_a_token_on_the_command_line_is_visible_in_ps() -> None:
    output = _serve("--token", "on-the-command-line")
    assert "--token is visible to every user of this machine" in output, output
    assert "--token-file" in output


def test_the_cli_says_what_is_wrong_with_a_token_file(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "nb-sse-signals"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path, message in (
        (tmp_path / "missing", "expected a readable --token-file"),
        (empty, "expected a non-empty token from --token-file"),
    ):
        done = subprocess.run(
            [str(script), "serve", "--port", "0", "--token-file", str(path)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert message in done.stderr, done.stderr


def test_a_redis_url_of_an_unknown_scheme_is_rejected_without_its_password() -> None:
    script = Path(sys.executable).parent / "nb-sse-signals"
    done = subprocess.run(
        [str(script), "serve", "--port", "0", "--redis", "http://user:hunter2@redis.example:6379/0?password=hunter3"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode != 0, done.stderr
    assert "expected a redis://, rediss:// or unix:// URL" in done.stderr, done.stderr
    assert "hunter" not in done.stderr + done.stdout, done.stderr
    assert "http://***@redis.example:6379/0?password=[secret]" in done.stderr, done.stderr
