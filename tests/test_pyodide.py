"""The package in the real Pyodide runtime (JupyterLite's kernel), under Node.

The project's wheel and pure wheels of its dependencies from PyPI are unpacked into
the npm ``pyodide`` package's runtime, as micropip installs them in JupyterLite
(scripts/setup.sh fetches both). ``tests/pyodide/scenario.py`` then makes a signal,
shows its widget, sets and mutates it and tries bad values, with the kernel's comm
stood in for only where it would send to the page. The same scenario runs in CPython
here: both must end alike, and what the page would get must follow the protocol's
client rules (tests/vectors/client_rules.json) to the last value.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from . import test_signal_state
from .wheel import built

HERE = Path(__file__).resolve().parent / "pyodide"
SCENARIO = HERE / "scenario.py"
VECTORS = json.loads((Path(__file__).parent / "vectors" / "client_rules.json").read_text())
WIDGET_JS = Path(__file__).resolve().parents[1] / "nb_sse_signals" / "static" / "widget.js"

pytestmark = pytest.mark.slow


def _runtime() -> tuple[str, list[Path]]:
    """Node and the fetched wheels; skipped where Node is missing, except in CI."""
    node = shutil.which("node")
    wheels = sorted((HERE / "wheels").glob("*.whl"))
    missing = []
    if node is None:
        missing.append("node is not on PATH")
    elif not (HERE / "node_modules" / "pyodide").is_dir():
        missing.append("tests/pyodide/node_modules/pyodide is missing")
    if not wheels:
        missing.append("tests/pyodide/wheels/ holds no wheels")
    if missing:
        reason = "; ".join(missing) + " (bash scripts/setup.sh fetches them)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Pyodide test: {reason}")
        if node is None:
            pytest.skip(f"the Pyodide test runs Pyodide under Node: {reason}")
        pytest.fail(reason)  # Node is there: setup was not run, say so instead of skipping
    assert node is not None
    return node, wheels


def _result(output: str) -> dict[str, Any]:
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the scenario printed no result:\n{output}"
    return dict(json.loads(lines[-1][len("RESULT ") :]))


@pytest.fixture(scope="module")
def in_pyodide(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    node, wheels = _runtime()
    script = tmp_path_factory.mktemp("pyodide") / "scenario_main.py"
    # Pyodide runs a script with top-level await.
    script.write_text(
        SCENARIO.read_text() + '\nimport json\nprint("RESULT " + json.dumps(await main()))\n'
    )
    done = subprocess.run(
        [node, str(HERE / "run.mjs"), str(script), str(built().wheel), *map(str, wheels)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"Pyodide failed:\n{done.stdout}\n{done.stderr}"
    return _result(done.stdout)


@pytest.fixture(scope="module")
def in_cpython(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    script = tmp_path_factory.mktemp("cpython") / "scenario_main.py"
    script.write_text(
        SCENARIO.read_text() + '\nimport json\nprint("RESULT " + json.dumps(asyncio.run(main())))\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NB_SSE_SIGNALS_")}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, f"CPython failed:\n{done.stdout}\n{done.stderr}"
    return _result(done.stdout)


def test_pyodide_publishes_over_the_widgets_comm_with_no_thread_no_socket_no_tornado(
    in_pyodide: dict[str, Any],
) -> None:
    assert in_pyodide["platform"] == "emscripten"
    assert in_pyodide["python"].startswith("3.14")
    assert in_pyodide["backend"] == "json", "orjson has no Pyodide wheel on PyPI"
    assert in_pyodide["transport"] == "comm"
    assert in_pyodide["threads"] == 1
    assert not in_pyodide["publisher_thread"]
    assert not in_pyodide["tornado_imported"]


def test_set_and_mutate_end_alike_in_pyodide_and_cpython(
    in_pyodide: dict[str, Any], in_cpython: dict[str, Any]
) -> None:
    assert in_pyodide["value"] == in_cpython["value"] == {"n": 100, "items": [45, "end"]}


def test_a_bad_value_raises_the_same_error_with_the_same_message_in_pyodide(
    in_pyodide: dict[str, Any], in_cpython: dict[str, Any]
) -> None:
    assert in_cpython["backend"] == "orjson"
    assert all(kind == "NotJSONError" for _, kind, _ in in_cpython["errors"]), in_cpython
    assert in_pyodide["errors"] == in_cpython["errors"]


def test_asking_for_a_server_in_pyodide_says_why_there_is_none(
    in_pyodide: dict[str, Any],
) -> None:
    assert in_pyodide["url"].startswith("SignalsError: expected a Python with threads and sockets")


def test_the_widget_ships_the_built_front_end_in_pyodide(in_pyodide: dict[str, Any]) -> None:
    state = in_pyodide["widget_state"]
    assert state["transport"] == "comm"
    assert state["name"] == "lite"
    assert in_pyodide["esm_bytes"] == len(WIDGET_JS.read_bytes())


def test_what_the_page_gets_follows_the_protocols_client_rules(
    in_pyodide: dict[str, Any],
) -> None:
    vector_messages = [s["message"] for c in VECTORS["cases"] for s in c["steps"] if "message" in s]
    assert in_pyodide["custom"], "nothing was sent to the page"
    steps = []
    for content in in_pyodide["custom"]:
        assert content["type"] == "events", content
        for event, data in content["events"]:
            assert event == "message", (event, data)
            message = json.loads(data)
            # The vectors' message shape, and orjson's bytes even without orjson.
            assert set(message) == set(vector_messages[0]), message
            assert data.encode() == orjson.dumps(message)
            steps.append({"message": message, "expect": {"state": "live", "fetching": False}})
    steps[-1]["expect"].update(value=in_pyodide["value"], rev=in_pyodide["rev"])
    # The snapshot answering the view's hello comes first, then every revision in turn.
    revs = [step["message"]["rev"] for step in steps]
    assert revs == list(range(revs[0], in_pyodide["rev"] + 1)), revs
    test_signal_state.test_client_rule_vector({"name": "pyodide", "steps": steps, "shown": revs})
