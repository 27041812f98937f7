"""SignalWidget in Python: the read-only value, observers, links, no echo; and in a real
kernel, what a front end may not set."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import ipywidgets as widgets
import pytest
import traitlets

from nb_sse_signals import Publisher, ServerSignal, SignalWidget
from nb_sse_signals import _signal as _signal_module
from nb_sse_signals._server import Server

from .conftest import TOKEN, wait_until
from .jupyter import JupyterServer, Kernel, start_jupyter


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


def test_a_widget_nobody_observes_copies_the_value_only_when_it_is_read(
    signal: ServerSignal, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A displayed widget whose value no Python code observes must cost the change per
    # send, not a copy of the whole value (500,000 points: tens of ms per send).
    w = signal.widget("/label")
    copies: list[list[str]] = []
    real_select = _signal_module.select
    monkeypatch.setattr(
        _signal_module,
        "select",
        lambda doc, tokens: copies.append(tokens) or real_select(doc, tokens),
    )
    for n in range(1, 6):
        signal.set({"value": n, "label": "x" * n})
        publisher.flush()
    assert copies == [], "no copy while nobody observes value"
    assert w.rev == 5
    assert w.value == "xxxxx"
    assert copies == [["label"]], "one copy, at the read"
    assert w.value == "xxxxx"
    assert len(copies) == 1, "a second read copies nothing again"


def test_every_observer_of_value_hears_each_sent_value_and_only_then_is_it_copied(
    signal: ServerSignal, publisher: Publisher
) -> None:
    w = signal.widget("/value")
    signal.set({"value": 1, "label": "a"})
    publisher.flush()  # sent while nobody observed: kept lazily
    heard: list[tuple[Any, Any]] = []
    w.observe(lambda change: heard.append((change["old"], change["new"])), "value")
    target = widgets.IntText()
    traitlets.dlink((w, "value"), (target, "value"))
    assert target.value == 1, "a link made after lazy sends starts from the current value"
    for n in (2, 3):
        signal.set({"value": n, "label": "a"})
        publisher.flush()
    assert heard == [(1, 2), (2, 3)], "no change missed, none heard from a stale value"
    assert target.value == 3


def test_once_its_observers_are_gone_a_widget_copies_lazily_again(
    signal: ServerSignal, publisher: Publisher
) -> None:
    w = signal.widget("/value")
    handler = lambda change: None  # noqa: E731
    w.observe(handler, names=["rev", "value"])
    assert w._value_observed()
    w.unobserve(handler, names=["rev", "value"])
    assert not w._value_observed()
    w.observe(handler)  # every trait, value included
    assert w._value_observed()
    w.unobserve_all()
    assert not w._value_observed()


def test_a_closed_widget_keeps_the_value_it_had_when_closed(
    signal: ServerSignal, publisher: Publisher
) -> None:
    w = signal.widget("/value")
    signal.set({"value": 7, "label": "a"})
    publisher.flush()  # kept lazily, not read yet
    w.close()
    signal.set({"value": 8, "label": "a"})
    publisher.flush()
    assert (w.value, w.rev) == (7, 1)


def test_closing_the_signal_closes_its_own_widgets_in_this_process(
    signal: ServerSignal, publisher: Publisher
) -> None:
    w = signal.widget("/value")
    signal.set({"value": 3, "label": "a"})
    signal.close()
    assert (w.status, w.value) == ("closed", 3), "closed, with the last value sent"
    late = signal.widget("/value")
    assert late.status == "closed", "a widget made after the close shows it closed too"


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
    assert w.pointer == "", "which part of the value to follow is the kernel's too"


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


class _HeaderRecorder:
    """A plain HTTP server on loopback ("another host") that records every request's
    headers and refuses it: what a SignalWidget following it would give away."""

    def __init__(self) -> None:
        import http.server
        import threading

        seen = self.seen = []  # type: list[dict[str, str]]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(dict(self.headers.items()))
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def test_the_publish_secret_goes_only_to_the_server_that_issued_it(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nb_sse_signals._protocol import ENV_SECRET, ENV_URL, SECRET_HEADER

    from .conftest import SECRET

    # A kernel of the `server` fixture's server, as the extension leaves its environment.
    monkeypatch.setenv(ENV_URL, server.url)
    monkeypatch.setenv(ENV_SECRET, SECRET)
    server.hub.declare("home", 1)
    home = SignalWidget(name="home")  # its own server: the secret lets it read
    elsewhere = _HeaderRecorder()
    other = SignalWidget(url=elsewhere.url, name="diary")
    try:
        wait_until(lambda: home.status == "live", what="the widget to follow its own server")
        assert home.value == 1
        wait_until(lambda: other.status == "error", what="the other host to refuse")
        assert elsewhere.seen, "the widget asked the other host"
        for headers in elsewhere.seen:
            sent = {k.lower(): v for k, v in headers.items()}
            assert SECRET_HEADER.lower() not in sent
            assert SECRET not in " ".join(sent.values())
    finally:
        other.close()
        home.close()
        elsewhere.stop()


def test_only_the_very_server_of_the_secret_is_the_same_server() -> None:
    from nb_sse_signals._widget import same_server

    home = "http://127.0.0.1:8888/user/alice/"
    assert same_server("http://127.0.0.1:8888/user/alice", home)
    assert same_server("HTTP://127.0.0.1:8888/user/alice/", home)
    assert not same_server("http://127.0.0.1:8888/user/bob/", home), "another base path"
    assert not same_server("http://127.0.0.1:8889/user/alice/", home), "another port"
    assert not same_server("https://127.0.0.1:8888/user/alice/", home), "another scheme"
    assert not same_server("http://localhost:8888/user/alice/", home), "another origin"
    assert not same_server("http://127.0.0.1:8888@evil.example/user/alice/", home)
    assert not same_server("http://127.0.0.1:x/user/alice/", home)
    assert not same_server(home, ""), "no server of ours"


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    server = start_jupyter(tmp_path_factory.mktemp("jupyter"))
    try:
        yield server
    finally:
        server.stop()


async def test_a_front_end_cannot_change_what_the_kernel_owns(kernel: Kernel) -> None:
    # A real kernel-side widget, and the message a front end (any script in the page)
    # sends to change its state: the comm's "update".
    comm_id = await kernel.run(
        "from nb_sse_signals import ServerSignal\n"
        "a = ServerSignal('owned-a', 1, shared=True)\n"
        "b = ServerSignal('owned-b', 2, shared=True)\n"
        "w = a.widget(template='A {value}')\n"
        "before = {k: getattr(w, k) for k in ('name', 'url', 'transport', 'pointer', "
        "'needs_token', 'format_js', '_esm', 'template')}\n"
        "print(w.comm.comm_id, end='')"
    )
    hostile = {
        "name": "k-other/owned-b",
        "url": "http://evil.example/",
        "transport": "comm",
        "pointer": "/x",
        "needs_token": True,
        "format_js": "v => { window.__pwned = 1 }",
        "_esm": "export default { render() { window.__pwned = 1 } }",
        "template": "<img src=x onerror=alert(1)>",
        "value": 666,
    }
    kernel.comm_msg(comm_id, {"method": "update", "state": hostile, "buffer_paths": []})
    out = await kernel.run(
        "import json\n"
        "after = {k: getattr(w, k) for k in before}\n"
        "a.set(5)\n"
        "a._publisher.flush()\n"
        "import time\n"
        "deadline = time.monotonic() + 5\n"
        "while w.value != 5 and time.monotonic() < deadline: time.sleep(0.01)\n"
        "print(json.dumps({'same': after == before, 'changed': [k for k in before "
        "if after[k] != before[k]], 'value': w.value}))"
    )
    found = json.loads(out)
    assert found["changed"] == [], f"a front end changed {found['changed']}"
    assert found["same"]
    assert found["value"] == 5, "the widget still follows its own signal, and only it"
