"""What the docs promise, read by the tests that hold the code to it."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def promised(doc: str, pattern: str) -> tuple[str, ...]:
    """The groups of ``pattern`` in ``docs/<doc>``, read with its line breaks as spaces
    (a sentence may wrap anywhere); fails the test if the docs no longer say it."""
    text = " ".join((DOCS / doc).read_text().split())
    found = re.search(pattern, text)
    assert found, f"docs/{doc} no longer says what {pattern!r} looks for"
    return found.groups()
