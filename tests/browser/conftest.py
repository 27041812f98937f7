"""A real Chromium (Debian's, through Playwright) per test module; never Playwright's download.
``lab``: JupyterLab at ``/`` per module, for modules that need no other setup."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from ..jupyter import JupyterServer
from .lab import chromium, start_lab


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    server = start_lab(tmp_path_factory.mktemp("lab"))
    try:
        yield server
    finally:
        server.stop()
