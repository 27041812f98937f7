"""Write an SSE body straight to a detached connection: the hub's fan-out hot path.

Tornado's ``RequestHandler.write`` + ``flush`` costs about 20 µs per delivery (the
handler's buffer, the HTTP/1.1 connection's chunk framing, an ``IOStream`` write
future); at 1,000 subscribers that is 20 ms of one loop turn per change, and it was
80% of the hub's busy time in a fan-out profile. After the response headers are out,
:class:`SSEWriter` takes the stream (``RequestHandler.detach``, the public way
websockets leave HTTP) and frames chunks itself; when nothing is queued in the
stream it hands the bytes to the socket in one ``send`` (about 9 µs, most of it the
kernel's loopback), and only what the socket does not take goes through
``IOStream.write``, whose future says when the subscriber can take more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tornado.iostream import IOStream, StreamClosedError

__all__ = ["SSEWriter"]

_CLOSE_GRACE = 5.0  # seconds a closing stream may take to hand over its last chunk


class SSEWriter:
    """The body of one streaming response on a detached stream.

    ``chunked`` says whether the response headers promised chunked framing (Tornado
    chunks every HTTP/1.1 response without a length; an HTTP/1.0 body simply ends
    when the connection closes). ``on_drained`` runs once queued bytes are written;
    ``on_closed`` runs once when the peer goes away or :meth:`close` is called.
    """

    def __init__(
        self,
        stream: IOStream,
        *,
        chunked: bool,
        on_drained: Callable[[], None],
        on_closed: Callable[[], None],
    ) -> None:
        self._stream = stream
        self._chunked = chunked
        self._on_drained = on_drained
        self._on_closed = on_closed
        # Only a plain socket may be written past the stream: TLS has its own framing
        # and retry rules, so an SSLIOStream always goes through IOStream.write.
        self._raw = type(stream) is IOStream
        self._closed = False
        self.busy = False  # bytes queued in the stream, not yet taken by the socket
        # Without a close callback a detached stream never notices a peer that went
        # away while nothing was being written; with one it listens for EOF.
        stream.set_close_callback(self._lost)
        # Events are small and must leave at once: with Nagle's algorithm a change that
        # follows another within the reader's delayed-ACK time (up to 40 ms) would wait
        # for that ACK. Tornado leaves Nagle on for responses until they finish.
        stream.set_nodelay(True)
        if stream.closed():  # closed before we took it: the callback will never run
            self._lost()

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, body: bytes) -> None:
        """Write ``body`` (one or more whole SSE events). Never blocks.

        When the socket takes only part of it, the rest is queued and :attr:`busy`
        stays true until ``on_drained``; the caller holds further events until then,
        which is what turns a slow reader into snapshots instead of an unbounded queue.
        """
        if self._closed or not body:
            return
        stream = self._stream
        if stream.closed():
            # Tornado drops the socket at once but runs the close callback a loop turn
            # later: the peer is gone, whichever of the two we see first.
            self._lost()
            return
        data = b"%x\r\n%b\r\n" % (len(body), body) if self._chunked else body
        if self._raw and not stream.writing():
            try:
                sent = stream.socket.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.close()
                return
            if sent == len(data):
                return
            data = data[sent:]
        self.busy = True
        try:
            stream.write(data).add_done_callback(self._written)
        except StreamClosedError:
            self.close()

    def _written(self, done: asyncio.Future[None]) -> None:
        self.busy = False
        if done.cancelled() or done.exception() is not None:
            self.close()
        elif not self._closed:
            self._on_drained()

    def close(self) -> None:
        """End the body (the last chunk, when chunked) and close the connection. Idempotent.

        A reader that stopped reading (bytes still queued) is cut off at once: a
        terminating chunk queued behind the rest would hold the socket until TCP
        gives up.
        """
        if self._closed:
            return
        self._closed = True
        stream = self._stream
        try:
            if self._chunked and not self.busy and not stream.closed():
                # Close once the terminating chunk is out, or after a grace period: a
                # reader that is alive but not reading might never take it.
                stream.write(b"0\r\n\r\n").add_done_callback(_close_after(stream))
                asyncio.get_running_loop().call_later(_CLOSE_GRACE, stream.close)
            else:
                stream.close()
        except Exception:  # StreamClosedError, or a full buffer: close, whatever it was
            stream.close()
        finally:
            self._on_closed()

    def _lost(self) -> None:
        if not self._closed:
            self._closed = True
            self._on_closed()


def _close_after(stream: IOStream) -> Callable[[asyncio.Future[None]], None]:
    def done(written: asyncio.Future[None]) -> None:
        if not written.cancelled():
            written.exception()  # a peer that left first is not an error worth logging
        stream.close()

    return done
