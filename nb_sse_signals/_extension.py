"""``%load_ext nb_sse_signals``: the kernel side and its magics.

``%signals`` lists the live signals of this process with subscriber counts and
update rates; ``%signal_url NAME`` shows where one is served. Loading twice is
harmless; ``%unload_ext nb_sse_signals`` closes every signal of this process.
"""

from __future__ import annotations

from typing import Any

from ._default import existing_publishers, reset_default_publisher

_MAGICS = ("signals", "signal_url")


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magic_function(_signals_magic, "line", "signals")
    ipython.register_magic_function(_signal_url_magic, "line", "signal_url")


def unload_ipython_extension(ipython: Any) -> None:
    for publisher in existing_publishers():
        for signal in publisher.signals:
            signal.close()
    reset_default_publisher()
    magics = ipython.magics_manager.magics["line"]
    for name in _MAGICS:
        magics.pop(name, None)


def _signals_magic(line: str) -> Any:
    """%signals: this process's live signals, with subscribers and update rates."""
    from ._table import signals_table

    return signals_table(existing_publishers())


def _signal_url_magic(line: str) -> str:
    """%signal_url NAME: the URL a viewer subscribes to for the signal NAME (or its key)."""
    name = line.strip()
    signals = [s for p in existing_publishers() for s in p.signals]
    for signal in signals:
        if name in (signal.name, signal.key):
            return signal.url  # starts a server for this kernel's own hub, if none yet
    known = ", ".join(s.name for s in signals) or "none"
    raise KeyError(
        f"expected the name of a live signal of this process, got {name!r} (live: {known})"
    )


# Their public names, as for the package's other public objects.
load_ipython_extension.__module__ = unload_ipython_extension.__module__ = "nb_sse_signals"
