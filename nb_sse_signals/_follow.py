"""Following a signal from Python: a subscriber in a thread, for kernel-side widget values.

Used when the signal is not published by this process (``SignalWidget(url=...,
name=...)``). A plain blocking HTTP stream in a daemon thread: it must keep
flowing while the kernel's main thread is busy. The client rules are
``SignalState``'s (the same as the browser's, held together by shared vectors):
a gap or a patch that does not apply fetches a snapshot from the snapshot
endpoint and carries on with the same stream; a dropped stream resumes with
``Last-Event-ID``. It never reports a value the publisher did not have. A snapshot
that could not be fetched is asked for again, with backoff, when the stream next
sends anything (an event, or the hub's keep-alive comment every 15 s).

What it reads is bounded (``max_event_bytes``, for an event and for a snapshot
answer): a server that sends a line without end, or bytes that are not UTF-8, gets
``error`` and a reconnect, never a thread that grows without bound or dies quietly.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from ._errors import ProtocolError
from ._protocol import (
    EVENTS_PATH,
    REFUSED_EVENT,
    SNAPSHOT_PATH,
    STALE_EVENT,
    SSEDecoder,
    parse_change,
    parse_closed,
    parse_refused,
    parse_snapshots,
    parse_stale,
)
from ._signal_state import SignalState
from ._types import JSON

log = logging.getLogger("nb_sse_signals")

OnValue = Callable[[JSON, int], None]
OnStatus = Callable[[str], None]

# The most one event (all its lines) or one snapshot answer may take: four times the
# hub's default message_bytes, since a value can grow past one message by patches.
MAX_EVENT_BYTES = 64 * 1024 * 1024
# Retry delays for a snapshot that could not be fetched, as signal.js has them.
FIRST_RETRY_S = 0.25
MAX_RETRY_S = 30.0


class Follower:
    """Subscribe to ``name`` at ``base_url`` (``http://host:port/prefix/``) until :meth:`stop`.

    ``on_value(value, rev)`` runs on the follower's thread with the follower's own
    document, which later patches change in place: copy what you keep.
    ``on_status`` gets the statuses of docs/protocol.md as they change (``error``
    for a rejection, or a stream that cannot be read, before each reconnect). A server
    that rejects the request (a wrong token, an unknown signal) is asked again every
    ``rejected_retry`` seconds; its reason is logged once (again only if it changes).
    ``max_event_bytes`` bounds what one event or one snapshot answer may take.
    """

    rejected_retry = 10.0

    def __init__(
        self,
        base_url: str,
        name: str,
        on_value: OnValue,
        on_status: OnStatus,
        headers: dict[str, str] | None = None,
        timeout: float = 40.0,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.name = name
        self.on_value = on_value
        self.on_status = on_status
        self.headers = headers or {}
        self.timeout = timeout
        self.max_event_bytes = max_event_bytes
        self.state = SignalState(name)
        self._cursor = ""
        self._status = ""
        self._rejection = ""  # the last rejection logged
        self._shown: tuple[int, JSON] = (-1, None)
        self._fetch_after = 0.0  # monotonic time before which no snapshot is fetched
        self._fetch_delay = 0.0
        self._stopped = threading.Event()
        self._conn: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, name="nb_sse_signals-follow", daemon=True)
        self._thread.start()

    @property
    def value(self) -> JSON:
        return self.state.value

    @property
    def rev(self) -> int:
        return self.state.rev

    def stop(self) -> None:
        self._stopped.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            # Unblocks the reading thread at once.
            conn.sock.close()

    def _run(self) -> None:
        delay = 0.5
        while not self._stopped.is_set():
            self._set_status("connecting" if self.state.rev < 0 else "stale")
            try:
                self._stream()
                delay = 0.5
            except (OSError, http.client.HTTPException) as exc:
                if self._stopped.is_set():
                    break
                log.debug("nb_sse_signals: following %s: %s", self.name, exc)
            except _Rejected as exc:
                self._set_status("error")
                # Once, not at every retry: a kernel prints a thread's log lines in
                # whichever cell runs at the time, unrelated to this one. The widget's
                # status says "error" meanwhile.
                reason = str(exc)
                if reason != self._rejection:
                    self._rejection = reason
                    log.warning("nb_sse_signals: cannot follow %s: %s", self.name, reason)
                else:
                    log.debug("nb_sse_signals: still cannot follow %s: %s", self.name, reason)
                delay = self.rejected_retry
            except _Unreadable as exc:
                self._set_status("error")
                log.warning("nb_sse_signals: following %s, reconnecting: %s", self.name, exc)
            except Exception:  # a bug must not end the thread quietly, value frozen
                self._set_status("error")
                log.exception("nb_sse_signals: following %s failed; reconnecting", self.name)
            if self._stopped.wait(delay):
                break
            delay = min(delay * 2, 10.0)

    def _connect(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.base_url)
        conn_type = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        return conn_type(parts.netloc, timeout=self.timeout)

    def _stream(self) -> None:
        conn = self._connect()
        self._conn = conn
        headers = {"Accept": "text/event-stream", **self.headers}
        if self._cursor:
            headers["Last-Event-ID"] = self._cursor
        try:
            conn.request("GET", self._path(EVENTS_PATH), headers=headers)
            resp = conn.getresponse()
            if resp.status != 200:
                raise _Rejected(f"HTTP {resp.status}: {resp.read(500).decode(errors='replace')}")
            decoder = SSEDecoder(last_event_id=self._cursor)
            self._set_status(self._state_status())
            limit = self.max_event_bytes
            pending = 0  # bytes of the event being read
            while not self._stopped.is_set():
                raw = resp.readline(limit + 1)
                if not raw:
                    return
                pending = 0 if raw in (b"\n", b"\r\n", b"\r") else pending + len(raw)
                if pending > limit:
                    raise _Unreadable(f"an event over {limit:,} bytes")
                try:
                    line = raw.decode()
                except UnicodeDecodeError as exc:
                    raise _Unreadable(f"the stream is not UTF-8 ({exc})") from None
                event = decoder.decode_line(line.rstrip("\r\n"))
                if event is not None:
                    # Spec semantics, as browsers have it: resume from the last id seen.
                    self._cursor = event.id
                    self._handle(event.event, event.data)
                if self.state.wants_snapshot is not None:
                    self._fetch_snapshot()
        finally:
            conn.close()

    def _path(self, endpoint: str) -> str:
        return f"{urlsplit(self.base_url).path}{endpoint}?{urlencode({'signal': self.name})}"

    def _handle(self, kind: str, data: str) -> None:
        try:
            if kind == STALE_EVENT:
                stale = parse_stale(data)
                if stale is None:  # the hub lost its backplane; its next events say more
                    self._set_status("stale")
                    return
                if stale[0] == self.name:  # its publisher is gone
                    self.state.mark_orphaned(stale[1])
            elif kind == REFUSED_EVENT:
                refused = parse_refused(data)
                if refused.name == self.name:
                    log.warning("nb_sse_signals: the hub refuses %s: %s", self.name, refused.error)
                    self.state.refuse(refused)
            elif kind == "closed":
                _, rev = parse_closed(data)
                self.state.close(rev)
            else:
                self.state.receive(parse_change(data))
        except ProtocolError as exc:
            log.warning("nb_sse_signals: a bad event for %s: %s", self.name, exc)
            self.state.resync(f"an event could not be read ({exc})")
        self._report()

    def _fetch_snapshot(self) -> None:
        """The snapshot endpoint, on its own connection; the stream waits meanwhile (what
        it sends in the meantime is read afterwards, as the browser's buffer would)."""
        if time.monotonic() < self._fetch_after:
            return
        log.info("nb_sse_signals: resyncing %s: %s", self.name, self.state.wants_snapshot)
        conn = self._connect()
        try:
            conn.request("GET", self._path(SNAPSHOT_PATH), headers=self.headers)
            resp = conn.getresponse()
            body = resp.read(self.max_event_bytes + 1)
            if resp.status != 200:
                raise ProtocolError(f"the snapshot endpoint answered {resp.status}")
            if len(body) > self.max_event_bytes:
                raise ProtocolError(f"a snapshot answer over {self.max_event_bytes:,} bytes")
            found = [c for c in parse_snapshots(body) if c.name == self.name]
            if not found:
                raise ProtocolError("the snapshot endpoint sent no snapshot of it")
        except (OSError, http.client.HTTPException, ProtocolError) as exc:
            self._fetch_delay = min(max(self._fetch_delay * 2, FIRST_RETRY_S), MAX_RETRY_S)
            self._fetch_after = time.monotonic() + self._fetch_delay
            log.info("nb_sse_signals: resync of %s failed: %s", self.name, exc)
            self.state.fetch_failed()
        else:
            self._fetch_delay = 0.0
            self.state.answer(found[0])
        finally:
            conn.close()
        self._report()

    def _report(self) -> None:
        state = self.state
        rev, value = self._shown
        if state.rev >= 0 and (state.rev != rev or state.value is not value):
            self._shown = (state.rev, state.value)
            self.on_value(state.value, state.rev)
        self._set_status(self._state_status())

    def _state_status(self) -> str:
        return {
            "empty": "connecting",
            "live": "live",
            "resync": "stale",
            "orphaned": "stale",
            "refused": "error",
            "closed": "closed",
        }[self.state.state]

    def _set_status(self, status: str) -> None:
        if status != self._status:
            self._status = status
            self.on_status(status)


class _Rejected(Exception):
    """The server answered, but not with a stream (auth, unknown signal)."""


class _Unreadable(Exception):
    """The stream sent what cannot be read: an event over the bound, or not UTF-8."""
