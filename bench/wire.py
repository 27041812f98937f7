"""Goal 2: bytes on the wire and kernel CPU per one-element change, beside ipywidgets.

The ipywidgets side is a real widget (a ``List`` trait with ``sync=True``) whose comm
is replaced by a recording fake: counting bytes needs no kernel, and the fake packs
each message with ``jupyter_client``'s own JSON packer, as the kernel's session does.
Only the message content is counted (the session header and HMAC signature add a
constant few hundred bytes to every Jupyter message, ours included when a kernel
publishes through the server extension's WebSocket they do not apply).

Ours: a real ``ServerSignal`` on a real publisher thread; its transport records the
size of each publish message and forwards it to a real in-process hub, whose SSE
frame (what every browser receives) is read from a real subscription.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from typing import Any

import orjson
import traitlets
from ipywidgets import widgets
from jupyter_client.session import json_packer

from nb_sse_signals._comm import CommRelay
from nb_sse_signals._hub import SignalHub
from nb_sse_signals._publisher import Publisher
from nb_sse_signals._signal import ServerSignal

from ._kernel import RecordingTransport, make_signal
from ._timing import Row, Section, fmt_ratio, fmt_time, median

SECTION = "2. Wire"


class _Series(widgets.Widget):  # type: ignore[misc]  # ipywidgets is untyped
    values = traitlets.List(traitlets.Float()).tag(sync=True)


class _RecordingComm:
    """Stands in for ``comm.base_comm.BaseComm``: packs what the widget sends, keeps sizes."""

    comm_id = "bench-recording-comm"

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        packed = json_packer(data)
        self.sizes.append(len(packed) + sum(len(b) for b in buffers or ()))

    def on_msg(self, callback: Any) -> None:
        return None

    def close(self, *args: Any, **kwargs: Any) -> None:
        return None


def _floats(n: int) -> list[float]:
    # Random floats print at full length (~19 characters), as a plot's data does.
    rng = random.Random(5)
    return [rng.random() for _ in range(n)]


def _cpu_per_update(update: Any, count: int, repeat: int) -> float:
    """Median process CPU seconds per update (all threads: the publisher's counts too)."""
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(count):
            update()
        samples.append((time.process_time() - start) / count)
    return median(samples)


def _ipywidgets(n: int, count: int, repeat: int) -> tuple[int, float]:
    widget = _Series(values=_floats(n))
    comm = _RecordingComm()
    widget.comm = comm
    counter = itertools.count()

    def update() -> None:
        # A trait assignment must be a new list: ipywidgets sends only on a change it sees.
        widget.values = [*widget.values, next(counter) + random.random()]

    cpu = _cpu_per_update(update, count, repeat)
    widget.comm = None
    if len(comm.sizes) != count * repeat:
        raise AssertionError(f"expected {count * repeat} comm messages, got {len(comm.sizes)}")
    return round(median(comm.sizes)), cpu


async def _ours(n: int, count: int, repeat: int, *, mutate: bool) -> tuple[int, int, float]:
    """(publish message bytes, SSE frame bytes, CPU s) per one-element append."""
    hub = SignalHub()
    transport = RecordingTransport(hub)
    data = _floats(n)
    signal, publisher = make_signal("bench/wire", data, transport)
    try:
        sub = hub.subscribe([signal.key])
        await sub.next_batch(1.0)  # the snapshot

        update = _updater(signal, publisher, data, mutate=mutate)

        loop = asyncio.get_running_loop()
        # The publisher forwards into the hub in this process, so CPU is measured
        # with a transport that does not (the hub runs in the server, not the kernel).
        await loop.run_in_executor(None, update)
        transport.sizes.clear()
        frame = await sub.next_batch(1.0)
        if not frame or frame.count(b"\n\n") != 1:
            raise AssertionError(f"expected one SSE event per change, got {frame!r:.200}")
        await loop.run_in_executor(None, update)
        message = transport.sizes[-1]
        sub.close()
        if orjson.dumps(hub.get(signal.key)[1]) != orjson.dumps(signal.value):
            raise AssertionError("the hub's value differs from the publisher's")
    finally:
        publisher.shutdown()
    cpu = _kernel_cpu(n, count, repeat, mutate=mutate)
    return message, len(frame), cpu


def _updater(
    signal: ServerSignal, publisher: Publisher, data: list[float], *, mutate: bool
) -> Callable[[], None]:
    """One appended float per call, by mutate() or by set(); one message per change."""
    counter = itertools.count()

    def update() -> None:
        if mutate:
            with signal.mutate() as doc:
                doc.append(next(counter) + random.random())
        else:
            data.append(next(counter) + random.random())
            signal.set(data)
        publisher.flush()  # one message per change, as at a low rate

    return update


def _comm(n: int, count: int, repeat: int) -> tuple[int, float]:
    """(comm message bytes, kernel CPU s) per one-element append over the comm transport.

    Here the hub lives in the kernel, so its work and the relay's count as kernel CPU.
    The recorded size is the message content packed as ipykernel packs it.
    """
    hub = SignalHub()
    publisher = Publisher.for_hub(hub)
    sizes: list[int] = []
    data = _floats(n)
    try:
        signal = ServerSignal("bench/comm", data, shared=True, publisher=publisher)
        relay = CommRelay(hub, publisher.loop, min_interval=0.0)
        channel = relay.attach(signal.key, lambda m: sizes.append(len(json_packer(m))))
        _wait(lambda: len(sizes) >= 1)  # the snapshot
        counter = itertools.count()

        def update() -> None:
            before = len(sizes)
            data.append(next(counter) + random.random())
            signal.set(data)
            publisher.flush()
            _wait(lambda: len(sizes) > before)  # relayed: one comm message per change

        cpu = _cpu_per_update(update, count, repeat)
        channel.detach()
    finally:
        publisher.shutdown()
    return round(median(sizes[1:])), cpu


def _wait(done: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("the comm relay sent nothing in time")
        time.sleep(0.0002)


def _kernel_cpu(n: int, count: int, repeat: int, *, mutate: bool) -> float:
    data = _floats(n)
    signal, publisher = make_signal("bench/wire-cpu", data, RecordingTransport())
    try:
        update = _updater(signal, publisher, data, mutate=mutate)

        return _cpu_per_update(update, count, repeat)
    finally:
        publisher.shutdown()


def run(quick: bool = False) -> Section:
    n = 1_000 if quick else 10_000
    count, repeat = (5, 2) if quick else (50, 7)
    ipy_bytes, ipy_cpu = _ipywidgets(n, count, repeat)
    set_msg, set_frame, set_cpu = asyncio.run(_ours(n, count, repeat, mutate=False))
    mut_msg, mut_frame, mut_cpu = asyncio.run(_ours(n, count, repeat, mutate=True))
    comm_msg, comm_cpu = _comm(n, count, repeat)
    base = f"ipywidgets {ipy_bytes:,} B"
    rows = [
        Row(
            SECTION,
            f"SSE frame per append, {n:,} floats, set()",
            f"{set_frame:,} B",
            base,
            fmt_ratio(ipy_bytes / set_frame),
            "≥ 1,000x fewer",
            ipy_bytes / set_frame >= 1000,
        ),
        Row(
            SECTION,
            f"SSE frame per append, {n:,} floats, mutate()",
            f"{mut_frame:,} B",
            base,
            fmt_ratio(ipy_bytes / mut_frame),
            "≥ 1,000x fewer",
            ipy_bytes / mut_frame >= 1000,
        ),
        Row(
            SECTION,
            f"comm message per append, {n:,} floats, set() (no server extension)",
            f"{comm_msg:,} B",
            base,
            fmt_ratio(ipy_bytes / comm_msg),
            "≥ 1,000x fewer",
            ipy_bytes / comm_msg >= 1000,
        ),
        Row(
            SECTION,
            "publish message per append (kernel → hub), set()",
            f"{set_msg:,} B",
            base,
            fmt_ratio(ipy_bytes / set_msg),
            "",
            None,
        ),
        Row(
            SECTION,
            "kernel CPU per update, set() + flush",
            fmt_time(set_cpu),
            f"ipywidgets {fmt_time(ipy_cpu)}",
            fmt_ratio(ipy_cpu / set_cpu),
            "",
            None,
        ),
        Row(
            SECTION,
            "kernel CPU per update over the comm, set() (hub and relay in the kernel)",
            fmt_time(comm_cpu),
            f"ipywidgets {fmt_time(ipy_cpu)}",
            fmt_ratio(ipy_cpu / comm_cpu),
            "",
            None,
        ),
        Row(
            SECTION,
            "kernel CPU per update, mutate() + flush",
            fmt_time(mut_cpu),
            f"ipywidgets {fmt_time(ipy_cpu)}",
            fmt_ratio(ipy_cpu / mut_cpu),
            "",
            None,
        ),
    ]
    facts: dict[str, float | int | bool] = {
        "ipywidgets_bytes": ipy_bytes,
        "set_frame_bytes": set_frame,
        "mutate_frame_bytes": mut_frame,
        "set_message_bytes": set_msg,
        "mutate_message_bytes": mut_msg,
        "comm_message_bytes": comm_msg,
    }
    return Section(SECTION, rows, facts)
