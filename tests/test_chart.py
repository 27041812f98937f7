"""SignalChart in Python, without a kernel: its state for the browser and the checks of
its options. Drawing is in js/test/chart.test.js and tests/browser/test_chart_in_lab.py."""

from __future__ import annotations

import pytest
import traitlets

from nb_sse_signals import PatchError, Publisher, ServerSignal, SignalChart, SignalWidget


@pytest.fixture
def series(publisher: Publisher) -> ServerSignal:
    return ServerSignal(
        "chart-series", {"t": [0, 1], "a": [1, 2], "b": [3, 4]}, publisher=publisher
    )


def test_a_chart_is_a_signal_widget_of_the_whole_value_with_its_series(
    series: ServerSignal, publisher: Publisher
) -> None:
    chart = series.chart(x="/t", y=["/a", "/b"], window=100, labels=["a", "b"], title="ab")
    assert isinstance(chart, SignalChart)
    assert isinstance(chart, SignalWidget)
    state = chart.get_state()
    assert (state["x"], state["y"], state["window"], state["labels"], state["title"]) == (
        "/t",
        ["/a", "/b"],
        100,
        ["a", "b"],
        "ab",
    )
    series.set({"t": [0], "a": [1], "b": [2]})
    publisher.flush()
    assert chart.value == {"t": [0], "a": [1], "b": [2]}, "the kernel side follows as any widget"


def test_only_the_chart_ships_the_charting_library(series: ServerSignal) -> None:
    chart_esm = series.chart(y="/a", x="/t").get_state()["_esm"]
    widget_esm = series.widget().get_state()["_esm"]
    assert "u-legend" in chart_esm, "uPlot's stylesheet and code"
    assert "u-legend" not in widget_esm
    assert len(widget_esm) < len(chart_esm)


def test_a_single_y_pointer_is_one_series(series: ServerSignal) -> None:
    assert series.chart(x="", y="/a").y == ["/a"]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"y": "a"}, PatchError, "expected a JSON Pointer starting with '/', found 'a'"),
        ({"x": "t"}, PatchError, "expected a JSON Pointer starting with '/', found 't'"),
        ({"y": []}, traitlets.TraitError, "length"),
        ({"window": 1}, traitlets.TraitError, "window: expected None or at least 2 points, got 1"),
        ({"labels": ["a", "b"]}, traitlets.TraitError, r"labels: expected one per y series \(1\)"),
    ],
)
def test_bad_options_are_rejected_with_what_was_expected(
    series: ServerSignal, options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        series.chart(**{"x": "/t", "y": "/a", **options})  # type: ignore[arg-type]
