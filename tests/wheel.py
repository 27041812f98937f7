"""The project as users get it: ``python -m build`` (an sdist, and the wheel built from it),
once per test session, for the tests that install the wheel somewhere else."""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path
    log: str


@functools.cache
def built() -> Dist:
    """Build once (about 15 s: npm builds the front end from the sdist's sources)."""
    out = Path(tempfile.mkdtemp(prefix="nb_sse_signals-dist-"))
    atexit.register(shutil.rmtree, out, True)
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python -m build failed:\n{done.stdout}\n{done.stderr}")
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dist(wheel, sdist, done.stdout + done.stderr)
