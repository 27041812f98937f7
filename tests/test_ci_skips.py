"""A test skipped for a missing tool (Chromium, redis-server) fails under CI=true
(tests/conftest.py), in a test and in a module that skips itself; elsewhere it skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import pytest
from tests.conftest import missing

def test_needs_a_tool():
    pytest.skip(missing("redis-server", "scripts/setup.sh installs it"))

@pytest.mark.skipif(True, reason=missing("Chromium", "apt-get install -y chromium"))
def test_marked():
    pass

def test_skipped_for_another_reason():
    pytest.skip("not this platform")
"""
MODULE_PROBE = """
import pytest
from tests.conftest import missing

pytest.skip(missing("redis-server", "scripts/setup.sh"), allow_module_level=True)

def test_never_runs():
    pass
"""


def run_probe(tmp_path: Path, source: str, ci: str | None) -> subprocess.CompletedProcess[str]:
    # Inside tests/ so that tests/conftest.py applies, as to every real test module.
    probe = ROOT / "tests" / f"test_zz_probe_{os.getpid()}_{tmp_path.name}.py"
    probe.write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(probe)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        probe.unlink()


def test_under_ci_a_missing_tool_fails_and_any_other_skip_stays_a_skip(tmp_path: Path) -> None:
    result = run_probe(tmp_path, PROBE, "true")
    assert result.returncode == 1, result.stdout
    # A skip in setup (a skipif mark) fails as an error, one in the test as a failure.
    assert "1 failed, 1 skipped, 1 error" in result.stdout, result.stdout
    assert "CI=true, where a skip would hide a test that never ran" in result.stdout


def test_a_module_that_skips_itself_for_a_missing_tool_fails_under_ci(tmp_path: Path) -> None:
    result = run_probe(tmp_path, MODULE_PROBE, "true")
    assert result.returncode != 0, result.stdout
    assert "missing from this machine: redis-server" in result.stdout


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_outside_ci_a_missing_tool_is_a_skip(tmp_path: Path, ci: str | None) -> None:
    result = run_probe(tmp_path, PROBE, ci)
    assert result.returncode == 0, result.stdout
    assert "3 skipped" in result.stdout, result.stdout
