"""Mutation testing of the core modules: how many planted bugs their fast tests catch.

Python modules with cosmic-ray, JS modules with StrykerJS, each against the tests
that mirror it; the scores go into docs/testing.md (between the ``mutation-scores``
markers) with the date, and every surviving mutant into a report to read. Run by
scripts/mutate.sh (which installs both tools); not in CI (far too slow), run it
before each release.

cosmic-ray mutates the files it is given in place, so it works on a copy of the
tree in a temporary directory: this checkout is never touched. Stryker makes its
own sandbox. One mutant at a time (the machines here have two cores).

    python scripts/mutate.py [--sample N] [--seed S] [MODULE ...]

``--sample N`` runs N mutants of each module, drawn at random with ``--seed``
(the same seed draws the same mutants again, so a re-run after new tests is
comparable); the rest are marked "not sampled". Without it, every mutant runs.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "testing.md"
REPORTS = ROOT / "mutation-reports"  # git-ignored: survivors' diffs, to read
START, END = "<!-- mutation-scores:start -->", "<!-- mutation-scores:end -->"

# Module -> the fast tests that mirror it (and those that drive it through its callers).
PYTHON = {
    "_patch": ["tests/test_patch.py"],
    "_diff": ["tests/test_diff.py"],
    # test_limits: the hub's limits at its edges (its server tests only run when the
    # hub's own tests all pass, so they cost a surviving mutant about 8 s).
    "_hub": ["tests/test_hub.py", "tests/test_subscription.py", "tests/reliability/test_limits.py"],
    "_subscription": ["tests/test_subscription.py", "tests/test_hub.py"],
    "_limits": ["tests/reliability/test_limits.py", "tests/test_hub.py"],
    "_comm": ["tests/test_comm.py"],
    "_http_guard": ["tests/test_http_guard.py"],
}
TABS = [
    "test/tabs.test.js",
    "test/tabs_restart.test.js",
    "test/tabroles.test.js",
    "test/splitsource.test.js",
    "test/tabgroup.test.js",
    "test/election.test.js",
    "test/follower.test.js",
    "test/leader.test.js",
]
JS = {
    "signal.js": ["test/signal.test.js"],
    # The tab group, split by role (issue 22): each part is driven through TabPool.
    "election.js": TABS,
    "follower.js": TABS,
    "leader.js": TABS,
    "relaysource.js": [*TABS, "test/relaysource.test.js"],
    "streamwiring.js": [*TABS, "test/connection.test.js", "test/streamwiring.test.js"],
    "tabgroup.js": TABS,
    "template.js": ["test/template.test.js"],
    "patch.js": ["test/patch.test.js", "test/vectors.test.js"],
}

# cosmic-ray turns each arithmetic operator into each of the eleven others, and each
# comparison into `is`/`is not` too: mostly mutants any run would kill at once or
# that cannot be told apart. We keep one natural swap per operator (+/-, *//, <</>>,
# |/&) and every comparison boundary (< into <=, == into !=, ...), like mutmut and
# Stryker do.
EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_(?!(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|Mod_FloorDiv"
    r"|Pow_Mul|LShift_RShift|RShift_LShift|BitOr_BitAnd|BitAnd_BitOr|BitXor_BitOr)$)",
    r"core/ReplaceComparisonOperator_(?!Is_IsNot$|IsNot_Is$).*_(Is|IsNot)$",
    r"core/ReplaceComparisonOperator_(Is|IsNot)_(?!(Is|IsNot)$)",
]


@dataclass
class Score:
    module: str
    tool: str
    total: int  # mutants after the operator filter
    ran: int
    killed: int
    survived: list[str]  # a description of each survivor
    timeouts: int = 0  # a timeout counts as killed (an infinite loop is caught)
    part: str = ""  # "lines 244-356 only" when only part of the file ran (--lines)

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.ran if self.ran else 0.0


def annotation_spans(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) (line, column) of every type annotation: with ``from __future__
    import annotations`` none is evaluated, so a mutant there (``A | B`` into ``A & B``)
    is equivalent, and is not run."""
    spans = []
    for node in ast.walk(ast.parse(path.read_text())):
        found: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        for expr in found:
            if expr is not None and expr.end_lineno is not None and expr.end_col_offset is not None:
                spans.append(
                    ((expr.lineno, expr.col_offset), (expr.end_lineno, expr.end_col_offset))
                )
    return spans


def python_module(name: str, tests: list[str], sample: int | None, seed: int) -> Score:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with tempfile.TemporaryDirectory(prefix=f"mutate-{name}-") as tmp:
        tree = Path(tmp) / "tree"
        shutil.copytree(
            ROOT,
            tree,
            ignore=shutil.ignore_patterns(
                ".venv", "node_modules", ".git", "mutation-reports", ".hypothesis", "*.sqlite"
            ),
        )
        # tests/conformance.py reads the JSON Patch suite from ../shared beside the tree.
        shared = ROOT.parent / "shared"
        if shared.is_dir():
            (Path(tmp) / "shared").symlink_to(shared)
        config = Path(tmp) / "config.toml"
        command = f"{sys.executable} -m pytest -x -q -p no:cacheprovider {' '.join(tests)}"
        excluded = ", ".join(json.dumps(e) for e in EXCLUDED_OPERATORS)
        config.write_text(
            f'[cosmic-ray]\nmodule-path = "nb_sse_signals/{name}.py"\ntimeout = 120.0\n'
            f"excluded-modules = []\ntest-command = {json.dumps(command)}\n"
            f'[cosmic-ray.distributor]\nname = "local"\n'
            f"[cosmic-ray.filters.operators-filter]\nexclude-operators = [{excluded}]\n"
        )
        session = Path(tmp) / "session.sqlite"
        bin_ = Path(sys.executable).parent
        subprocess.run([bin_ / "cosmic-ray", "init", config, session], cwd=tree, check=True)
        subprocess.run([bin_ / "cr-filter-operators", session, config], cwd=tree, check=True)
        annotations = annotation_spans(ROOT / "nb_sse_signals" / f"{name}.py")
        with use_db(str(session), WorkDB.Mode.open) as db:
            for item in list(db.pending_work_items):
                (mutation,) = item.mutations
                if any(start <= tuple(mutation.start_pos) < end for start, end in annotations):
                    db.set_result(
                        item.job_id,
                        WorkResult(
                            output="in a type annotation: never evaluated, so equivalent",
                            worker_outcome=WorkerOutcome.SKIPPED,
                        ),
                    )
            # cosmic-ray's job ids are new random ones each run: sample by what the
            # mutant is (operator, occurrence), so a seed draws the same mutants again.
            where = {
                item.job_id: (item.mutations[0].operator_name, item.mutations[0].occurrence)
                for item in db.pending_work_items
            }
            pending = sorted(where, key=where.__getitem__)
            total = len(pending)
            if sample is not None and sample < total:
                keep = set(random.Random(seed).sample(pending, sample))
                for job in pending:
                    if job not in keep:
                        db.set_result(
                            job,
                            WorkResult(output="not sampled", worker_outcome=WorkerOutcome.SKIPPED),
                        )
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        subprocess.run(
            [bin_ / "cosmic-ray", "exec", config, session], cwd=tree, check=True, env=env
        )
        killed = timeouts = 0
        survived: list[str] = []
        with use_db(str(session), WorkDB.Mode.open) as db:
            for item, result in db.completed_work_items:
                if result.worker_outcome == WorkerOutcome.SKIPPED:
                    continue
                outcome = getattr(result.test_outcome, "value", result.test_outcome)
                if outcome == "killed" and result.output == "timeout":
                    timeouts += 1
                if outcome in ("killed", "incompetent"):  # incompetent: it broke the import
                    killed += 1
                else:
                    (mutation,) = item.mutations
                    survived.append(
                        f"{mutation.operator_name} at line {mutation.start_pos[0]}\n{result.diff}"
                    )
        ran = killed + len(survived)
        return Score(name, "cosmic-ray", total, ran, killed, survived, timeouts)


def js_module(name: str, tests: list[str], lines: list[str]) -> Score:
    js = ROOT / "js"
    report = js / "reports" / "mutation" / f"{name}.json"
    where = ",".join(f"src/{name}:{r}" for r in lines) if lines else f"src/{name}"
    env = {**os.environ, "STRYKER_MUTATE": where, "STRYKER_TESTS": " ".join(tests)}
    subprocess.run(
        ["npx", "--no-install", "stryker", "run", "stryker.config.mjs"], cwd=js, env=env, check=True
    )
    data = json.loads(report.read_text())
    (file,) = data["files"].values()
    source = file["source"].splitlines()
    killed = timeouts = 0
    survived = []
    for mutant in file["mutants"]:
        status = mutant["status"]
        if status in ("Killed", "Timeout"):
            killed += 1
            if status == "Timeout":  # the row says how many (see write())
                timeouts += 1
        elif status in ("Survived", "NoCoverage"):
            start, end = mutant["location"]["start"], mutant["location"]["end"]
            line = start["line"]
            # The part replaced, not only its line: a line often holds several mutants.
            part = (
                source[line - 1][start["column"] - 1 : end["column"] - 1]
                if end["line"] == line
                else source[line - 1][start["column"] - 1 :] + " ..."
            )
            survived.append(
                f"{mutant['mutatorName']} at line {line}:{start['column']}: "
                f"{source[line - 1].strip()}\n  {part.strip()}\n"
                f"  -> {mutant.get('replacement', '')}"
            )
    ran = killed + len(survived)
    part = f"lines {' and '.join(lines)} only" if lines else ""
    return Score(name, "StrykerJS", ran, ran, killed, survived, timeouts, part=part)


def write(scores: list[Score]) -> None:
    today = datetime.date.today().isoformat()
    REPORTS.mkdir(exist_ok=True)
    for score in scores:
        out = REPORTS / f"{score.module}.txt"
        out.write_text(
            f"{score.module} ({score.tool}, {today}): {score.killed} of {score.ran} killed"
            f" ({score.timeouts} of them by the timeout)\n\n" + "\n\n".join(score.survived) + "\n"
        )
    rows = {}
    if DOC.exists() and START in DOC.read_text():
        block = DOC.read_text().split(START)[1].split(END)[0]
        for line in block.splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 6 and cells[0] not in ("module", "---"):
                rows[cells[0]] = line
    for s in scores:
        sampled = f"{s.ran} of {s.total}" + (" (sampled)" if s.ran < s.total else "")
        if s.part:  # a table row must not claim the whole file
            sampled = f"{s.ran} ({s.part})"
        # A timeout counts as killed (an endless loop is caught), but on a loaded machine
        # a slow run of a harmless mutant times out too: the row says how many did.
        killed = f"{s.killed} ({s.timeouts} by timeout)" if s.timeouts else f"{s.killed}"
        rows[f"`{s.module}`"] = (
            f"| `{s.module}` | {s.tool} | {sampled} | {killed} | {len(s.survived)} | "
            f"**{s.percent:.0f}%** ({today}) |"
        )
    table = "\n".join(
        [
            "| module | tool | mutants run | killed | survived | score (date) |",
            "| --- | --- | --- | --- | --- | --- |",
            *(rows[k] for k in sorted(rows)),
        ]
    )
    text = DOC.read_text()
    before, rest = text.split(START)
    after = rest.split(END)[1]
    DOC.write_text(f"{before}{START}\n{table}\n{END}{after}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="e.g. _patch signal.js (default: all)")
    parser.add_argument("--sample", type=int, help="mutants per Python module, drawn at random")
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument(
        "--lines", action="append", default=[], help="JS only: mutate lines A-B (repeatable)"
    )
    args = parser.parse_args(argv)
    names = args.modules or [*PYTHON, *JS]
    unknown = [n for n in names if n not in PYTHON and n not in JS]
    if unknown:
        parser.error(f"expected modules among {', '.join([*PYTHON, *JS])}, got {unknown}")
    scores = []
    for name in names:
        if name in PYTHON:
            score = python_module(name, PYTHON[name], args.sample, args.seed)
        else:
            score = js_module(name, JS[name], args.lines)
        scores.append(score)
        sys.stdout.write(
            f"{name}: {score.killed} of {score.ran} killed ({score.percent:.0f}%),"
            f" {score.timeouts} by the timeout\n"
        )
        write([score])
    return 0


if __name__ == "__main__":
    sys.exit(main())
