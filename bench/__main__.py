"""``python -m bench [--quick] [--write] [--only NAME ...]``: run the suite, print the table.

``--write`` puts the table and the machine into docs/benchmarks.md; ``--quick`` is the
smoke run (tiny sizes, seconds) that tests/test_bench.py also uses.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import (
    _report,
    backplane,
    chart,
    fanout,
    memory,
    package,
    patchgen,
    relay,
    soak,
    throughput,
    wire,
)
from ._timing import Row, Section

BENCHMARKS = {
    "patchgen": patchgen.run,
    "wire": wire.run,
    "throughput": throughput.run,
    "fanout": fanout.run,
    "relay": relay.run,
    "soak": soak.run,
    "backplane": backplane.run,
    "package": package.run,
    "memory": memory.run,
    "chart": chart.run,
}

BROWSER = Row(
    "5. Browser", "browser set() → DOM", "see tests/browser", "", "", "not measured here", None
)
PLOTS = Row(
    "6. Live plots",
    "per update of a 10k-point plot: bytes, kernel CPU, set() → redrawn",
    "see tests/browser/test_plot_costs.py",
    "",
    "",
    "not measured here",
    None,
)


def run_all(quick: bool, only: list[str] | None = None) -> list[Section]:
    return [fn(quick) for name, fn in BENCHMARKS.items() if not only or name in only]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run of every benchmark")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    args = parser.parse_args(argv)
    start = time.monotonic()
    sections = run_all(args.quick, args.only)
    rows = [row for section in sections for row in section.rows] + [BROWSER, PLOTS]
    block = (
        f"{_report.machine()}\n- Run: `python -m bench{' --quick' if args.quick else ''}`, "
        f"{time.monotonic() - start:.0f} s\n\n{_report.table(rows)}"
    )
    sys.stdout.write(block + "\n")
    if args.write:
        _report.write(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
