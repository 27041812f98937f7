"""The public RFC 6902 test suite, read from ../shared (never copied into the project).

Where the folder is absent (a clone outside this setup) the records become one
skipped parameter that says so; where it is present they never pass vacuously.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SUITE = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "json-patch"


def records(*, only_expected: bool = False) -> list[Any]:
    """pytest params of the suite's records. Of its ``disabled`` ones, those that hold
    here run (a top-level scalar, a test of the whole document); only those that no
    JSON reader can give us are skipped, saying why."""
    if not SUITE.is_dir():
        return [
            pytest.param(None, marks=pytest.mark.skip(reason=f"no conformance suite at {SUITE}"))
        ]
    params = []
    for name in ("tests.json", "spec_tests.json"):
        for i, record in enumerate(json.loads((SUITE / name).read_text())):
            if "patch" not in record or (only_expected and "expected" not in record):
                continue  # comment-only records, or no document to reach
            if "expected" not in record and "error" not in record:
                # The suite leaves this outcome unsaid (tests.json[56], a test of the
                # whole document): a patch that passes and only tests changes nothing.
                assert all(op["op"] == "test" for op in record["patch"]), record
                record = {**record, "expected": record["doc"]}
            marks = []
            if record.get("disabled") and "two 'op' members" in record.get("error", ""):
                # Its patch has an object with two "op" members, which json.loads
                # (as any JSON reader here) reads as one: the error cannot be sent to us.
                reason = "a JSON object with a duplicate member cannot be read as such"
                marks = [pytest.mark.skip(reason=reason)]
            label = f"{name}[{i}] {record.get('comment', '')}".strip()
            params.append(pytest.param(record, id=label, marks=marks))
    assert len(params) > 50, f"the conformance suite at {SUITE} looks truncated"
    return params
