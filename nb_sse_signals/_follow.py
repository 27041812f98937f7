"""Following a signal from Python: a subscriber in a thread, for kernel-side widget values.

Used when the signal is not published by this process (``SignalWidget(url=...,
name=...)``). A plain blocking HTTP stream in a daemon thread: it must keep
flowing while the kernel's main thread is busy. Resumes with ``Last-Event-ID``,
resyncs on a revision gap or a patch that does not apply, and never reports a
value the publisher did not have.
"""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from ._errors import PatchError, ProtocolError
from ._patch import apply_patch
from ._protocol import EVENTS_PATH, SSEDecoder, parse_change
from ._types import JSON

log = logging.getLogger("nb_sse_signals")

OnValue = Callable[[JSON, int], None]
OnStatus = Callable[[str], None]


class Follower:
    """Subscribe to ``name`` at ``base_url`` (``http://host:port/prefix/``) until :meth:`stop`.

    ``on_value(value, rev)`` runs on the follower's thread with the follower's own
    document, which later patches change in place: copy what you keep.
    """

    def __init__(
        self,
        base_url: str,
        name: str,
        on_value: OnValue,
        on_status: OnStatus,
        headers: dict[str, str] | None = None,
        timeout: float = 40.0,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.name = name
        self.on_value = on_value
        self.on_status = on_status
        self.headers = headers or {}
        self.timeout = timeout
        self.value: JSON = None
        self.rev = -1
        self._cursor = ""
        self._stopped = threading.Event()
        self._conn: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, name="nb_sse_signals-follow", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            # Unblocks the reading thread at once.
            conn.sock.close()

    def _run(self) -> None:
        delay = 0.5
        while not self._stopped.is_set():
            self.on_status("connecting" if self.rev < 0 else "stale")
            try:
                self._stream()
                delay = 0.5
            except (OSError, http.client.HTTPException) as exc:
                if self._stopped.is_set():
                    break
                log.debug("nb_sse_signals: following %s: %s", self.name, exc)
            except _Refused as exc:
                self.on_status("error")
                log.warning("nb_sse_signals: cannot follow %s: %s", self.name, exc)
                delay = 10.0
            if self._stopped.wait(delay):
                break
            delay = min(delay * 2, 10.0)

    def _stream(self) -> None:
        parts = urlsplit(self.base_url)
        conn_type = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_type(parts.netloc, timeout=self.timeout)
        self._conn = conn
        query = urlencode({"signal": self.name})
        headers = {"Accept": "text/event-stream", **self.headers}
        if self._cursor:
            headers["Last-Event-ID"] = self._cursor
        try:
            conn.request("GET", f"{parts.path}{EVENTS_PATH}?{query}", headers=headers)
            resp = conn.getresponse()
            if resp.status != 200:
                raise _Refused(f"HTTP {resp.status}: {resp.read(500).decode(errors='replace')}")
            decoder = SSEDecoder(last_event_id=self._cursor)
            while not self._stopped.is_set():
                raw = resp.readline()
                if not raw:
                    return
                event = decoder.decode_line(raw.decode().rstrip("\r\n"))
                if event is not None:
                    self._handle(event.event, event.data, event.id)
        finally:
            conn.close()

    def _handle(self, kind: str, data: str, cursor: str) -> None:
        if kind == "closed":
            self._cursor = cursor
            self.on_status("closed")
            return
        try:
            change = parse_change(data)
        except ProtocolError as exc:
            log.warning("nb_sse_signals: ignoring a bad event for %s: %s", self.name, exc)
            return
        if change.is_snapshot:
            value = change.patch[0]["value"]  # just parsed: nobody else holds it
        elif change.rev <= self.rev:
            return  # a duplicate
        elif change.rev != self.rev + 1 or self.rev < 0:
            return self._resync(f"revision {change.rev} after {self.rev}")
        else:
            try:
                # apply_patch is atomic: on failure self.value is untouched.
                value = apply_patch(self.value, change.patch)
            except PatchError as exc:
                return self._resync(str(exc))
        self.value, self.rev, self._cursor = value, change.rev, cursor
        self.on_status("live")
        self.on_value(value, change.rev)

    def _resync(self, reason: str) -> None:
        log.info("nb_sse_signals: resyncing %s: %s", self.name, reason)
        self._cursor = ""  # reconnect without a cursor: a fresh snapshot
        raise OSError(reason)


class _Refused(Exception):
    """The server answered, but not with a stream (auth, unknown signal)."""
