"""The table, the machine it was measured on, and the part of docs/benchmarks.md it replaces."""

from __future__ import annotations

import datetime
import os
import platform
import re
import sys
from pathlib import Path

from ._timing import Row

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        text = Path("/proc/cpuinfo").read_text()
        match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            cpu = match.group(1).strip()
    except OSError:
        pass
    uname = " ".join(platform.uname())
    return (
        f"- Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- `uname -a`: {uname}\n"
        f"- `nproc`: {os.cpu_count()}\n"
        f"- CPU: {cpu}\n"
        f"- Python: {sys.version.split()[0]}"
    )


def _mark(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "**missed**")


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | ours | baseline (same run) | ratio | goal | |",
        "|---|---|---|---|---|---|",
    ]
    section = ""
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append(f"| **{section}** | | | | | |")
        cells = (row.what, row.ours, row.baseline, row.ratio, row.goal, _mark(row.met))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def write(block: str) -> None:
    """Replace what lies between the markers in docs/benchmarks.md (they must be there)."""
    text = DOC.read_text()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"expected {BEGIN} ... {END} in {DOC}, found none")
    DOC.write_text(text[: start + len(BEGIN)] + "\n" + block + "\n" + text[end:])
