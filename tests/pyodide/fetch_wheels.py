"""Download pure wheels of what the package needs in Pyodide, for tests/test_pyodide.py.

Run by scripts/setup.sh: ``python tests/pyodide/fetch_wheels.py``. Reads the package's
dependencies from pyproject.toml, keeps those whose markers hold in Pyodide
(``sys_platform == "emscripten"``), and asks PyPI for ``py3-none-any`` wheels of them
and of theirs for Pyodide's Python, as micropip would install in JupyterLite.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

HERE = Path(__file__).resolve().parent
WHEELS = HERE / "wheels"
PYTHON_VERSION = "3.14"  # pyodide 314.x (tests/pyodide/package.json)
PYODIDE = {"sys_platform": "emscripten", "platform_system": "Emscripten"}


def requirements() -> list[str]:
    project = tomllib.loads((HERE.parents[1] / "pyproject.toml").read_text())["project"]
    kept = []
    for line in project["dependencies"]:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(PYODIDE):
            req.marker = None
            kept.append(str(req))
    return kept


def main() -> None:
    WHEELS.mkdir(exist_ok=True)
    pure = ["--only-binary=:all:", "--platform", "any", "--implementation", "py", "--abi", "none"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(WHEELS), *pure]
    subprocess.run([*command, "--python-version", PYTHON_VERSION, *requirements()], check=True)


if __name__ == "__main__":
    main()
