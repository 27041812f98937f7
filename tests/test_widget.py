"""SignalWidget in Python, without a kernel: the read-only value, observers, links, no echo."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import pytest
import traitlets

from nb_sse_signals import Publisher, ServerSignal, SignalWidget
from nb_sse_signals._server import Server

from .conftest import TOKEN, wait_until


class RecordingComm:
    """Stands in for a kernel's comm (none runs in these tests): records what would be sent."""

    kernel = object()
    comm_id = "recording"

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self.sent.append(data)

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_msg(self, callback: Any) -> None:
        pass


@pytest.fixture
def signal(publisher: Publisher) -> ServerSignal:
    return ServerSignal("count", {"value": 0, "label": "a"}, publisher=publisher, max_rate=1000)


def test_the_value_follows_the_signal_with_no_browser(
    signal: ServerSignal, publisher: Publisher
) -> None:
    w = signal.widget()
    assert w.value == {"value": 0, "label": "a"}
    signal.set({"value": 1, "label": "a"})
    publisher.flush()
    assert w.value == {"value": 1, "label": "a"}
    assert w.rev == 1
    assert w.status == "live"


def test_the_value_is_read_only_from_python(signal: ServerSignal) -> None:
    w = signal.widget()
    with pytest.raises(traitlets.TraitError, match="read-only"):
        w.value = 5


def test_observe_and_dlink_follow_a_pointer_into_the_value(
    signal: ServerSignal, publisher: Publisher
) -> None:
    w = signal.widget("/value")
    seen: list[Any] = []
    w.observe(lambda change: seen.append(change["new"]), "value")
    progress = widgets.IntProgress(max=10)
    traitlets.dlink((w, "value"), (progress, "value"))
    for n in (3, 7):
        signal.set({"value": n, "label": "a"})
        publisher.flush()
    assert seen == [3, 7]
    assert progress.value == 7


def test_jsdlink_accepts_the_value_as_a_source(signal: ServerSignal) -> None:
    # jsdlink needs a synced trait (ipywidgets refuses any other with TypeError); what
    # reaches the browser is the link's state, naming this widget's model and trait.
    w = signal.widget("/value")
    progress = widgets.IntProgress()
    link = widgets.jsdlink((w, "value"), (progress, "value"))
    state = link.get_state()
    assert state["source"] == [f"IPY_MODEL_{w.model_id}", "value"]
    assert state["target"] == [f"IPY_MODEL_{progress.model_id}", "value"]
    with pytest.raises(TypeError, match="cannot be synced"):
        widgets.jsdlink((w, "token"), (widgets.Text(), "value"))  # the token never is


def test_value_changes_are_never_sent_to_the_front_end(
    signal: ServerSignal, publisher: Publisher
) -> None:
    w = signal.widget()
    comm = RecordingComm()
    w.comm = comm
    signal.set({"value": 9, "label": "a"})
    publisher.flush()
    w.template = "Count: {/value}"
    assert w.value == {"value": 9, "label": "a"}
    sent_keys = {key for message in comm.sent for key in message.get("state", {})}
    assert sent_keys == {"template"}, "only user-set view options travel over the comm"


def test_a_front_end_cannot_write_the_value(signal: ServerSignal) -> None:
    w = signal.widget()
    w.set_state({"value": {"value": 666}, "rev": 99, "status": "error", "pointer": "/label"})
    assert w.value == {"value": 0, "label": "a"}
    assert w.rev == 0
    assert w.pointer == "/label"


def test_a_signal_as_the_last_expression_shows_its_widget(signal: ServerSignal) -> None:
    bundle = signal._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data


def test_closing_the_widget_stops_following(signal: ServerSignal, publisher: Publisher) -> None:
    w = signal.widget()
    w.close()
    signal.set({"value": 5, "label": "a"})
    publisher.flush()
    assert w.value == {"value": 0, "label": "a"}


def test_a_widget_follows_a_signal_served_elsewhere(server: Server) -> None:
    server.hub.declare("remote", {"n": 0, "tags": []})
    w = SignalWidget(url=server.url, token=TOKEN, name="remote", pointer="/n")
    try:
        wait_until(lambda: w.status == "live", what="the kernel-side follower to go live")
        assert w.value == 0
        server.hub.set("remote", {"n": 1, "tags": ["x"]})
        server.hub.patch("remote", [{"op": "replace", "path": "/n", "value": 2}])
        wait_until(lambda: w.value == 2, what="the follower to apply both changes")
        assert w.rev == 2
    finally:
        w.close()


def test_a_follower_with_a_wrong_token_reports_an_error(server: Server) -> None:
    server.hub.declare("remote", 1)
    w = SignalWidget(url=server.url, token="wrong", name="remote")
    try:
        wait_until(lambda: w.status == "error", what="the follower to report the refusal")
        assert w.value is None
    finally:
        w.close()


def test_the_first_state_the_browser_gets_already_has_the_value(
    signal: ServerSignal, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No kernel runs here, so capture the comm that ipywidgets opens on creation.
    opened: list[dict[str, Any]] = []

    def create_comm(**kwargs: Any) -> RecordingComm:
        opened.append(kwargs["data"]["state"])
        return RecordingComm()

    monkeypatch.setattr(widgets.widgets.widget.comm, "create_comm", create_comm)
    signal.widget("/value")
    (state,) = [s for s in opened if s.get("name") == signal.key]  # not its Layout's
    assert (state["value"], state["rev"], state["status"]) == (0, 0, "live")


def test_the_token_is_never_widget_state_and_is_sent_when_a_view_says_hello(
    server: Server,
) -> None:
    # Widget state can be saved into the notebook file; a token must not be.
    server.hub.declare("secretive", 1)
    w = SignalWidget(url=server.url, token=TOKEN, name="secretive", follow=False)
    sent: list[Any] = []
    w.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    try:
        state = w.get_state()
        assert "token" not in state
        assert TOKEN not in repr(state)
        assert state["needs_token"] is True
        w._handle_custom_msg({"type": "hello"}, [])
        assert {"type": "token", "token": TOKEN} in sent
    finally:
        w.close()
