"""SignalWidget: an anywidget showing a signal, with a read-only ``value`` traitlet.

The kernel-side ``value`` follows the signal directly (from the publisher in
this process, or a :class:`Follower` thread for a signal served elsewhere), so
``observe`` and ``traitlets.dlink`` work with no browser open. ``value``,
``rev`` and ``status`` go to the front end once, in the state it gets when the
widget is displayed, never after, and are never accepted from it: each browser
gets the value from the stream itself, so N open tabs cause no N-fold traffic. They are still tagged
``sync`` so that ``widgets.jsdlink`` can link them in the browser.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import anywidget
import traitlets

from ._comm import CommRelay
from ._follow import Follower
from ._patch import parse_pointer, select
from ._protocol import ENV_SECRET, ENV_URL, SECRET_HEADER, STATUSES
from ._types import NOT_COPIED

log = logging.getLogger("nb_sse_signals")

_MIRRORED = frozenset({"value", "rev", "status"})
# What the kernel decides and a front end may never change: which signal, where from,
# how, and the code and markup that draw it. A view that set `name` would show one
# signal while the kernel keeps following another; `_esm`, `format_js` and `template`
# are code and markup the notebook's author wrote, not any page's script.
_KERNEL_OWNED = frozenset(
    {"name", "url", "transport", "pointer", "needs_token", "format_js", "_esm", "template"}
)


def _bundle(name: str = "widget.js") -> str:
    """The built ES module ``static/<name>`` (one per kind of widget: a widget ships
    only the code it runs, in its state)."""
    path = resources.files("nb_sse_signals").joinpath("static", name)
    if path.is_file():
        return path.read_text()
    # Importing must not fail in a source tree without the build; the widget says why.
    message = (
        f"nb_sse_signals: the front end was not built (nb_sse_signals/static/{name} is "
        "missing). Install the package with pip, which runs `npm run build` in js/."
    )
    return (
        f"export default {{ render({{ el }}) {{ el.textContent = {message!r}; "
        f"console.error({message!r}); }} }};"
    )


class _LazyValue(traitlets.Any):
    """A widget's ``value``: a signal of this process hands it over uncopied while no
    Python code observes it (a copy costs the value's size on every send, which a
    widget only displayed never needs); a read copies the value as sent then."""

    def get(self, obj: traitlets.HasTraits, cls: Any = None) -> Any:
        if obj.__dict__.get("_value_stale"):
            obj.__dict__["_value_stale"] = False
            value, _rev = obj.__dict__["_current"]()
            obj.set_trait(str(self.name), value)
        return super().get(obj, cls)


def _names_value(names: Any) -> bool:
    """Whether an ``observe`` of ``names`` (one, a list, or ``All``) covers ``value``."""
    if names is traitlets.All:
        return True
    return "value" in ([names] if isinstance(names, str) else list(names))


class SignalWidget(anywidget.AnyWidget):
    """Shows a signal live. ``SignalWidget(url=..., name=...)`` follows one served elsewhere.

    ``url``: the server's base URL (``""``: the Jupyter server this page came
    from); ``name``: the signal's key; ``pointer``: follow only the part of the
    value at this JSON Pointer (``"/value"``); ``template`` (``"Count: {/value}"``)
    or ``format_js`` (JS source of ``value => string | Node``) change the view.
    """

    _esm = traitlets.Unicode(_bundle()).tag(sync=True)
    # (see _LazyValue) Whether ``value`` waits for a read to be copied, and from where.
    _value_stale = False
    _current: Callable[[], tuple[Any, int]] | None = None

    url = traitlets.Unicode("").tag(sync=True)
    # The subscriber token of a standalone server on another origin. Never synced as
    # state (widget state can be saved into the notebook file): the browser gets it
    # in a custom message, asked for with ``hello`` and offered a few times.
    token = traitlets.Unicode("")
    needs_token = traitlets.Bool(False).tag(sync=True)
    name = traitlets.Unicode("").tag(sync=True)
    pointer = traitlets.Unicode("").tag(sync=True)
    template = traitlets.Unicode("").tag(sync=True)
    format_js = traitlets.Unicode("").tag(sync=True)
    # "sse": the browser follows the signal's stream at ``url``; "comm": the kernel
    # relays the same events over this widget's comm (``_comm``).
    transport = traitlets.Enum(("sse", "comm"), "sse").tag(sync=True)

    value = _LazyValue(None, read_only=True).tag(sync=True)
    rev = traitlets.Int(-1, read_only=True).tag(sync=True)
    status = traitlets.Enum(STATUSES, "connecting", read_only=True).tag(sync=True)

    def __init__(
        self, *, follow: bool = True, _initial: tuple[Any, int] | None = None, **kwargs: Any
    ) -> None:
        if _initial is not None:
            # Before the comm opens, so the first state the browser gets has the value
            # (it shows at once, before the stream's snapshot arrives).
            self._mirror("live", *_initial)
        super().__init__(**kwargs)
        self._detach: Any = None
        if self.token:
            self.needs_token = True
            self._offer_token()
        if follow and self.name and (self.url or os.environ.get(ENV_URL)):
            self._follow_remote()

    def _follow_local(self, current: Callable[[], tuple[Any, int]]) -> None:
        """Follow a signal of this process: its publisher calls :meth:`_on_value`, with
        the value, or with ``NOT_COPIED`` while :meth:`_value_observed` says no Python
        code observes ``value``; ``current()`` is then what a read of ``value`` copies
        (``ServerSignal.widget()`` sets this up)."""
        self._current = current

    def _detach_with(self, detach: Callable[[], None]) -> None:
        """``detach`` ends the following (:meth:`close` calls it)."""
        self._detach = detach

    def _value_observed(self) -> bool:
        """Whether any observer of ``value`` (``observe``, ``traitlets.link``/``dlink``,
        ``interactive``...) needs each value as it is sent."""
        return bool(self._value_observers_set())

    def _value_observers_set(self) -> set[tuple[Any, Any]]:
        # In the instance's dict, made on first use: traitlets registers the observers
        # a class declares (``@observe("value")``) before ``__init__`` runs.
        observers: set[tuple[Any, Any]] = self.__dict__.setdefault("_value_observers", set())
        return observers

    def observe(self, handler: Any, names: Any = traitlets.All, type: Any = "change") -> None:
        if _names_value(names):
            # Counted before the handler is added, and the pending value read before it
            # is told anything, so it never misses a change nor hears a stale one.
            self._value_observers_set().add((handler, type))
            self.value  # noqa: B018 -- the read brings a lazily kept value up to date
        super().observe(handler, names=names, type=type)

    def unobserve(self, handler: Any, names: Any = traitlets.All, type: Any = "change") -> None:
        super().unobserve(handler, names=names, type=type)
        if _names_value(names):
            self._value_observers_set().discard((handler, type))

    def unobserve_all(self, name: Any = traitlets.All) -> None:
        super().unobserve_all(name)
        if name is traitlets.All or name == "value":
            self._value_observers_set().clear()

    def _relay(self, relay: CommRelay) -> None:
        """Send the signal's events to the browser over this widget's comm."""
        channel = relay.attach(self.name, self._send_custom)
        self.on_msg(lambda _widget, content, _buffers: channel.receive(content))
        detach = self._detach

        def both() -> None:
            channel.detach()
            if detach is not None:
                detach()

        self._detach = both

    def _offer_token(self) -> None:
        # Sent before the browser set the widget up, a message is lost, and a hello
        # waits while a cell keeps the kernel busy: answer hellos, and offer it a
        # few times from a timer thread meanwhile.
        message = {"type": "token", "token": self.token}
        greeted = threading.Event()

        def on_msg(_widget: Any, content: Any, _buffers: Any) -> None:
            if isinstance(content, dict) and content.get("type") == "hello":
                greeted.set()
                self._send_custom(message)

        self.on_msg(on_msg)

        def offer() -> None:
            for delay in (0.3, 0.7, 1.5, 3.0, 6.0):
                if greeted.wait(delay) or self.comm is None:
                    return
                self._send_custom(message)

        threading.Thread(target=offer, name="nb_sse_signals-token", daemon=True).start()

    def _send_custom(self, content: dict[str, Any]) -> None:
        # From the relay's thread: ipykernel sends through its iopub thread, and a
        # closed widget (no comm) has nobody left to tell.
        if self.comm is not None:
            self.send(content)

    def _follow_remote(self) -> None:
        base = self.url or os.environ.get(ENV_URL, "")
        headers: dict[str, str] = {}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        elif os.environ.get(ENV_SECRET) and same_server(base, os.environ.get(ENV_URL, "")):
            # In a kernel of our Jupyter server, following it: the publish secret also
            # lets it read. Never to another base URL: the secret publishes and closes
            # signals on our server, so whoever got it could.
            headers[SECRET_HEADER] = os.environ[ENV_SECRET]
        tokens = parse_pointer(self.pointer)
        follower = Follower(
            base,
            self.name,
            lambda value, rev: self._on_value(select(value, tokens), rev),
            lambda status: self._mirror(status, None, None),
            headers=headers,
        )
        self._detach = follower.stop

    def _on_value(self, value: Any, rev: int) -> None:
        if value is NOT_COPIED:
            if rev == self.rev:
                return  # what the widget holds is this revision's value already
            # Nobody observes `value`: the next read of it copies the value then.
            with self.hold_trait_notifications():
                self._value_stale = True
                self.set_trait("rev", rev)
            return
        self._value_stale = False
        self._mirror(None, value, rev)

    def _on_closed(self) -> None:
        self._mirror("closed", None, None)

    def _mirror(self, status: str | None, value: Any, rev: int | None) -> None:
        with self.hold_trait_notifications():
            if rev is not None:
                self.set_trait("rev", rev)
                self.set_trait("value", value)
            if status is not None:
                self.set_trait("status", status)

    def _should_send_property(self, key: str, value: Any) -> bool:
        # The browser has its own copy from the stream; sending ours would be the
        # full-value traffic this package exists to avoid.
        if key in _MIRRORED:
            return False
        return bool(super()._should_send_property(key, value))

    def set_state(self, sync_data: dict[str, Any]) -> None:
        # Only front ends call this (ipywidgets' comm "update"): viewers never write a
        # signal, nor what the kernel owns. Dropped, with one log line naming them.
        rejected = sorted(k for k in sync_data if k in _MIRRORED or k in _KERNEL_OWNED)
        if rejected:
            log.warning(
                "nb_sse_signals: ignoring %s sent by a front end to the widget of %r: "
                "the kernel owns them",
                ", ".join(rejected),
                self.name,
            )
        clean = {k: v for k, v in sync_data.items() if k not in rejected}
        if clean:
            super().set_state(clean)

    def close(self) -> None:
        detach, self._detach = self._detach, None
        if detach is not None:
            detach()
        if self.__dict__.get("_value_stale"):
            self.value  # noqa: B018 -- a closed widget keeps the value it had: copied now
        super().close()


def same_server(url: str, home: str) -> bool:
    """Whether ``url`` is ``home`` (the server that issued this kernel's publish secret):
    the same scheme, host, port and base path. Strict on purpose: ``localhost`` for
    ``127.0.0.1`` is another origin to a browser, and the secret is not sent there."""
    if not home:
        return False
    a, b = urlsplit(url), urlsplit(home)
    try:
        same_port = a.port == b.port
    except ValueError:  # a port that is not a number: not our server
        return False
    path_a, path_b = a.path.rstrip("/") + "/", b.path.rstrip("/") + "/"
    return (
        a.scheme.lower() == b.scheme.lower()
        and (a.hostname or "") == (b.hostname or "")
        and same_port
        and path_a == path_b
    )


SignalWidget.__module__ = "nb_sse_signals"  # its public name, as for the eager ones
