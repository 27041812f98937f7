"""The package's one public face: ``__all__``, public module names, and typing shipped."""

from __future__ import annotations

from importlib import resources

import nb_sse_signals


def test_every_public_name_is_importable_and_reports_the_package_as_its_module() -> None:
    for name in nb_sse_signals.__all__:
        obj = getattr(nb_sse_signals, name)
        if name != "__version__":
            assert obj.__module__ == "nb_sse_signals", f"{name} reports {obj.__module__}"


def test_reprs_show_public_names() -> None:
    assert repr(nb_sse_signals.ServerSignal) == "<class 'nb_sse_signals.ServerSignal'>"
    assert repr(nb_sse_signals.SignalWidget) == "<class 'nb_sse_signals.SignalWidget'>"


def test_the_package_ships_py_typed() -> None:
    assert resources.files("nb_sse_signals").joinpath("py.typed").is_file()
