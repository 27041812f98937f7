"""``python -m build``: one pure wheel with the built front end and an sdist, as PyPI takes them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .wheel import built

pytestmark = pytest.mark.slow

PYODIDE = {"sys_platform": "emscripten", "platform_system": "Emscripten"}
LINUX = {"sys_platform": "linux", "platform_system": "Linux"}


def _wheel_names() -> list[str]:
    with zipfile.ZipFile(built().wheel) as wheel:
        return wheel.namelist()


def _metadata() -> str:
    with zipfile.ZipFile(built().wheel) as wheel:
        return wheel.read("nb_sse_signals-0.1.0.dist-info/METADATA").decode()


def test_the_build_makes_one_pure_wheel_for_every_python_and_platform() -> None:
    assert built().wheel.name == "nb_sse_signals-0.1.0-py3-none-any.whl"
    assert built().sdist.name == "nb_sse_signals-0.1.0.tar.gz"
    with zipfile.ZipFile(built().wheel) as wheel:
        tags = wheel.read("nb_sse_signals-0.1.0.dist-info/WHEEL").decode()
    assert "Root-Is-Purelib: true" in tags
    assert "Tag: py3-none-any" in tags
    compiled = [n for n in _wheel_names() if n.endswith((".so", ".pyd", ".c", ".dylib"))]
    assert compiled == []


def test_the_wheel_holds_the_built_front_end_and_the_config_that_enables_the_extension() -> None:
    names = set(_wheel_names())
    for needed in (
        "nb_sse_signals/static/widget.js",
        "nb_sse_signals/static/client.js",
        "nb_sse_signals/demo.html",
        "nb_sse_signals/py.typed",
        "nb_sse_signals-0.1.0.data/data/etc/jupyter/jupyter_server_config.d/nb_sse_signals.json",
    ):
        assert needed in names, f"{needed} is missing from the wheel"


def test_twine_check_passes_on_the_wheel_and_the_sdist() -> None:
    dist = built()
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dist.wheel), str(dist.sdist)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_pyodide_gets_no_dependency_it_cannot_install() -> None:
    requires = Parser().parsestr(_metadata()).get_all("Requires-Dist") or []
    base = [Requirement(r) for r in requires if "extra ==" not in r]

    def names(env: dict[str, str]) -> set[str]:
        return {
            canonicalize_name(r.name) for r in base if r.marker is None or r.marker.evaluate(env)
        }

    assert names(LINUX) >= {"tornado", "jupyter-server", "orjson"}
    assert not names(PYODIDE) & {"tornado", "jupyter-server", "orjson", "pyzmq"}
    assert names(PYODIDE) >= {"ipywidgets", "anywidget", "traitlets"}
