"""``link``: a signal widget's value copied into another widget's trait, in the browser.

``widgets.jsdlink`` calls ``save_changes``, so every open view sends the target's new
value to the kernel and ipywidgets echoes it back: O(value) per update both ways. A
:class:`SignalLink` copies with ``model.set`` only, in every page that shows the
notebook (each has the signal's value from its own stream), and sends nothing.
"""

from __future__ import annotations

from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from ._widget import SignalWidget, _bundle


class SignalLink(anywidget.AnyWidget):
    """What :func:`link` returns; need not be shown (shown, it says what is wrong, if
    anything). ``unlink()`` ends the link in every page."""

    _esm = traitlets.Unicode(_bundle("link.js")).tag(sync=True)
    source = traitlets.Instance(SignalWidget).tag(sync=True, **widgets.widget_serialization)
    target = traitlets.Instance(widgets.Widget).tag(sync=True, **widgets.widget_serialization)
    # A trait of ``target``, or (``trace`` >= 0) the index of a plotly FigureWidget's trace.
    trait = traitlets.Unicode("").tag(sync=True)
    trace = traitlets.Int(-1).tag(sync=True)

    def unlink(self) -> None:
        """Stop copying; the target keeps what it shows. Closing the widget tells every page."""
        self.close()


def link(source: SignalWidget, target: tuple[widgets.Widget, str | int]) -> SignalLink:
    """Copy ``source``'s value into ``target`` in the browser, on every change, with no
    traffic back to the kernel.

    ``target`` is ``(widget, "trait")`` for any synced trait of any widget (an
    ``IntProgress``'s ``value``, a bqplot mark's ``x``, ``y`` or ``color``), or
    ``(figure, trace)`` for trace number ``trace`` of a plotly ``FigureWidget``,
    whose ``{x, y}`` follows the signal by ``Plotly.extendTraces`` (only the new
    points; a window that slid drops the oldest with ``maxPoints``), or by one
    ``restyle`` when the change is not an append.

    It works in every page showing the notebook, over SSE and over the comm transport
    alike, and the source need not be shown. A value that does not fit the trait (a
    dict where the trait holds a list, strings in a list of numbers, null where the
    pointer does not exist yet) is not copied: the page's console says why, once,
    and the target keeps its last good value.

    **The kernel-side copy of the target is not updated**: ``target.trait`` in Python
    keeps what it was last given in Python, since sending the copy back is the cost
    this avoids. Read the value in the kernel from ``source.value``. A value set from
    Python later shows until the signal's next change replaces it.

    Raises ``TypeError`` for a source that is not a signal widget or a target that is
    not a ``(widget, trait)`` pair, and ``ValueError`` for a trait that does not exist
    or is not synced, or a trace the figure does not have.
    """
    if not isinstance(source, SignalWidget):
        raise TypeError(
            f"link: expected a signal widget (signal.widget(pointer)) as the source, "
            f"got {type(source).__name__}"
        )
    if not (isinstance(target, tuple) and len(target) == 2):
        raise TypeError(f"link: expected the target as (widget, 'trait'), got {target!r}")
    widget, where = target
    if not isinstance(widget, widgets.Widget):
        raise TypeError(f"link: expected a widget in the target, got {type(widget).__name__}")
    if isinstance(where, int) and not isinstance(where, bool):
        _check_trace(widget, where)
        return SignalLink(source=source, target=widget, trace=where)
    if not isinstance(where, str):
        raise TypeError(
            f"link: expected a trait name or a plotly trace index, got {type(where).__name__}"
        )
    if not widget.has_trait(where):
        raise ValueError(f"link: {type(widget).__name__} has no trait {where!r}")
    if not widget.trait_metadata(where, "sync"):
        raise ValueError(
            f"link: {type(widget).__name__}.{where} is not synced to the browser (a link "
            "copies in the browser)"
        )
    return SignalLink(source=source, target=widget, trait=where)


def _is_figure_widget(figure: Any) -> bool:
    try:
        from plotly.basewidget import BaseFigureWidget  # type: ignore[import-untyped]
    except ImportError:  # plotly is optional; without it nothing is a FigureWidget
        return False
    return isinstance(figure, BaseFigureWidget)


def _check_trace(figure: Any, trace: int) -> None:
    if not _is_figure_widget(figure):
        raise TypeError(
            f"link: a trace index needs a plotly FigureWidget, got {type(figure).__name__}"
        )
    if not 0 <= trace < len(figure.data):
        raise ValueError(f"link: the figure has {len(figure.data)} traces, got index {trace}")


# Their public names, as for the eager ones.
SignalLink.__module__ = link.__module__ = "nb_sse_signals"
