"""One version everywhere: the Python package, the JS package, and the registry key it uses."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import nb_sse_signals

ROOT = Path(__file__).resolve().parents[1]


def test_python_and_js_versions_agree() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    package_json = json.loads((ROOT / "js" / "package.json").read_text())["version"]
    match = re.search(r'VERSION = "([^"]+)"', (ROOT / "js" / "src" / "version.js").read_text())
    assert match, "js/src/version.js should export VERSION"
    assert nb_sse_signals.__version__ == pyproject == package_json == match.group(1)
