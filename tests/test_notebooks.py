"""The notebooks in notebooks/: well formed, and each runs top to bottom in a fresh kernel.

Each runs cell by cell in a kernel of a real Jupyter server with the extension,
started in the notebook's folder as JupyterLab starts it, so the kernel publishes
through the server extension and ``publisher.py`` is found beside the notebook.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from .jupyter import JupyterServer, Kernel, start_jupyter

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = [
    "quickstart",
    "live_plot",
    "live_plot_plotly",
    "live_plot_matplotlib",
    "dashboard",
    "outside_publisher",
]

# Run after the last cell: each notebook's kernel-side parts did their work.
CHECKS = {
    # jsdlink works in a browser only: with none, the bar stays at 0.
    "quickstart": ("print(len(seen), value.value, progress.value)", r"[1-9]\d* [1-9]\d* 0\n"),
    # The producer starts 2 s after its cell ran.
    "live_plot": (
        "import time\n"
        "for _ in range(100):\n"
        "    if stats.value['n'] > 0:\n"
        "        break\n"
        "    time.sleep(0.05)\n"
        "time.sleep(0.5)\n"
        "print(len(series.value['y']), '|', label.value, '|', len(line.x))",
        # link() copies in the browser only: the kernel's line keeps what it was made with.
        r"[1-9]\d* \| kernel sees [1-9]\d* points \| 0\n",
    ),
    # The producers stop after POINTS points (15 s); the kernel-side plots then hold the
    # signal's final value, and the browser-side one keeps what it was made with.
    "live_plot_plotly": (
        "import time\n"
        "for _ in range(600):\n"
        "    if len(series.value['y']) == POINTS:\n"
        "        break\n"
        "    time.sleep(0.05)\n"
        "print(len(series.value['y']), len(in_browser.data[0].y))",
        r"300 0\n",
    ),
    # The redraw runs on the kernel's event loop: wait with await, not sleep.
    "live_plot_matplotlib": (
        "for _ in range(600):\n"
        "    if len(series.value['y']) == POINTS == len(line.get_ydata()):\n"
        "        break\n"
        "    await asyncio.sleep(0.05)\n"
        "print(len(line.get_ydata()), line.get_ydata()[-1] == series.value['y'][-1],"
        " ax.get_title())",
        r"300 True 300 points\n",
    ),
    "dashboard": (
        "import time; time.sleep(1); print(sorted({r.value['celsius'] for r in rooms.values()}))",
        r"\[[\d., ]+, [\d., ]+\]\n",  # the rooms moved apart
    ),
    "outside_publisher": (
        # The closed event reaches the kernel's follower thread a moment after the
        # script exits: wait for it (bounded).
        "import time\n"
        "for _ in range(100):\n"
        "    if loss.status == 'closed':\n"
        "        break\n"
        "    time.sleep(0.05)\n"
        "print(loss.status, publisher.returncode)",
        r"closed 0\n",  # SIGTERM: the script closed the signal and exited cleanly
    ),
}
# What each notebook itself prints when it works.
EXPECTED_OUTPUT = {
    "quickstart": r"the kernel observed [1-9]\d* changes",
    "live_plot": r"",
    "live_plot_plotly": r"",
    "live_plot_matplotlib": r"",
    "dashboard": r"",
    "outside_publisher": r"kernel side: live, epoch [1-9]\d*, [1-9]\d* changes observed"
    r"[\s\S]*publisher exited with 0",
}


def code_cells(name: str) -> list[str]:
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("name", NAMES)
def test_each_notebook_is_clean_and_starts_by_loading_the_extension(name: str) -> None:
    path = NOTEBOOKS / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3", "else JupyterLab asks for a kernel"
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert cells[0].source.strip() == "%load_ext nb_sse_signals"
    for cell in cells:
        assert cell.outputs == [], "outputs are not committed"
        assert cell.execution_count is None, "execution counts are not committed"


def test_the_notebooks_folder_holds_only_what_is_tested() -> None:
    shown = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert shown == set(NAMES), "a notebook without a run test would rot unnoticed"


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    root = tmp_path_factory.mktemp("jupyter")
    (root / "notebooks").mkdir()
    for path in NOTEBOOKS.iterdir():
        if path.suffix in (".ipynb", ".py", ".js"):
            shutil.copy(path, root / "notebooks" / path.name)
    server = start_jupyter(root, base_url="/prefix/")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", NAMES)
async def test_each_notebook_runs_top_to_bottom_in_a_fresh_kernel(
    jupyter: JupyterServer, name: str
) -> None:
    kernel = await Kernel.start(jupyter, path=f"{name}.ipynb")
    try:
        outputs = []
        for number, source in enumerate(code_cells(name), 1):
            run = kernel.submit(source)
            await asyncio.wait_for(run.done.wait(), 30)
            assert run.status == "ok", f"{name}, code cell {number} failed:\n{run.error}"
            outputs.append(run.stdout)
        code, expected = CHECKS[name]
        checked = await kernel.run(code, timeout=30)
    finally:
        await kernel.shutdown()
    assert re.search(EXPECTED_OUTPUT[name], "".join(outputs)), "".join(outputs)
    assert re.fullmatch(expected, checked), f"{name}: {code!r} printed {checked!r}"
