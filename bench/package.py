"""What installing costs: the wheel's size, and the front end every widget ships in its state.

The widget's ES module travels in each widget's ``_esm`` state (anywidget), so its size is
paid once per widget shown. The wheel is built from this tree (``python -m build --wheel``,
npm included); the quick run reads only the ``_esm``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from nb_sse_signals._widget import SignalWidget

from ._timing import Row, Section

SECTION = "9. Package"
ROOT = Path(__file__).resolve().parents[1]
ESM_BEFORE = 49_630  # bytes, when the package became one pure wheel: the goal is no growth


def _wheel_bytes() -> int:
    with tempfile.TemporaryDirectory(prefix="nb_sse_signals-bench-") as out:
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--outdir", out, str(ROOT)],
            capture_output=True,
            check=True,
            timeout=600,
        )
        (wheel,) = Path(out).glob("*.whl")
        if not wheel.name.endswith("-py3-none-any.whl"):
            raise AssertionError(f"expected one pure wheel, got {wheel.name}")
        return wheel.stat().st_size


def run(quick: bool = False) -> Section:
    esm = len(str(SignalWidget.class_traits()["_esm"].default_value).encode())
    facts: dict[str, float | int | bool] = {"esm_bytes": esm}
    rows = [
        Row(
            SECTION,
            "the front end each widget ships in its state (_esm)",
            f"{esm / 1000:.1f} kB",
            f"{ESM_BEFORE / 1000:.1f} kB before",
            "",
            "no growth",
            esm <= ESM_BEFORE,
        )
    ]
    if not quick:
        size = _wheel_bytes()
        facts["wheel_bytes"] = size
        rows.append(
            Row(SECTION, "the wheel (py3-none-any)", f"{size / 1000:.1f} kB", "", "", "", None)
        )
    return Section(SECTION, rows, facts)
