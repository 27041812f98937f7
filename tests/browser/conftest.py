"""The browser tests' shared fixtures, each defined once here.

``browser``: a real Chromium (Debian's, through Playwright) per test module; never
Playwright's download. ``lab``: JupyterLab with the notebooks, per module, started as
the module's ``lab_options`` say (a module overrides that fixture, never ``lab``).
``demo``: ``nb-sse-signals serve --demo`` (defined beside the CLI's own tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser

from ..jupyter import JupyterServer
from ..test_server import demo as demo
from .lab import chromium, start_lab


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def lab_options() -> dict[str, Any]:
    """:func:`.lab.start_lab`'s options for this module's ``lab`` (``base_url``,
    ``extension``, ``python``, ``env``); none by default: JupyterLab at ``/``."""
    return {}


@pytest.fixture(scope="module")
def lab(
    lab_options: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterServer]:
    with start_lab(tmp_path_factory.mktemp("lab"), **lab_options) as server:
        yield server
