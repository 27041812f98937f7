"""Build hook: compile the optional C speed-up (``nb_sse_signals/_speedups.c``).

As tornado does with its ``speedups``: if there is no compiler, or
``NB_SSE_SIGNALS_NO_SPEEDUPS=1`` is set, the wheel is pure Python and
``nb_sse_signals._identity`` uses its pure-Python proof, with the same results.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = "nb_sse_signals/_speedups.c"


class SpeedupsHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("NB_SSE_SIGNALS_NO_SPEEDUPS") == "1":
            return
        name = "_speedups" + sysconfig.get_config_var("EXT_SUFFIX")
        try:
            built = _compile(Path(self.root), name)
        except Exception as exc:  # no compiler, no headers: the pure-Python path serves
            self.app.display_warning(f"nb_sse_signals: C speed-up not built ({exc})")
            return
        if version == "editable":
            # An editable install imports from the source tree (gitignored there).
            shutil.copy2(built, Path(self.root, "nb_sse_signals", name))
        else:
            build_data["force_include"][str(built)] = f"nb_sse_signals/{name}"
            build_data["pure_python"] = False
            build_data["infer_tag"] = True


def _compile(root: Path, name: str) -> Path:
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    out = Path(tempfile.mkdtemp(prefix="nb_sse_signals-build-"))
    ext = Extension("nb_sse_signals._speedups", [str(root / SOURCE)])
    dist = Distribution({"name": "nb_sse_signals", "ext_modules": [ext]})
    command = build_ext(dist)
    command.build_lib = str(out / "lib")
    command.build_temp = str(out / "tmp")
    command.ensure_finalized()
    command.run()
    return out / "lib" / "nb_sse_signals" / name
