"""A kernel-side publisher without a network: the real ``Publisher`` over a recording transport.

``ServerSignal`` does its work (normalise, diff or record, serialise) in the caller's
thread and hands bytes to the publisher's thread; what the transport then does is the
hub's business, in another process. So to measure the kernel's side alone, the
transport here only counts the bytes it is given and answers as a hub would
(``ok`` and the next revision); ``forward_to`` sends them on to a real in-process
:class:`SignalHub` when a benchmark also needs what subscribers receive.
"""

from __future__ import annotations

from typing import Any

import orjson

from nb_sse_signals._hub import SignalHub
from nb_sse_signals._messages import handle_message
from nb_sse_signals._publisher import Publisher
from nb_sse_signals._signal import ServerSignal


class RecordingTransport:
    """Implements ``nb_sse_signals._transport.Transport``; records every message's size."""

    events_url = ""
    token: str | None = None
    max_message_bytes: int | None = None  # no frames: nothing to split

    def __init__(self, forward_to: SignalHub | None = None) -> None:
        self.sizes: list[int] = []
        self.hub = forward_to
        self._rev: dict[str, int] = {}

    async def request(self, messages: list[bytes]) -> list[dict[str, Any]]:
        replies = []
        for raw in messages:
            self.sizes.append(len(raw))
            message = orjson.loads(raw)
            if self.hub is not None:
                replies.append(handle_message(self.hub, message))
                continue
            name = message["name"]
            rev = self._rev[name] = self._rev.get(name, -1) + 1
            replies.append({"ok": True, "rev": rev})
        return replies

    async def close(self) -> None:
        return None


def make_signal(
    name: str, initial: object, transport: RecordingTransport, max_rate: float = 30.0
) -> tuple[ServerSignal, Publisher]:
    """A real ``ServerSignal`` on a real ``Publisher`` thread; shut the publisher down after."""
    publisher = Publisher(transport)
    try:
        signal = ServerSignal(name, initial, shared=True, publisher=publisher, max_rate=max_rate)
    except BaseException:
        publisher.shutdown()
        raise
    return signal, publisher
