"""Driving a signal from an (async) iterator, throttled (the seed's ``stream.throttle``)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterable, Iterable
from typing import Any, Protocol

log = logging.getLogger("nb_sse_signals")


class Target(Protocol):
    """What a driver sets: a ``ServerSignal``, or anything with a key and ``set()``."""

    key: str

    def set(self, value: object) -> None: ...


class Driver:
    """A running ``drive()``: ``stop()`` ends it, ``wait()`` waits for the source to run out.

    Sync iterables run in a daemon thread of their own (a slow ``next()`` never
    blocks the kernel); async iterables run as a task on the caller's running
    loop, or on the publisher's loop when the caller has none. An exception
    from the source ends the drive; it is logged and kept in ``error``.
    """

    def __init__(self, signal: Target, every: float | None) -> None:
        self.signal = signal
        self.every = every
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def start(
        cls, signal: Target, source: Any, every: float | None, loop: asyncio.AbstractEventLoop
    ) -> Driver:
        """Drive ``signal`` from ``source``; async sources run on ``loop`` when the caller
        has no running loop (the publisher's, which keeps running while a cell does)."""
        if every is not None and every < 0:
            raise ValueError(f"expected every >= 0 seconds, got {every}")
        driver = cls(signal, every)
        if isinstance(source, AsyncIterable):
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                asyncio.run_coroutine_threadsafe(driver._start_task(source), loop).result(5)
            else:
                driver._loop = running
                driver._task = running.create_task(driver._run_async(source))
        elif isinstance(source, Iterable):
            threading.Thread(
                target=driver._run_sync, args=(source,), name="nb_sse_signals-drive", daemon=True
            ).start()
        else:
            raise TypeError(
                f"expected an iterable or async iterable to drive {signal.key!r}, "
                f"got {type(source).__name__}"
            )
        return driver

    async def _start_task(self, source: AsyncIterable[Any]) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run_async(source))

    def _run_sync(self, source: Iterable[Any]) -> None:
        try:
            for item in source:
                started = time.monotonic()
                self.signal.set(item)
                if self.every and self._stop.wait(
                    max(0.0, self.every - (time.monotonic() - started))
                ):
                    break
                if self._stop.is_set():
                    break
        except BaseException as exc:  # the source failed: end the drive, keep the reason
            self._fail(exc)
        finally:
            self._done.set()

    async def _run_async(self, source: AsyncIterable[Any]) -> None:
        try:
            async for item in source:
                started = time.monotonic()
                self.signal.set(item)
                if self._stop.is_set():
                    break
                if self.every:
                    await asyncio.sleep(max(0.0, self.every - (time.monotonic() - started)))
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            self._fail(exc)
        finally:
            self._done.set()

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        log.error("nb_sse_signals: driving %s stopped: %r", self.signal.key, exc)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def stop(self) -> None:
        """Stop after the current item (a sleeping async drive stops at once)."""
        self._stop.set()
        task, loop = self._task, self._loop
        if task is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the source is exhausted or the drive stopped; False on timeout."""
        return self._done.wait(timeout)
