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
    """pytest params of the suite's records; ``disabled`` ones are marked skipped."""
    if not SUITE.is_dir():
        return [
            pytest.param(None, marks=pytest.mark.skip(reason=f"no conformance suite at {SUITE}"))
        ]
    params = []
    for name in ("tests.json", "spec_tests.json"):
        for i, record in enumerate(json.loads((SUITE / name).read_text())):
            if "patch" not in record or (only_expected and "expected" not in record):
                continue  # comment-only records, or no document to reach
            disabled = record.get("disabled")
            marks = [pytest.mark.skip(reason="disabled in the suite")] if disabled else []
            label = f"{name}[{i}] {record.get('comment', '')}".strip()
            params.append(pytest.param(record, id=label, marks=marks))
    assert len(params) > 50, f"the conformance suite at {SUITE} looks truncated"
    return params
