"""Timing helpers: medians of repeated runs, percentiles, and the result rows.

The machine is shared and noisy (2 cores), so nothing here reports a single timing:
every figure is a median over repeats, and goals compare ratios measured in one run.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass
class Row:
    """One line of the table: our figure beside its baseline, measured in the same run."""

    section: str
    what: str
    ours: str
    baseline: str
    ratio: str
    goal: str
    met: bool | None  # None: informational, no goal attached


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("expected at least one value, got none")
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest rank: a value that was actually observed."""
    if not values:
        raise ValueError("expected at least one value, got none")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def per_call(
    fn: Callable[[], object],
    *,
    repeat: int,
    number: int = 1,
    setup: Callable[[], object] | None = None,
) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` batches of ``number`` calls.

    ``setup`` runs before each batch, untimed. The collector is off while timing, as
    in ``timeit``: a collection landing in one sample is noise, not the code's cost.
    """
    samples = []
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            if setup is not None:
                setup()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples.append((time.perf_counter() - start) / number)
    finally:
        if enabled:
            gc.enable()
    return median(samples)


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_rate(per_second: float) -> str:
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f}M/s"
    if per_second >= 1e3:
        return f"{per_second / 1e3:.1f}k/s"
    return f"{per_second:.0f}/s"


def fmt_ratio(value: float) -> str:
    return f"{value:,.0f}x" if value >= 100 else f"{value:.2f}x"


@dataclass
class Section:
    """A benchmark's rows, plus the facts a smoke test checks (counts, bytes, never times)."""

    name: str
    rows: list[Row]
    facts: dict[str, float | int | bool]
