"""The wire format as pure code: SSE frames, protocol messages, cursors. No I/O here.

See docs/protocol.md for the contract this module implements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import _codec
from ._errors import CursorError, ProtocolError
from ._types import JSON

KEY_PATTERN = re.compile(r"[A-Za-z0-9_.:/-]{1,200}")
_EPOCH = re.compile(r"[A-Za-z0-9]{1,32}")
_CURSOR = re.compile(r"([A-Za-z0-9]{1,32})-(0|[1-9][0-9]{0,18})")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")

KEEP_ALIVE = b": keep-alive\n\n"
# A hub that lost its backplane tells its subscribers: values may be behind until the
# next event (the snapshots it sends once it has resynced). No id: cursors stay put.
BACKPLANE_LOST_FRAME = b"event: stale\ndata: {}\n\n"
# Per-signal events (docs/protocol.md): ``stale`` with a name (its publisher is gone;
# the value shown stands still until the signal is declared again) and ``refused``
# (this hub cannot serve the signal's value; the stream skips it, others flow on).
# Not "error": EventSource hands server events of that name to its onerror listeners.
STALE_EVENT = "stale"
REFUSED_EVENT = "refused"

# -- names (the one definition in Python; js/src/protocol.js has the JS one, and
# tests/test_protocol.py holds the two together) ---------------------------------------

EVENTS_PATH = "nb-sse-signals/events"  # GET: the SSE stream
SNAPSHOT_PATH = "nb-sse-signals/snapshot"  # GET: a JSON array of snapshots, to resync
PUBLISH_PATH = "nb-sse-signals/publish"  # WebSocket or POST, with the publish secret
SECRET_HEADER = "X-Signals-Publish-Secret"  # the publish secret; never in a URL
# On the publish WebSocket's handshake reply: the largest frame the hub reads, so a
# publisher splits batches to fit and refuses a bigger change itself.
MAX_MESSAGE_HEADER = "X-Signals-Max-Message-Bytes"
TOKEN_COOKIE = "nb_sse_signals_token"  # the standalone server's subscriber token, + port
# What a Jupyter server with the extension tells the kernels it starts (they inherit
# its environment): its loopback URL, the publish secret, and its base_url.
ENV_URL = "NB_SSE_SIGNALS_URL"
ENV_SECRET = "NB_SSE_SIGNALS_PUBLISH_SECRET"
ENV_BASE_URL = "NB_SSE_SIGNALS_BASE_URL"
# The Redis backplane's URL, read by `nb-sse-signals serve` and the server extension.
ENV_REDIS_URL = "NB_SSE_SIGNALS_REDIS_URL"
# `nb-sse-signals serve`'s subscriber token, out of `ps` (as --token-file is).
ENV_TOKEN = "NB_SSE_SIGNALS_TOKEN"
# A viewer's status, the same words in Python and JS (docs/protocol.md, "Client rules").
STATUSES = ("connecting", "live", "stale", "error", "closed")


def token_cookie(port: int) -> str:
    """The demo page's cookie for the standalone server on ``port``: cookies ignore
    ports, so two servers on one host would otherwise overwrite each other's."""
    return f"{TOKEN_COOKIE}_{port}"


_SECRET_QUERY = re.compile(r"([?&;](?:token|access_token|password|secret|key)=)[^&;#]*", re.I)


def redact_url(url: str) -> str:
    """``url`` as an error message may show it: no user or password (``***@``) and no
    secret query value (``token=[secret]``), whatever its scheme, known or not."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    _, at, host = authority.rpartition("@")
    tail = _SECRET_QUERY.sub(r"\1[secret]", tail)
    return f"{scheme}{sep}{'***@' if at else ''}{host}{tail}"


def check_key(name: object) -> str:
    """Return ``name`` if it is a valid signal key, else raise :class:`ProtocolError`."""
    if not isinstance(name, str) or not KEY_PATTERN.fullmatch(name):
        raise ProtocolError(
            f"expected a signal key of 1-200 characters from [A-Za-z0-9_.:/-], got {name!r}"
        )
    return name


_SECRET_PARAM = re.compile(r"(^|&)(token|secret)=[^&]*")


def scrub_uri(uri: str) -> str:
    """``uri`` with the values of ``token`` and ``secret`` query parameters hidden, for logs."""
    path, sep, query = uri.partition("?")
    return path + sep + _SECRET_PARAM.sub(r"\1\2=[secret]", query) if sep else uri


# -- cursors --------------------------------------------------------------------------


def check_epoch(epoch: str) -> str:
    """``epoch`` if it can start a cursor (1-32 ASCII letters and digits); else ValueError."""
    if not isinstance(epoch, str) or not _EPOCH.fullmatch(epoch):
        raise ValueError(f"expected an epoch of 1-32 ASCII letters and digits, got {epoch!r}")
    return epoch


def format_cursor(epoch: str, seq: int) -> str:
    return f"{epoch}-{seq}"


def parse_cursor(text: str) -> tuple[str, int]:
    """Split a ``Last-Event-ID`` into (epoch, sequence); raise :class:`CursorError` if malformed."""
    match = _CURSOR.fullmatch(text.strip())
    if match is None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise CursorError(
            f"expected a Last-Event-ID of the form '<epoch>-<sequence>', got {shown!r}"
        )
    return match.group(1), int(match.group(2))


# -- SSE frames (https://html.spec.whatwg.org/multipage/server-sent-events.html) -------


def encode_event(data: bytes, *, event_id: str | None = None, event: str | None = None) -> bytes:
    """One SSE event. Each line of ``data`` becomes its own ``data:`` field, as the spec asks."""
    parts: list[bytes] = []
    if event is not None:
        parts.append(b"event: " + _field(event) + b"\n")
    if event_id is not None:
        parts.append(b"id: " + _field(event_id) + b"\n")
    if b"\n" in data or b"\r" in data:
        parts.extend(b"data: " + line + b"\n" for line in _LINE_BREAK.split(data))
    else:  # compact JSON never has a raw line break: the usual, one-line case
        parts.append(b"data: " + data + b"\n")
    parts.append(b"\n")
    return b"".join(parts)


def _field(value: str) -> bytes:
    if "\n" in value or "\r" in value or "\0" in value:
        raise ProtocolError(f"expected a single-line SSE field without NUL, got {value!r}")
    return value.encode()


def retry_field(milliseconds: int) -> bytes:
    """The ``retry:`` line, to put in front of an event.

    Not a block of its own: one with only ``retry:`` is dispatched as an empty event
    by some clients (httpx-sse), though the spec dispatches nothing for it.
    """
    return b"retry: %d\n" % int(milliseconds)


def frame_data(frame: bytes) -> bytes:
    """The ``data`` of a frame :func:`encode_event` built with one line of data (compact
    JSON has no raw line break): what the snapshot endpoint serves of a cached frame."""
    at = 0 if frame.startswith(b"data: ") else frame.index(b"\ndata: ") + 1
    if not frame.endswith(b"\n\n") or b"\ndata: " in frame[at:]:
        raise ProtocolError(f"expected a frame with one data line, got {frame[:80]!r}")
    return frame[at + 6 : -2]


def with_id(frame: bytes, event_id: str) -> bytes:
    """Give an id-less frame an ``id:`` (snapshots share bytes; only the last gets one)."""
    return b"id: " + _field(event_id) + b"\n" + frame


@dataclass
class ServerSentEvent:
    """One decoded event. ``id`` is the stream's last event ID after this event (spec semantics)."""

    data: str = ""
    event: str = "message"
    id: str = ""
    retry: int | None = None


@dataclass
class SSEDecoder:
    """Incremental decoder for a ``text/event-stream`` body, per the SSE parsing algorithm.

    Feed it lines (without their line break) with :meth:`decode_line`; it returns
    an event when a blank line dispatches one. Comments are dropped.
    """

    last_event_id: str = ""
    retry: int | None = None
    _data: list[str] = field(default_factory=list)
    _event: str = ""
    _saw_data: bool = False

    def decode_line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
            self._saw_data = True
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value  # as per the spec, kept across events
        elif name == "retry" and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        saw, data, event = self._saw_data, "\n".join(self._data), self._event or "message"
        self._data, self._event, self._saw_data = [], "", False
        if not saw:
            return None  # the spec drops events without data
        return ServerSentEvent(data=data, event=event, id=self.last_event_id, retry=self.retry)

    def decode(self, text: str) -> list[ServerSentEvent]:
        """Decode a whole chunk of complete lines (tests and simple clients)."""
        events = []
        for line in re.split(r"\r\n|\r|\n", text):
            event = self.decode_line(line)
            if event is not None:
                events.append(event)
        return events


# -- protocol messages -------------------------------------------------------------------


def change_data(name: str, rev: int, patch_json: bytes) -> bytes:
    """The ``data`` of a change; ``patch_json`` is the already-serialised op list."""
    return (
        b'{"name":'
        + _codec.dumps(name)
        + b',"rev":'
        + str(rev).encode()
        + b',"patch":'
        + (patch_json + b"}")
    )


def change_frame(name_json: bytes, rev: int, patch_json: bytes, epoch: bytes, seq: int) -> bytes:
    """``encode_event(change_data(...), event_id=format_cursor(epoch, seq))`` in one step:
    the hub's per-change path.

    ``name_json`` is the name already serialised. Nothing needs splitting: compact JSON
    from orjson never holds a raw line break, and a checked epoch is letters and digits.
    """
    return b'id: %b-%d\ndata: {"name":%b,"rev":%d,"patch":%b}\n\n' % (
        epoch,
        seq,
        name_json,
        rev,
        patch_json,
    )


# -- leptos_sse's shape (``format=leptos_sse``; docs/protocol.md) ------------------------

# What change_data and change_frame write: a key never needs escaping in JSON.
_CHANGE_DATA = re.compile(
    rb'\{"name":"([A-Za-z0-9_.:/-]{1,200})","rev":[0-9]+,"patch":(.*)\}', re.S
)
_NAMED_DATA = re.compile(rb'\{"name":"([A-Za-z0-9_.:/-]{1,200})"')


def leptos_sse_frames(chunk: bytes) -> bytes:
    """Whole events of our stream (as a subscription batches them) in leptos_sse's shape.

    A change or snapshot becomes an event named after its signal whose data is
    ``{"event": <name>, "patch": [...]}``, with the same ``id`` (a snapshot is already
    a root ``replace``, which applies to a client's ``T::default()``). Other events
    (``closed``, ``refused``, ``stale``) have no meaning to such a client and would
    reach a signal named ``closed`` as a patch it cannot read: one that carries an
    id becomes an empty patch of its signal, so the cursor still moves on; one
    without is dropped.
    """
    out: list[bytes] = []
    for frame in chunk.split(b"\n\n"):
        if not frame:
            continue
        event, event_id, data = b"message", b"", b""
        for line in frame.split(b"\n"):
            field, _, value = line.partition(b":")
            value = value.removeprefix(b" ")
            if field == b"event":
                event = value
            elif field == b"id":
                event_id = value
            elif field == b"data":
                data = value if not data else data + b"\n" + value
        change = _CHANGE_DATA.fullmatch(data) if event == b"message" else None
        if change is not None:
            name, patch = change.group(1), change.group(2)
        elif event_id and (named := _NAMED_DATA.match(data)) is not None:
            name, patch = named.group(1), b"[]"
        else:
            continue
        out.append(b"event: %b\n" % name)
        if event_id:
            out.append(b"id: %b\n" % event_id)
        out.append(b'data: {"event":"%b","patch":%b}\n\n' % (name, patch))
    return b"".join(out)


def snapshot_data(name: str, rev: int, value_json: bytes) -> bytes:
    return change_data(name, rev, b'[{"op":"replace","path":"","value":' + value_json + b"}]")


def closed_data(name: str, rev: int) -> bytes:
    return _codec.dumps({"name": name, "rev": rev})


def orphaned_frame(name: str, rev: int) -> bytes:
    """The id-less per-signal ``stale`` event: ``name``'s publisher is gone, at ``rev``."""
    return encode_event(_codec.dumps({"name": name, "rev": rev}), event=STALE_EVENT)


def refused_data(name: str, rev: int, error: str) -> bytes:
    """The ``data`` of a ``refused`` event, and the snapshot endpoint's item for it."""
    return _codec.dumps({"name": name, "rev": rev, "error": error})


def marked_orphaned(snapshot: bytes) -> bytes:
    """A snapshot message's data marked ``"stale": true`` (the snapshot endpoint's answer
    for a signal whose publisher is gone)."""
    return snapshot[:-1] + b',"stale":true}'


@dataclass(frozen=True)
class Refused:
    """A decoded ``refused`` event, or the snapshot endpoint's item for such a signal."""

    name: str
    rev: int
    error: str


def _header(obj: object, what: str) -> tuple[str, int, dict[str, Any]]:
    if not isinstance(obj, dict):
        raise ProtocolError(f"expected {what} as a JSON object, got {type(obj).__name__}")
    rev = obj.get("rev")
    if type(rev) is not int or rev < 0:
        raise ProtocolError(f"expected 'rev' to be an integer >= 0, got {rev!r}")
    return check_key(obj.get("name")), rev, obj


def _loads(data: str | bytes, what: str) -> Any:
    try:
        return _codec.loads(data)
    except _codec.DecodeError as exc:
        raise ProtocolError(f"expected JSON {what}, got invalid JSON: {exc}") from None


def parse_stale(data: str | bytes) -> tuple[str, int] | None:
    """Decode a ``stale`` event's data: ``(name, rev)`` for one signal, ``None`` for the
    hub-wide ``{}`` (its backplane is gone); raise :class:`ProtocolError`."""
    obj = _loads(data, "stale data")
    if obj == {}:
        return None
    name, rev, _ = _header(obj, "stale data")
    return name, rev


def parse_refused(data: str | bytes) -> Refused:
    """Decode a ``refused`` event's data, ``{"name", "rev", "error"}``."""
    return _check_refused(_loads(data, "refused data"))


def _check_refused(obj: object) -> Refused:
    name, rev, record = _header(obj, "refused data")
    error = record.get("error")
    if not isinstance(error, str):
        raise ProtocolError(f"expected 'error' to be a string, got {error!r}")
    return Refused(name, rev, error)


def parse_closed(data: str | bytes) -> tuple[str, int]:
    """Decode a ``closed`` event's data, ``{"name", "rev"}``; raise :class:`ProtocolError`."""
    try:
        obj: Any = _codec.loads(data)
    except _codec.DecodeError as exc:
        raise ProtocolError(f"expected JSON closed data, got invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"expected a JSON object, got {type(obj).__name__}")
    rev = obj.get("rev")
    if type(rev) is not int or rev < 0:
        raise ProtocolError(f"expected 'rev' to be an integer >= 0, got {rev!r}")
    return check_key(obj.get("name")), rev


def parse_snapshots(data: str | bytes) -> list[Change | Refused]:
    """Decode the snapshot endpoint's body: a JSON array of snapshot messages, and of
    ``{"name", "rev", "error"}`` for signals the hub cannot serve."""
    try:
        obj: Any = _codec.loads(data)
    except _codec.DecodeError as exc:
        raise ProtocolError(
            f"expected a JSON array of snapshots, got invalid JSON: {exc}"
        ) from None
    if not isinstance(obj, list):
        raise ProtocolError(f"expected a JSON array of snapshots, got {type(obj).__name__}")
    changes = [
        _check_refused(item) if isinstance(item, dict) and "error" in item else _check_change(item)
        for item in obj
    ]
    for change in changes:
        if isinstance(change, Change) and not change.is_snapshot:
            raise ProtocolError(f"expected snapshot messages, got a change of {change.name!r}")
    return changes


@dataclass(frozen=True)
class Change:
    """A decoded change or snapshot message."""

    name: str
    rev: int
    patch: list[dict[str, JSON]]
    orphaned: bool = False  # a fetched snapshot of an orphaned signal (the wire's "stale": true)

    @property
    def is_snapshot(self) -> bool:
        return (
            len(self.patch) == 1
            and self.patch[0].get("op") == "replace"
            and self.patch[0].get("path") == ""
        )


def parse_change(data: str | bytes) -> Change:
    """Decode and validate a message's data; raise :class:`ProtocolError` saying what is wrong."""
    try:
        obj: Any = _codec.loads(data)
    except _codec.DecodeError as exc:
        raise ProtocolError(f"expected JSON message data, got invalid JSON: {exc}") from None
    return _check_change(obj)


def _check_change(obj: object) -> Change:
    """A change or snapshot message already decoded from JSON, validated."""
    if not isinstance(obj, dict):
        raise ProtocolError(f"expected a JSON object, got {type(obj).__name__}")
    name, rev, patch = obj.get("name"), obj.get("rev"), obj.get("patch")
    check_key(name)
    if type(rev) is not int or rev < 0:
        raise ProtocolError(f"expected 'rev' to be an integer >= 0, got {rev!r}")
    if not isinstance(patch, list) or not all(isinstance(op, dict) for op in patch):
        raise ProtocolError(f"expected 'patch' to be a list of operation objects, got {patch!r}")
    return Change(name, rev, patch, obj.get("stale") is True)  # type: ignore[arg-type]
