"""ServerSignal: the publisher's handle on one signal.

Every method is thread-safe. Changes are diffed (``set``/``update``) or recorded
(``mutate``) into JSON Patch ops in the caller's thread, serialised at once (so
later edits cannot change what was recorded), and handed to the publisher's
thread, which sends them at most ``max_rate`` times a second per signal. A burst
of changes is coalesced; the last value always arrives.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import quote

from . import _codec, _default
from ._comm import CommRelay
from ._errors import NotJSONError, SignalClosedError
from ._json import normalise, normalise_items
from ._mutate import Appends, Recorder
from ._outbox import Entry, Outbox
from ._patch import copy_json, parse_pointer, select
from ._protocol import EVENTS_PATH, check_key
from ._publisher import Publisher
from ._refresh import refresh
from ._types import JSON, NOT_COPIED, Op
from ._undo import Undo, rollback

if TYPE_CHECKING:
    from ._chart import SignalChart
    from ._drive import Driver
    from ._server import Server
    from ._widget import SignalWidget

    W = TypeVar("W", bound=SignalWidget)

__all__ = ["ServerSignal", "default_scope"]

Listener = Callable[[JSON, int], None]
# (the pointer's tokens, the listener, whether it wants a copy of the value now)
_ListenerEntry = tuple[list[str], Listener, Callable[[], bool] | None]


def default_scope() -> str | None:
    """This process's namespace for signal keys: ``k-<kernel id>`` in a kernel, else None.

    Two notebooks on one Jupyter server may both have a signal named ``count``;
    their keys differ. A restarted kernel keeps its id, so its viewers pick up where
    they were. Outside a kernel (a script with its own server) names are used as
    they are.
    """
    try:
        from ipykernel.connect import get_connection_file

        match = re.search(r"kernel-([0-9a-f-]+)\.json$", get_connection_file())
        if match:
            return "k-" + match.group(1).replace("-", "")[:12]
    except (ImportError, RuntimeError, AttributeError):
        pass  # not in a kernel
    return None


class ServerSignal:
    """A named JSON value owned by this process and streamed to every viewer.

    ``ServerSignal("count", {"value": 0})`` creates (or takes over) the signal
    and returns once the hub has it, so viewers can subscribe at once.
    ``shared=True`` uses ``name`` as the key as is, for signals that several
    processes publish or subscribe to by name; otherwise, in a kernel, the key is
    ``<scope>/<name>`` (see :func:`default_scope`). ``server=`` publishes into a
    standalone :class:`Server` of this process instead of the default hub.

    ``transport`` is how this signal's widgets follow it. ``"auto"``: over SSE from
    the Jupyter server extension where the kernel has one, else over the widget's
    own comm, from a hub in this kernel (VS Code, Colab, JupyterLite, a server
    without the extension: the browser may not reach this machine). ``"comm"`` or
    ``"sse"`` force one; ``"sse"`` without the extension (or with ``server=``)
    streams from a standalone server in this process.

    Values are anything :func:`normalise` accepts; anything else raises
    ``TypeError`` (:class:`NotJSONError`) naming the offending path, and the
    signal keeps its previous value.
    """

    def __init__(
        self,
        name: str,
        initial: object = None,
        *,
        shared: bool = False,
        max_rate: float = 30.0,
        publisher: Publisher | None = None,
        server: Server | None = None,
        scope: str | None = None,
        transport: str = "auto",
    ) -> None:
        if max_rate <= 0:
            raise ValueError(f"expected a positive max_rate (changes per second), got {max_rate}")
        if transport not in ("auto", "comm", "sse"):
            raise ValueError(f"expected transport 'auto', 'comm' or 'sse', got {transport!r}")
        self.name = name
        scope = None if shared else (scope or default_scope())
        self.key = check_key(f"{scope}/{name}" if scope else name)
        self._lock = threading.RLock()
        self._doc: JSON = normalise(initial)
        self._closed = False
        self._listeners: list[_ListenerEntry] = []
        self._close_listeners: list[Callable[[], None]] = []
        self._server = server
        if publisher is None and server is not None:
            publisher = server.publisher
        if publisher is None:
            publisher = _default.local_publisher() if transport == "comm" else None
            publisher = publisher or _default.default_publisher()
        if transport == "auto":
            transport = "comm" if _default.is_local(publisher) else "sse"
        elif transport == "comm" and not (_default.is_local(publisher) or server is not None):
            raise ValueError(
                "transport='comm' relays from a hub in this process: give no publisher, "
                "or a server= of this process"
            )
        self.transport = transport
        self._publisher = publisher
        # What waits to be sent, under this signal's lock: a value and its changes move together.
        self._outbox = Outbox(
            self.key,
            self._lock,
            max_rate=max_rate,
            limit=lambda: publisher.transport.max_message_bytes,
            schedule=publisher.schedule,
            value=lambda: self._doc,
            revision=lambda: self._sent_rev,
            observed=self._observed,
        )
        self._sent_rev = self._publisher.declare(self, self._outbox)

    @property
    def max_rate(self) -> float:
        """The most sends a second; a burst of changes in between is coalesced."""
        return self._outbox.max_rate

    @max_rate.setter
    def max_rate(self, value: float) -> None:
        self._outbox.max_rate = value

    # -- reading ----------------------------------------------------------------------

    @property
    def value(self) -> JSON:
        """A private copy of the current value (editing it changes nothing published)."""
        with self._lock:
            return copy_json(self._doc)

    @property
    def url(self) -> str:
        """Where a subscriber with access gets this signal's event stream.

        For a signal in this kernel's own hub, asking starts a standalone server for it
        (loopback, with a token: see :attr:`token`).
        """
        self._ensure_served()
        base = self._publisher.transport.events_url
        return f"{base}?signal={quote(self.key, safe='/:')}"

    @property
    def token(self) -> str | None:
        """The subscriber token a viewer on another origin needs (standalone server), or None."""
        self._ensure_served()
        return self._publisher.transport.token

    @property
    def served(self) -> bool:
        """Whether any server streams this signal yet (asking :attr:`url` starts one)."""
        return bool(self._publisher.transport.events_url)

    def _ensure_served(self) -> None:
        if not self._publisher.transport.events_url and _default.is_local(self._publisher):
            _default.serve_local(self._publisher)

    @property
    def closed(self) -> bool:
        # Superseded: the hub's signal belongs to the new one.
        return self._closed or self._outbox.superseded

    def __repr__(self) -> str:
        state = "closed" if self.closed else "live"
        return f"<ServerSignal {self.key!r} {state}>"

    # -- changing ---------------------------------------------------------------------

    def set(self, value: object) -> None:
        """Publish ``value``; viewers get the difference from the current value."""
        with self._lock:
            self._check_open()
            # One walk that copies and diffs only what is not the very object published
            # before: O(change) plus a pointer comparison per unchanged scalar. Lists
            # the user appended to are extended in place (no copy): undone if rejected.
            undo: Undo = []
            try:
                doc, ops = refresh(self._doc, value, undo)
                entries, size = _serialise(ops)
                self._outbox.record(entries, size, doc)  # may reject (LimitError)
            except BaseException:
                rollback(undo)
                raise
            self._doc = doc

    def update(self, fn: Callable[[JSON], object]) -> None:
        """``set(fn(current))`` atomically: no other change lands in between."""
        with self._lock:
            self._check_open()
            self.set(fn(copy_json(self._doc)))

    @contextmanager
    def mutate(self) -> Iterator[Any]:
        """Edit the value in place; the edits become the patch, at a cost per edit.

        ``with s.mutate() as doc: doc["items"].append(x)``. If the block raises,
        every edit is undone and nothing is published. Other threads' changes
        wait until the block ends. The value must be a dict or a list.
        """
        with self._lock:
            self._check_open()
            if not isinstance(self._doc, dict | list):
                raise TypeError(
                    f"mutate() edits a dict or list in place, but {self.key!r} holds a "
                    f"{type(self._doc).__name__}; use set() for scalars"
                )
            recorder = Recorder(self._doc, normalise, normalise_items)
            try:
                yield recorder.proxy
                entries, size = _serialise(recorder.records)
                self._outbox.record(entries, size, recorder.doc)  # may reject (LimitError)
            except BaseException:
                recorder.rollback()
                raise
            self._doc = recorder.doc

    def close(self) -> None:
        """Send what is pending, then close: viewers are told the signal ended. Idempotent."""
        with self._lock:
            if self.closed:
                return  # closed, or superseded: the hub's signal belongs to the new one
            self._closed = True
        self._publisher.close_signal(self)
        # This process's own widgets follow it from here, not from the hub's stream.
        with self._lock:
            listeners = list(self._close_listeners)
        for listener in listeners:
            listener()

    def drive(self, source: Any, *, every: float | None = None) -> Driver:
        """Set the signal from each item of an (async) iterator, at most once per ``every`` s.

        The seed's ``ServerSentEvents::new(stream.throttle(1s))`` is
        ``s.drive(stream, every=1)``. Returns a :class:`Driver` to stop or wait for it.
        """
        from ._drive import Driver

        return Driver.start(self, source, every, self._publisher.loop)

    def widget(self, pointer: str = "", **options: Any) -> SignalWidget:
        """A widget that shows this signal (or the part at JSON Pointer ``pointer``)."""
        from ._widget import SignalWidget

        return self._widget(SignalWidget, pointer, options)

    def chart(
        self,
        x: str = "/x",
        y: str | list[str] = "/y",
        window: int | None = None,
        **options: Any,
    ) -> SignalChart:
        """A live line chart of this signal, drawn in the browser (:class:`SignalChart`).

        ``x`` and ``y`` are JSON Pointers to arrays in the value (``x=""``: the points'
        index; several ``y`` for several series); ``window``: draw only the last
        ``window`` points. ``options``: ``labels``, ``height``, ``title``. Each update
        costs the patch on the wire and no kernel work beyond publishing it.
        """
        from ._chart import SignalChart

        ys = [y] if isinstance(y, str) else list(y)
        return self._widget(SignalChart, "", {"x": x, "y": ys, "window": window, **options})

    def _widget(self, cls: type[W], pointer: str, options: dict[str, Any]) -> W:
        # This process has the value: the widget needs no network for its kernel-side
        # copy. Same-origin paths (the Jupyter server) leave url empty, as the page
        # knows its own base URL.
        if self.transport == "comm":
            url = token = ""
        else:
            self._ensure_served()
            events = self._publisher.transport.events_url
            url = events.removesuffix(EVENTS_PATH) if "://" in events else ""
            token = self.token or ""
        widget = cls(
            follow=False,
            _initial=self._current(pointer),
            url=url,
            token=token,
            name=self.key,
            pointer=pointer,
            transport=self.transport,
            **options,
        )
        # The widget follows the signal through its read-only `value` trait; while no
        # Python code observes that trait it is copied only when read (_widget.py).
        widget._follow_local(lambda: self._current(pointer))
        remove_value = self.add_listener(
            widget._on_value, pointer, wants_value=widget._value_observed
        )
        remove_closed = self._add_close_listener(widget._on_closed)

        def detach() -> None:
            remove_value()
            remove_closed()

        widget._detach_with(detach)
        if self.transport == "comm":
            widget._relay(self._relay())
        return widget

    def _relay(self) -> CommRelay:
        if self._server is not None:
            return self._server.comm_relay()
        return _default.comm_relay(self._publisher)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # A signal as the last expression of a cell shows its widget.
        return self.widget()._repr_mimebundle_(**kwargs)

    # -- kernel-side observers (the widget's value) -------------------------------------

    def _current(self, pointer: str = "") -> tuple[JSON, int]:
        """(a copy of the part at ``pointer``, the hub's revision) as last sent."""
        with self._lock:
            return select(self._doc, parse_pointer(pointer)), self._sent_rev

    def add_listener(
        self,
        listener: Listener,
        pointer: str = "",
        *,
        wants_value: Callable[[], bool] | None = None,
    ) -> Callable[[], None]:
        """Call ``listener(value_at_pointer, rev)`` after each send (publisher thread), and now.

        ``wants_value``: asked at each send; while it says no, the listener gets
        :data:`NOT_COPIED` for the value and can ask :meth:`_current` when it needs it.
        A copy costs the value's size (a 500,000-point series: tens of ms per send), so
        a widget nobody observes in Python costs the change only.

        Returns a function that removes the listener.
        """
        entry = (parse_pointer(pointer), listener, wants_value)
        with self._lock:
            self._listeners.append(entry)
            current = self._copy_for(entry)
            rev = self._sent_rev
        listener(current, rev)

        def remove() -> None:
            with self._lock, suppress(ValueError):
                self._listeners.remove(entry)

        return remove

    def _add_close_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` once the signal is closed (now, if it is); returns a
        function that removes it."""
        with self._lock:
            closed = self._closed and not self._outbox.superseded
            if not closed:
                self._close_listeners.append(listener)
        if closed:
            listener()

        def remove() -> None:
            with self._lock, suppress(ValueError):
                self._close_listeners.remove(listener)

        return remove

    # -- the publisher's side -----------------------------------------------------------

    def _check_open(self) -> None:
        if self._outbox.superseded:
            raise SignalClosedError(
                f"signal {self.key!r} was replaced by a newer ServerSignal with the same name "
                "(did the cell that created it run again?); use the new one"
            )
        if self._closed:
            raise SignalClosedError(f"signal {self.key!r} is closed")

    def _copy_for(self, entry: _ListenerEntry) -> JSON:
        """(lock held) What ``entry``'s listener gets: a copy of its part, if it wants one."""
        tokens, _listener, wants_value = entry
        if wants_value is not None and not wants_value():
            return cast(JSON, NOT_COPIED)
        return select(self._doc, tokens)

    def _observed(self) -> Callable[[int], None]:
        """(lock held, the value as it is sent) What to call with the hub's revision of it:
        kernel-side observers get it (the value copied only if there are any)."""
        updates = [(entry[1], self._copy_for(entry)) for entry in self._listeners]

        def sent(rev: int) -> None:
            self._sent_rev = rev
            for fn, value in updates:
                fn(value, rev)

        return sent


def _serialise(records: list[Op] | list[Op | Appends]) -> tuple[list[Entry], int]:
    """Each op as ``(op, path, JSON bytes)`` now (later edits cannot change what was
    recorded), and their bytes in all; or :class:`NotJSONError` naming the path of
    what orjson cannot write (an integer beyond 64 bits), before anything changed."""
    out: list[Entry] = []
    size = 0
    for record in records:
        if isinstance(record, Appends):
            entries = _encode_appends(record)
            if entries is not None:
                out.extend(entries)
                size += sum(len(e[2]) for e in entries)
                continue
            ops = record.ops()  # one by one, so an error names the item
        else:
            ops = [record]
        for op in ops:
            try:
                data = _codec.dumps(op)
            except _codec.EncodeError as exc:
                path = str(op.get("path", ""))
                raise NotJSONError(
                    f"expected a value JSON encoders can write at {path or 'the root'!r}: {exc}",
                    path,
                ) from None
            size += len(data)
            out.append((str(op["op"]), str(op["path"]), data))
    return out, size


_NUMBERS = frozenset((int, float, bool, type(None)))


def _encode_appends(run: Appends) -> list[Entry] | None:
    """The ops of ``run``, byte for byte what ``_codec.dumps`` writes for each, from one
    encoding of all its values; None where that cannot be (strings may hold commas,
    an integer beyond 64 bits fails): then each op is encoded on its own."""
    if not set(map(type, run.values)) <= _NUMBERS:
        return None
    try:
        # Numbers, true, false and null never hold a comma: split the array's text.
        items = _codec.dumps(run.values)[1:-1].split(b",")
    except _codec.EncodeError:
        return None
    # '{"op":"add","path":"<base>/<k>","value":<item>}': JSON escapes no digit nor "/".
    head = b'{"op":"add","path":' + _codec.dumps(run.base)[:-1] + b"/"
    base = run.base
    return [
        ("add", f"{base}/{k}", b'%b%d","value":%b}' % (head, k, item))
        for k, item in enumerate(items, run.start)
    ]
