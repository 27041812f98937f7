"""The body of one event stream on an ASGI server: the ASGI app's fan-out hot path.

Woken by the hub, a task per stream that then ``await send(...)`` cost the hub process
about twice the CPU per delivery of the Tornado handler at 1,000 subscribers (a task
step, a future and an event per delivery). So, as :class:`SSEWriter` does for
Tornado, the hub's wake-up callback writes itself: it calls the server's ``send`` and
drives that coroutine at once, in the request's context. A server writes a chunk
without suspending unless its flow control holds it for a slow reader; only then does
the rest of that one send continue in a task, and nothing more is written until it is
done: the backlog waits in the subscription's bounded buffer, which is what turns a
reader that stopped reading into snapshots. A send the server holds for
``write_timeout`` seconds (``Limits.write_timeout``, as for Tornado's writer) cuts the
reader off: the subscription is closed, and the connection is aborted where the
server lets us reach it (uvicorn; see :func:`_abort_under`), so the bytes it had
buffered for that reader are freed too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine, Generator, MutableMapping
from typing import Any, cast

from ._endpoints import EventStream

__all__ = ["StreamSender"]

log = logging.getLogger("nb_sse_signals")

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
# What an ASGI send is called as here: a coroutine function (ASGI requires it).
_CoroutineSend = Callable[[MutableMapping[str, Any]], Coroutine[Any, Any, None]]


class StreamSender:
    """Writes ``body`` through the ASGI ``send`` of one response whose headers are out.

    Single-threaded, on the hub's loop. ``on_done`` runs once, when the stream ended:
    :meth:`end` (the last chunk written), :meth:`close`, or a send that failed.
    ``write_timeout``: seconds a send may be held for a reader that does not read
    before it is cut off (``None``: no limit); :attr:`timed_out` then says so.
    """

    def __init__(
        self,
        body: EventStream,
        send: Send,
        on_done: Callable[[], None],
        *,
        write_timeout: float | None = None,
    ) -> None:
        self.body = body
        # Cast once here, not per delivery (typing.cast is a call too), and no
        # isinstance check on the hot path: an ABC check per delivery.
        self._send = cast(_CoroutineSend, send)
        self._on_done = on_done
        # Sends run in the request's context, as they would in its own task.
        self._context = contextvars.copy_context()
        self._loop = asyncio.get_running_loop()
        self._sending: asyncio.Task[None] | None = None  # a send the server holds
        self._ending = False
        self._done = False
        self._write_timeout = write_timeout
        self._stall: asyncio.TimerHandle | None = None  # runs out: the reader is cut off
        self.timed_out = False
        self._ticker = self._loop.call_later(body.keepalive, self._keep_alive)

    def start(self) -> None:
        self.body.sub.on_ready(self.pump)
        self.pump()  # the first batch (snapshots or replay) is already waiting

    def pump(self) -> None:
        """Write what is pending, unless a send is still held (the hub's listener)."""
        if self._done or self._sending is not None:
            return
        if self.body.sub.closed:
            self.close()
        elif self._ending:
            self._write(b"", more=False)
        else:
            # Every frame ready, in one send (one chunk, one write); a lone frame is
            # the hub's own bytes, which join returns as they are.
            chunk = b"".join(self.body.take_frames())
            if chunk:
                self._write(chunk)

    def end(self) -> None:
        """Write the last chunk (after any send still held) and finish: the server stops."""
        self._ending = True
        self.pump()

    def close(self) -> None:
        """Finish without writing more (the client left). Idempotent."""
        if self._done:
            return
        self._done = True
        self._ticker.cancel()
        if self._stall is not None:
            self._stall.cancel()
        if self._sending is not None:
            self._sending.cancel()
        self._on_done()

    def _keep_alive(self) -> None:
        again = self.body.keepalive
        if not self._done and self._sending is None and not self._ending:
            comment, again = self.body.keep_alive()
            if comment:
                self._write(comment)
        if not self._done:
            self._ticker = self._loop.call_later(again, self._keep_alive)

    def _write(self, chunk: bytes, *, more: bool = True) -> None:
        message = {"type": "http.response.body", "body": chunk, "more_body": more}
        coro = self._send(message)
        try:
            held = self._context.run(coro.send, None)
        except StopIteration:
            if not more:
                self.close()
            return
        except Exception as exc:  # the client left (OSError), or the server rejected
            if not isinstance(exc, OSError):
                log.warning("nb_sse_signals: ending a stream the server rejected: %r", exc)
            self.close()
            return
        task = self._loop.create_task(_finish(coro, held), context=self._context)
        self._sending = task
        task.add_done_callback(lambda t: self._sent(t, more))
        if self._write_timeout is not None:
            # The server holds this send until the reader takes what it buffered. A
            # server that buffers a chunk and returns holds the next one instead: at the
            # latest the keep-alive's, so a silent stream is cut off too.
            self._stall = self._loop.call_later(self._write_timeout, self._stuck)

    def _sent(self, task: asyncio.Task[None], more: bool) -> None:
        self._sending = None
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        if task.cancelled():
            return
        if task.exception() is not None or not more:
            self.close()
        else:
            self.pump()  # what came while the reader was slow

    def _stuck(self) -> None:
        # What the server holds waited write_timeout for a reader that no longer reads:
        # it would keep the subscription, the connection and the server's buffered
        # bytes until TCP gives up, hours later.
        self._stall = None
        if self._done or self._sending is None:
            return
        self.timed_out = True
        log.info(
            "nb_sse_signals: cut off a subscriber that read nothing for %g s (write_timeout)",
            self._write_timeout,
        )
        # Ending the response alone is not enough: a server closes a connection
        # gracefully, after the bytes it buffered are read, which this reader never
        # does. Aborting drops them and the socket at once; the client sees a reset and
        # reconnects with Last-Event-ID, as after a Tornado cut-off.
        abort = _abort_under(self._send)
        if abort is not None:
            abort()
        self.close()


def _abort_under(send: object) -> Callable[[], None] | None:
    """The ``abort`` of the connection's transport behind an ASGI ``send``, where it
    can be found (asyncio's transports and uvloop's alike have one).

    ASGI has no message to abort a connection. uvicorn's ``send`` is a bound method
    of its request cycle, which holds the transport; Starlette's middlewares (a
    FastAPI or Starlette mount) wrap it in closures. So: follow ``__self__`` and
    closure cells, a few steps. Elsewhere None: the response just ends, and the
    server closes the connection as it does.
    """
    todo, steps = [send], 0
    while todo and steps < 16:
        obj, steps = todo.pop(), steps + 1
        transport = getattr(getattr(obj, "__self__", None), "transport", None)
        abort = getattr(transport, "abort", None)
        if callable(abort):
            return cast(Callable[[], None], abort)
        for cell in getattr(obj, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # an empty cell
                if callable(cell.cell_contents):
                    todo.append(cell.cell_contents)
    return None


async def _finish(coro: Coroutine[Any, Any, None], held: Any) -> None:
    """Await the rest of ``coro``, which already ran up to yielding ``held``."""
    await _Resumed(coro, held)


class _Resumed:
    """An awaitable over a coroutine already started: what it yields goes to the task
    awaiting this, and what the task sends or throws back goes to it."""

    def __init__(self, coro: Coroutine[Any, Any, None], held: Any) -> None:
        self._coro = coro
        self._held = held

    def __await__(self) -> Generator[Any, Any, None]:
        coro, held = self._coro, self._held
        while True:
            try:
                value = yield held
            except BaseException as exc:  # cancellation: into the coroutine, as a task would
                try:
                    held = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    held = coro.send(value)
                except StopIteration:
                    return
