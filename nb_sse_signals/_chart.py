"""SignalChart: a signal's series drawn live on a canvas in the browser (uPlot).

The chart is a signal widget (same stream, same kernel-side ``value``) whose view
draws the arrays at the JSON Pointers ``x`` and ``y`` instead of text. Its module,
``static/chart.js``, carries uPlot; other widgets ship without it.
"""

from __future__ import annotations

from typing import Any

import traitlets

from ._patch import parse_pointer
from ._widget import SignalWidget, _bundle


class SignalChart(SignalWidget):
    """A live line chart of a signal; made by :meth:`ServerSignal.chart`.

    ``x``: JSON Pointer to the x values (``""``: the points' index); ``y``: the
    pointers of one or more y series of the same length, with ``labels`` for the
    legend (by default each pointer's last token: ``"/train/loss"`` reads ``loss``);
    ``window``: draw only the last ``window`` points (``None``: all); ``height`` in
    pixels; ``title`` above the chart.

    The browser applies each patch to its copy of the value; at the next animation
    frame (never while its tab is hidden) the chart copies the change into its own
    typed arrays (appended points, points dropped at the front; anything else is
    copied again) and hands uPlot each pixel column's first, last, minimum and maximum
    point, so no peak is lost at 1,000,000 points. A series that is missing or is not
    numbers shows a message on the chart and in the console; the last good drawing
    stays.
    """

    _esm = traitlets.Unicode(_bundle("chart.js")).tag(sync=True)

    x = traitlets.Unicode("").tag(sync=True)
    y = traitlets.List(traitlets.Unicode(), minlen=1).tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    window = traitlets.Int(None, allow_none=True).tag(sync=True)
    height = traitlets.Int(300).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)

    # An option rejected while __init__ runs leaves a half-made widget, which
    # Widget.__del__ closes: close() must find this before SignalWidget sets it.
    _detach: Any = None

    @traitlets.validate("x")
    def _check_x(self, proposal: Any) -> str:
        parse_pointer(proposal["value"])  # PatchError names what arrived
        return str(proposal["value"])

    @traitlets.validate("y")
    def _check_y(self, proposal: Any) -> list[str]:
        for pointer in proposal["value"]:
            parse_pointer(pointer)
        return list(proposal["value"])

    @traitlets.validate("window")
    def _check_window(self, proposal: Any) -> int | None:
        window = proposal["value"]
        if window is not None and window < 2:
            raise traitlets.TraitError(f"window: expected None or at least 2 points, got {window}")
        return window  # type: ignore[no-any-return]

    @traitlets.validate("labels")
    def _check_labels(self, proposal: Any) -> list[str]:
        labels = list(proposal["value"])
        if labels and len(labels) != len(self.y):
            raise traitlets.TraitError(
                f"labels: expected one per y series ({len(self.y)}), got {len(labels)}"
            )
        return labels


SignalChart.__module__ = "nb_sse_signals"  # its public name
