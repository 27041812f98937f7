"""The wheel as users install it: built, installed into a fresh virtualenv whose PATH has
no node, npm or C compiler, and run from there in JupyterLab in a real Chromium.

Every other test imports the editable install, which reads the source tree; this one
catches what the wheel lacks (a static file, the server config that enables the
extension) and anything that would need a build tool on the user's machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from ..jupyter import JupyterServer
from ..wheel import built
from .lab import event_sources, needs_chromium, notebook_page, run_all, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium, pytest.mark.timeout(600)]

BUILD_TOOLS = ("node", "npm", "cc", "gcc", "clang")


@dataclass(frozen=True)
class Installed:
    python: Path
    path: str  # the only PATH the install and the server get: the venv's bin


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("installed")
    venv = root / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    path = str(venv / "bin")
    missing = [tool for tool in BUILD_TOOLS if shutil.which(tool, path=path) is not None]
    assert missing == [], f"the fresh venv's PATH should hold no build tool, found {missing}"
    # The test environment's versions (not the wheel's), so pip mostly reads its cache.
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    constraints = root / "constraints.txt"
    constraints.write_text(freeze)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--only-binary=:all:"]
    subprocess.run(
        [*pip, "--constraint", str(constraints), str(built().wheel), "jupyterlab", "ipykernel"],
        env={"PATH": path, "HOME": str(Path.home()), **_pip_settings()},  # HOME: pip's cache
        cwd=root,
        check=True,
        timeout=400,
    )
    return Installed(python, path)


def _pip_settings() -> dict[str, str]:
    """How this machine reaches PyPI (an index mirror, a proxy), and nothing else."""
    passed = ("PIP_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy")
    return {k: v for k, v in os.environ.items() if k.startswith(passed)}


@pytest.fixture(scope="module")
def lab_options(installed: Installed) -> dict[str, Any]:
    return {"python": str(installed.python), "env": {"PATH": installed.path}}


def test_pip_enables_the_server_extension_from_the_wheel(installed: Installed) -> None:
    done = subprocess.run(
        [str(installed.python), "-m", "jupyter", "server", "extension", "list"],
        env={"PATH": installed.path},
        cwd=installed.python.parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    listing = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    assert re.search(r"nb_sse_signals\s+enabled", listing), listing
    assert re.search(r"nb_sse_signals 0\.1\.0 OK", listing), listing


NOTEBOOK = [
    """\
import threading, time
import nb_sse_signals
from nb_sse_signals import ServerSignal

print("imported from", nb_sse_signals.__file__)
s = ServerSignal("wheel", {"n": 0})
print("transport:", s.transport)
s.widget(template="n = {/n}")""",
    """\
def count():
    for n in range(1, 3000):
        s.set({"n": n})
        time.sleep(0.1)

threading.Thread(target=count, daemon=True).start()""",
]


def test_a_kernel_of_the_installed_wheel_publishes_and_its_widget_renders_live(
    browser: Browser, lab: JupyterServer, installed: Installed
) -> None:
    name = write_notebook(lab, "wheel.ipynb", *NOTEBOOK)
    with notebook_page(browser, lab, name) as (page, log):
        run_all(page)
        shown = page.locator(
            ".nb-sse-signals-status-live > .nb-sse-signals-content", has_text="n = "
        )
        expect(shown).to_be_visible(timeout=30_000)
        readings = []
        for _ in range(4):
            readings.append(int(shown.inner_text().removeprefix("n = ")))
            time.sleep(0.6)
        assert readings == sorted(readings), readings
        assert len(set(readings)) >= 3, f"the widget should follow the count live: {readings}"

        printed = page.locator(".jp-OutputArea-output", has_text="imported from").inner_text()
        site = installed.python.parents[1] / "lib"
        assert f"imported from {site}" in printed, printed  # the wheel's files, not ours
        assert "transport: sse" in printed, "the kernel should publish over the extension"
        stats = event_sources(page)
        assert stats["opened"] == 1, stats
        assert log.errors == [], "the page logged errors:\n" + "\n".join(log.errors)
