"""Write an SSE body straight to a detached connection: the hub's fan-out hot path.

Tornado's ``RequestHandler.write`` + ``flush`` costs about 20 µs per delivery (the
handler's buffer, the HTTP/1.1 connection's chunk framing, an ``IOStream`` write
future); at 1,000 subscribers that is 20 ms of one loop turn per change, and it was
80% of the hub's busy time in a fan-out profile. After the response headers are out,
:class:`SSEWriter` takes the stream (``RequestHandler.detach``, the public way
websockets leave HTTP) and frames chunks itself; when nothing is queued in the
stream it hands the bytes to the socket in one ``sendmsg`` (about 9 µs, most of it
the kernel's loopback), and only what the socket does not take goes through
``IOStream.write``, whose future says when the subscriber can take more.

Memory per connection: the hub's frames are shared by every subscriber, so they are
written by reference, never joined or copied per subscriber: ``sendmsg`` gathers the
chunk header, the frames and the trailer; what the socket does not take is queued as
views of the same bytes (Tornado keeps buffers over 2 KiB by reference). A reader
that does not take what is queued within ``write_timeout`` seconds is cut off.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence

from tornado.iostream import IOStream, StreamClosedError

__all__ = ["SSEWriter"]

log = logging.getLogger("nb_sse_signals")

_CLOSE_GRACE = 5.0  # seconds a closing stream may take to hand over its last chunk
# Buffers per sendmsg call: Linux takes at most IOV_MAX (1,024) at once.
_GATHER = 512


class SSEWriter:
    """The body of one streaming response on a detached stream.

    ``chunked`` says whether the response headers promised chunked framing (Tornado
    chunks every HTTP/1.1 response without a length; an HTTP/1.0 body simply ends
    when the connection closes). ``on_drained`` runs once queued bytes are written;
    ``on_closed`` runs once when the peer goes away or :meth:`close` is called.
    ``write_timeout``: seconds queued bytes may wait for the reader before it is cut
    off (``None``: no limit).
    """

    def __init__(
        self,
        stream: IOStream,
        *,
        chunked: bool,
        on_drained: Callable[[], None],
        on_closed: Callable[[], None],
        write_timeout: float | None = None,
    ) -> None:
        self._stream = stream
        self._chunked = chunked
        self._on_drained = on_drained
        self._on_closed = on_closed
        self._write_timeout = write_timeout
        self._timer: asyncio.TimerHandle | None = None
        self.timed_out = False  # cut off for not reading
        # Only a plain socket may be written past the stream: TLS has its own framing
        # and retry rules, so an SSLIOStream always goes through IOStream.write.
        self._raw = type(stream) is IOStream and hasattr(stream.socket, "sendmsg")
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
        """Write ``body`` (one or more whole SSE events); see :meth:`send_frames`."""
        self.send_frames((body,))

    def send_frames(self, frames: Sequence[bytes], size: int | None = None) -> None:
        """Write ``frames`` (whole SSE events, as one chunk), by reference. Never blocks.

        ``size``: their total length, if the caller knows it already. When the socket
        takes only part of them, the rest is queued and :attr:`busy` stays true until
        ``on_drained``; the caller holds further events until then, which is what
        turns a slow reader into snapshots instead of an unbounded queue.
        """
        if self._closed:
            return
        if size is None:
            size = sum(map(len, frames))
        if not size:
            return
        stream = self._stream
        if stream.closed():
            # Tornado drops the socket at once but runs the close callback a loop turn
            # later: the peer is gone, whichever of the two we see first.
            self._lost()
            return
        buffers: list[bytes | memoryview] = (
            [b"%x\r\n" % size, *frames, b"\r\n"] if self._chunked else list(frames)
        )
        if self._raw and not stream.writing():
            try:
                sent = _gather(stream.socket, buffers)
            except OSError:
                self.close()
                return
            # All of it, the common case (a reader that keeps up): no walk over the frames.
            if sent == (size + len(buffers[0]) + 2 if self._chunked else size):
                return
            buffers = _unsent(buffers, sent)
            if not buffers:
                return
        self.busy = True
        if self._write_timeout is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._write_timeout, self._stuck)
        try:
            for buffer in buffers[:-1]:
                stream.write(buffer)
            stream.write(buffers[-1]).add_done_callback(self._written)
        except StreamClosedError:
            self.close()

    def _written(self, done: asyncio.Future[None]) -> None:
        self.busy = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if done.cancelled() or done.exception() is not None:
            self.close()
        elif not self._closed:
            self._on_drained()

    def _stuck(self) -> None:
        # What was queued waited write_timeout for a reader that no longer reads: it
        # would hold its bytes (and the connection) until TCP gives up, hours later.
        self._timer = None
        if self.busy and not self._closed:
            self.timed_out = True
            log.info(
                "nb_sse_signals: cut off a subscriber that read nothing for %g s (write_timeout)",
                self._write_timeout,
            )
            self.close()

    def close(self) -> None:
        """End the body (the last chunk, when chunked) and close the connection. Idempotent.

        A reader that stopped reading (bytes still queued) is cut off at once: a
        terminating chunk queued behind the rest would hold the socket until TCP
        gives up.
        """
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
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


def _gather(sock: socket.socket, buffers: Sequence[bytes | memoryview]) -> int:
    """Send what the socket takes now of ``buffers``, gathered (no join); bytes sent."""
    if len(buffers) <= _GATHER:  # one call (a window of small events), no slicing
        try:
            return sock.sendmsg(buffers)
        except BlockingIOError:
            return 0
    sent = 0
    for start in range(0, len(buffers), _GATHER):
        group = buffers[start : start + _GATHER]
        try:
            n = sock.sendmsg(group)
        except BlockingIOError:
            return sent
        sent += n
        if n < sum(map(len, group)):
            return sent
    return sent


def _unsent(buffers: list[bytes | memoryview], sent: int) -> list[bytes | memoryview]:
    """``buffers`` past their first ``sent`` bytes: views of the same bytes, no copy."""
    for i, buffer in enumerate(buffers):
        if sent < len(buffer):
            rest = buffers[i:]
            if sent:
                rest[0] = memoryview(buffer)[sent:]
            return rest
        sent -= len(buffer)
    return []


def _close_after(stream: IOStream) -> Callable[[asyncio.Future[None]], None]:
    def done(written: asyncio.Future[None]) -> None:
        if not written.cancelled():
            written.exception()  # a peer that left first is not an error worth logging
        stream.close()

    return done
