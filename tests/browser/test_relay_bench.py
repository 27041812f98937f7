"""The relay benchmark's smoke run (``python -m bench --quick --only relay``): results only.

A module of its own: bench/relay.py starts its own Playwright, which cannot run beside
another module's ``browser`` fixture in the same thread.
"""

from __future__ import annotations

import pytest

from .lab import needs_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]


def test_the_relay_benchmark_smoke_run_reaches_both_tabs_with_every_update() -> None:
    from bench import relay

    facts = relay.run(quick=True).facts
    assert facts["measured"], "Chromium is there, so the relay must have been measured"
    assert facts["leader_seen"] >= facts["updates"] - 1, facts
    assert facts["follower_seen"] == facts["leader_seen"], f"the follower missed updates: {facts}"
