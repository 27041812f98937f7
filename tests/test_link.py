"""link() in Python, without a kernel: what it sends the browser, what it refuses, unlink.

The copying itself happens in the browser (js/test/link.test.js, and in JupyterLab in
tests/browser/test_link_in_lab.py).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import pytest
import traitlets

from nb_sse_signals import Publisher, ServerSignal, SignalLink, link


@pytest.fixture
def series(publisher: Publisher) -> ServerSignal:
    return ServerSignal("series", {"x": [0, 1], "y": [2.0, 3.0]}, publisher=publisher)


def test_a_link_names_its_source_and_target_trait_for_the_browser(series: ServerSignal) -> None:
    progress = widgets.FloatProgress()
    made = link(series.widget("/y/0"), (progress, "value"))
    assert isinstance(made, SignalLink)
    state = made.get_state()
    assert state["source"] == f"IPY_MODEL_{made.source.model_id}"
    assert state["target"] == f"IPY_MODEL_{progress.model_id}"
    assert (state["trait"], state["trace"]) == ("value", -1)
    assert "as default" in state["_esm"]
    assert "uPlot" not in state["_esm"], "a link does not ship the chart's library"


def test_the_kernel_side_target_keeps_its_own_value(
    series: ServerSignal, publisher: Publisher
) -> None:
    progress = widgets.FloatProgress(value=0.5)
    link(series.widget("/y/0"), (progress, "value"))
    series.set({"x": [0], "y": [9.0]})
    publisher.flush()
    assert progress.value == 0.5, "the copy happens in the browser only"


def test_unlink_closes_the_link_in_every_page(series: ServerSignal) -> None:
    made = link(series.widget("/y"), (widgets.FloatProgress(), "value"))
    assert made.comm is not None
    made.unlink()
    assert made.comm is None


def test_a_trace_index_links_a_plotly_figure_widget(series: ServerSignal) -> None:
    figure = go.FigureWidget(data=[go.Scatter(x=[], y=[])])
    made = link(series.widget(), (figure, 0))
    assert (made.trait, made.trace) == ("", 0)


@pytest.mark.parametrize(
    ("source", "target", "error", "message"),
    [
        ("a widget", "progress", TypeError, "expected a signal widget .* got str"),
        ("signal", (1, "value"), TypeError, "expected a widget in the target, got int"),
        ("signal", "progress", TypeError, r"expected the target as \(widget, 'trait'\)"),
        ("signal", ("progress", "valu"), ValueError, "FloatProgress has no trait 'valu'"),
        ("signal", ("progress", "keys"), ValueError, "FloatProgress.keys is not synced"),
        ("signal", ("progress", 0), TypeError, "a trace index needs a plotly FigureWidget"),
        ("signal", ("figure", 1), ValueError, "the figure has 1 traces, got index 1"),
        ("signal", ("progress", 1.5), TypeError, "expected a trait name or a plotly trace"),
    ],
)
def test_bad_arguments_are_rejected_with_what_was_expected(
    series: ServerSignal, source: Any, target: Any, error: type[Exception], message: str
) -> None:
    objects: dict[str, Any] = {
        "progress": widgets.FloatProgress(),
        "figure": go.FigureWidget(data=[go.Scatter(x=[], y=[])]),
    }
    if source == "signal":
        source = series.widget("/y")
    if isinstance(target, tuple):
        target = (objects.get(target[0], target[0]), target[1])
    else:
        target = objects.get(target, target)
    with pytest.raises(error, match=message):
        link(source, target)


def test_a_link_holds_no_copy_of_the_value(series: ServerSignal) -> None:
    made = link(series.widget("/y"), (widgets.FloatProgress(), "value"))
    assert not any(
        isinstance(t, traitlets.Any) and t.name == "value" for t in made.traits().values()
    )
