"""Every code block of README.md runs as a user would run it: a change that breaks an
example fails here.

The blocks are found in the README itself, never listed here, so new ones are run too.
What a block is, by its fence and an optional marker, an HTML comment on the line
before it (invisible on GitHub):

- ```` ```bash ```` (or ``sh``, ``shell``): run by ``bash`` in a fresh folder; it must
  exit with 0.
- ```` ```python ````: a script, run with this Python (``python script.py``); it must
  exit with 0 and print no traceback. A block with an IPython magic (a line that
  starts with ``%``), or marked ``<!-- readme-test: notebook -->``, is a notebook cell,
  and so is every Python block after it under the same heading: they run in order, one
  cell each, in one kernel of a real Jupyter server with the extension. Every widget a
  cell displays must then be open, and every signal widget among them ``live`` with a
  value.
- ``<!-- readme-test: background -->``: a command that runs until stopped (a server, a
  ``curl -N``), as in a terminal of its own. It starts, must print something, keeps
  running while the blocks after it under the same heading run, and is then stopped
  with Ctrl-C (SIGINT), after which it must exit cleanly (0, or killed by the SIGINT)
  with no traceback.
- ``<!-- readme-test: skip: REASON -->``: not run, because it cannot run here
  (REASON says why). The skipped blocks are pinned in ``SKIPPED`` below, so that a
  block is never skipped by accident.

What a user would type in differently: ``<T>`` is the subscriber token the last
running server printed (``subscriber token: ...``); the README's port 8765 is a free
port (other servers on this machine may hold 8765); ``NB_SSE_SIGNALS_PUBLISH_SECRET``
is set in the environment, as the README asks.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .jupyter import JupyterServer, Kernel, free_port, start_jupyter

README = Path(__file__).resolve().parents[1] / "README.md"
PUBLISH_SECRET = "readme-test-publish-secret"
SHELLS = ("bash", "sh", "shell")

# The blocks that cannot run here, by their first line. A block is skipped only when
# the README marks it with a reason AND it is listed here.
SKIPPED = {
    "bash scripts/demo.sh    # set up, then run the standalone server with live demo signals",
    "bash scripts/test.sh    # set up, then run the whole test suite (what CI runs)",
    "bash scripts/lab.sh     # set up, then open notebooks/quickstart.ipynb in JupyterLab",
    "%pip install nb_sse_signals        # micropip: PyPI's py3-none-any wheel and its pure deps",
    "import marimo as mo",
}

_MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|background|notebook)\s*(?::\s*(.*?))?\s*-->")


@dataclass
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    section: str  # the heading above it
    marker: str = ""  # "", "skip", "background" or "notebook"
    reason: str = ""  # a skip's
    kind: str = ""  # "shell", "script", "notebook" or "skip"

    @property
    def first_line(self) -> str:
        return self.code.strip().splitlines()[0] if self.code.strip() else ""

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.lang or 'no language'}: {self.first_line!r})"


def parse(text: str) -> list[Block]:
    """The fenced code blocks of ``text``, each with its heading, marker and kind."""
    blocks: list[Block] = []
    lines = text.splitlines()
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^(```+|~~~+)\s*([\w+-]*)", line)
        if fence is None:
            if re.match(r"^#{1,6} ", line):
                section = line.lstrip("#").strip()
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not lines[end].startswith(fence.group(1)):
            end += 1
        before = [ln for ln in lines[:i] if ln.strip()]
        marker = _MARKER.fullmatch(before[-1].strip()) if before else None
        blocks.append(
            Block(
                line=i + 1,
                lang=fence.group(2).lower(),
                code="\n".join(lines[i + 1 : end]) + "\n",
                section=section,
                marker=marker.group(1) if marker else "",
                reason=(marker.group(2) or "") if marker else "",
            )
        )
        i = end + 1
    in_notebook = ""  # the section whose Python blocks are notebook cells
    for block in blocks:
        if block.marker == "skip":
            block.kind = "skip"
        elif block.lang in SHELLS:
            block.kind = "shell"
        elif block.lang == "python":
            magic = any(ln.startswith("%") for ln in block.code.splitlines())
            if magic or block.marker == "notebook" or in_notebook == block.section:
                block.kind = "notebook"
                in_notebook = block.section
            else:
                block.kind = "script"
    return blocks


BLOCKS = parse(README.read_text())


def test_every_block_runs_or_is_skipped_with_a_reason_and_pinned() -> None:
    for block in BLOCKS:
        assert block.kind, f"{block}: no way to run it; mark it <!-- readme-test: skip: WHY -->"
        if block.kind == "skip":
            assert block.reason, f"{block} is skipped without a reason"
    skipped = {b.first_line for b in BLOCKS if b.kind == "skip"}
    assert skipped == SKIPPED, "the skipped blocks are exactly the ones pinned here"
    assert any(b.kind == "notebook" for b in BLOCKS), "the parser found the notebook cells"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind == "notebook"], ids=str)
def test_a_notebook_cell_shows_only_its_last_line(block: Block) -> None:
    # Jupyter displays the value of a cell's last expression only: a bare name
    # earlier in the cell ("count  # shows it") shows nothing.
    source = "\n".join("" if ln.startswith(("%", "!")) else ln for ln in block.code.splitlines())
    body = ast.parse(source).body
    for statement in body[:-1]:
        shown = isinstance(statement, ast.Expr) and not isinstance(
            statement.value, ast.Call | ast.Await | ast.Constant
        )
        assert not shown, (
            f"{block}, line {statement.lineno}: an expression that is not the cell's "
            "last line shows nothing; end the cell with it, or display() it"
        )


# -- running ---------------------------------------------------------------------


@dataclass
class Background:
    block: Block
    proc: subprocess.Popen[bytes]
    out: Path

    def output(self) -> str:
        return self.out.read_text(errors="replace")


@dataclass
class Session:
    """What the blocks under one heading share: the folder, the processes still
    running, the kernel of the notebook cells."""

    root: Path
    port: int
    env: dict[str, str]
    jupyter: JupyterServer | None
    running: list[Background] = field(default_factory=list)
    kernel: Kernel | None = None

    def code(self, block: Block) -> str:
        code = block.code.replace("8765", str(self.port))
        if "<T>" in code:
            tokens = re.findall(
                r"subscriber token:\s*(\S+)", "".join(b.output() for b in self.running)
            )
            assert tokens, f"{block} needs <T>, but no running server printed its token"
            code = code.replace("<T>", tokens[-1])
        return code

    def command(self, block: Block, code: str) -> list[str]:
        if block.kind == "shell":
            return ["bash", "-c", code]
        script = self.root / f"block_{block.line}.py"
        script.write_text(code)
        return [sys.executable, str(script)]

    def run(self, block: Block) -> None:
        code = self.code(block)
        if block.marker == "background":
            self.start(block, code)
            return
        done = subprocess.run(
            self.command(block, code),
            cwd=self.root,
            env=self.env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        printed = (done.stdout + done.stderr).decode(errors="replace")
        assert done.returncode == 0, f"{block} exited with {done.returncode}:\n{printed}"
        assert "Traceback" not in printed, f"{block} printed a traceback:\n{printed}"

    def start(self, block: Block, code: str) -> None:
        out = self.root / f"block_{block.line}.out"
        with out.open("wb") as sink:
            # A session of its own: Ctrl-C goes to its whole process group, as in a
            # terminal, and never to ours.
            proc = subprocess.Popen(
                self.command(block, code),
                cwd=self.root,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        background = Background(block, proc, out)
        self.running.append(background)
        deadline = time.monotonic() + 30
        while not background.output().strip():
            assert proc.poll() is None, (
                f"{block} exited with {proc.returncode}:\n{background.output()}"
            )
            assert time.monotonic() < deadline, f"{block} printed nothing in 30 s"
            time.sleep(0.05)
        time.sleep(0.3)  # the rest of what it prints as it starts

    def stop_all(self) -> list[str]:
        """Ctrl-C to every running block, newest first; what went wrong."""
        problems = []
        for background in reversed(self.running):
            proc = background.proc
            if proc.poll() is not None:
                problems.append(
                    f"{background.block} ended before it was stopped (exit {proc.returncode}):\n"
                    + background.output()
                )
                continue
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)  # its own group: we started it
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
                    problems.append(f"{background.block} did not stop on Ctrl-C")
                    continue
            printed = background.output()
            if proc.returncode not in (0, 130, -signal.SIGINT):
                problems.append(f"{background.block} exited with {proc.returncode}:\n{printed}")
            elif "Traceback" in printed:
                problems.append(f"{background.block} printed a traceback:\n{printed}")
        self.running.clear()
        return problems

    async def cell(self, block: Block) -> None:
        assert self.jupyter is not None
        if self.kernel is None:
            self.kernel = await Kernel.start(self.jupyter)
        run = self.kernel.submit(self.code(block))
        await asyncio.wait_for(run.done.wait(), 60)
        assert run.status == "ok", f"{block} failed in the kernel:\n{run.error}"
        shown = [
            d["application/vnd.jupyter.widget-view+json"]["model_id"]
            for d in run.displays
            if "application/vnd.jupyter.widget-view+json" in d
        ]
        if shown:
            states = json.loads(await self.kernel.run(_WIDGET_STATES % (shown,), timeout=30))
            for state in states:
                assert state["open"], f"{block} displayed a closed widget: {state}"
                if state["signal"]:
                    assert state["status"] == "live", f"{block}: a widget not live: {state}"
                    assert state["rev"] >= 0, f"{block}: a live widget with no revision"
                    assert state["value"] is not None, f"{block}: a live widget with no value"


# Run in the kernel after a cell that displayed widgets (their model ids in %r): the
# state of each displayed widget and of the widgets in it, once signal widgets that
# follow a stream (status "connecting") had up to 15 s to be live.
_WIDGET_STATES = """
import json as _json, time as _time
from ipywidgets.widgets.widget import _instances as _widgets
from nb_sse_signals import SignalWidget as _SignalWidget

def _leaves(w):
    kids = getattr(w, "children", None)
    return [x for k in kids for x in _leaves(k)] if kids else [w]

_shown = [x for m in %r for x in _leaves(_widgets[m])]
_deadline = _time.monotonic() + 15
while _time.monotonic() < _deadline and any(
    isinstance(w, _SignalWidget) and w.status != "live" for w in _shown
):
    _time.sleep(0.05)
print(_json.dumps([
    {"type": type(w).__name__, "open": w.comm is not None,
     "signal": isinstance(w, _SignalWidget), "status": getattr(w, "status", None),
     "rev": getattr(w, "rev", None), "value": getattr(w, "value", None)}
    for w in _shown
], default=repr))
"""


SECTIONS = list(dict.fromkeys(b.section for b in BLOCKS if b.kind not in ("skip", "")))


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    server = start_jupyter(tmp_path_factory.mktemp("readme-jupyter"))
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("section", SECTIONS)
async def test_the_blocks_under_each_heading_run_as_written(
    section: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    blocks = [b for b in BLOCKS if b.section == section and b.kind != "skip"]
    needs_jupyter = any(b.kind == "notebook" for b in blocks)
    env = {
        **os.environ,
        "NB_SSE_SIGNALS_PUBLISH_SECRET": PUBLISH_SECRET,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",  # a background script's output, as it prints it
    }
    for var in ("NB_SSE_SIGNALS_URL", "NB_SSE_SIGNALS_BASE_URL", "NB_SSE_SIGNALS_REDIS_URL"):
        env.pop(var, None)
    session = Session(
        root=tmp_path,
        port=free_port(),
        env=env,
        jupyter=request.getfixturevalue("jupyter") if needs_jupyter else None,
    )
    try:
        for block in blocks:
            if block.kind == "notebook":
                await session.cell(block)
            else:
                session.run(block)
    finally:
        if session.kernel is not None:
            await session.kernel.shutdown()
        problems = session.stop_all()
    assert not problems, "\n".join(problems)
