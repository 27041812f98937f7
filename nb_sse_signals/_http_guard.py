"""The standalone server's JSON answers to requests Tornado itself would reject.

Past its own limits Tornado answers with a bare ``400 Bad Request`` and no body (more
than 1,000 query fields, a body over ``max_body_size``) or cuts the connection with
nothing at all (headers over ``max_header_size``). A client then cannot tell what it
did wrong. :class:`RejectingDelegate` sits in front of the application and looks at
the request line and headers before Tornado parses the query or reads the body:
what is over a limit gets the protocol's JSON error, as every other rejection does.
Tornado's own limits are set above ours (``room``), so ours are met first.
"""

from __future__ import annotations

from collections.abc import Awaitable

import orjson
from tornado import httputil

from ._limits import Limits

__all__ = ["QUERY_FIELDS", "RejectingDelegate", "room"]

# Methods of ours that take no body: one sent anyway is rejected on its headers.
NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
# Tornado (6.5.8+) rejects a query of more fields than this with an empty 400.
QUERY_FIELDS = 1_000


def room(limit: int) -> int:
    """What to give Tornado for one of our limits: enough above it that a request a
    little over ours reaches us (and gets JSON); far beyond, Tornado cuts it off."""
    return limit + max(limit, 1 << 20)


def rejection(
    start_line: httputil.RequestStartLine, headers: httputil.HTTPHeaders, limits: Limits
) -> tuple[int, str, str] | None:
    """``(status, reason, message)`` for a request over a limit, else None."""
    size = len(start_line.path) + sum(len(k) + len(v) + 4 for k, v in headers.get_all())
    if size > limits.header_bytes:
        status, reason = (
            (414, "URI Too Long")
            if len(start_line.path) > size // 2
            else (
                431,
                "Request Header Fields Too Large",
            )
        )
        return status, reason, limits.rejection("header_bytes", size)
    query = start_line.path.partition("?")[2]
    fields = query.count("&") + 1 if query else 0
    if fields > QUERY_FIELDS:
        return 400, "Bad Request", f"expected at most {QUERY_FIELDS:,} query fields, got {fields:,}"
    length = headers.get("Content-Length", "")
    if start_line.method in NO_BODY and (
        (length.isdigit() and int(length) > 0) or "Transfer-Encoding" in headers
    ):
        # Tornado would read (and keep) it before any handler checks credentials.
        return 400, "Bad Request", f"expected no body on {start_line.method}, got one"
    if length.isdigit() and int(length) > limits.message_bytes:
        return 413, "Payload Too Large", limits.rejection("message_bytes", int(length))
    return None


class RejectingDelegate(httputil.HTTPMessageDelegate):
    """Passes a request to ``inner``, unless :func:`rejection` finds it over a limit:
    then answers it here with JSON and closes the connection without reading on."""

    def __init__(
        self,
        inner: httputil.HTTPMessageDelegate,
        connection: httputil.HTTPConnection,
        limits: Limits,
    ) -> None:
        self._inner = inner
        self._connection = connection
        self._limits = limits
        self._rejected = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        assert isinstance(start_line, httputil.RequestStartLine)
        found = rejection(start_line, headers, self._limits)
        if found is None:
            return self._inner.headers_received(start_line, headers)
        self._rejected = True
        status, reason, message = found
        body = orjson.dumps({"error": message})
        reply = httputil.HTTPHeaders(
            {
                "Content-Type": "application/json; charset=utf-8",
                "Content-Length": str(len(body)),
                "Connection": "close",
                # As every answer of the standalone server: readable from any origin
                # (its token is the credential, and no credentials go cross-origin).
                "Access-Control-Allow-Origin": "*",
            }
        )
        connection = self._connection
        # A body beyond Tornado's own limit would make it write its bare 400 after
        # our answer; finishing before the body is read closes the connection once
        # the answer is out, so nothing of the body is read (or kept).
        length = headers.get("Content-Length", "")
        if length.isdigit() and hasattr(connection, "set_max_body_size"):
            connection.set_max_body_size(int(length))
        connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", status, reason), reply, body
        )
        connection.finish()
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return None if self._rejected else self._inner.data_received(chunk)

    def finish(self) -> None:
        if not self._rejected:
            self._inner.finish()

    def on_connection_close(self) -> None:
        if not self._rejected:
            self._inner.on_connection_close()
