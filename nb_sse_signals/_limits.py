"""Every resource a stranger can make a hub spend, bounded: the limits and their defaults.

One frozen object per hub or server (``SignalHub(limits=...)``, ``Server(limits=...)``,
``nb-sse-signals serve --max-...``, ``c.SignalsExtension.<name>`` in Jupyter); each
rejection is a 4xx or an ``ok: false`` reply with a JSON message naming the limit, and
changes nothing. docs/security.md lists them with the reasons for their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ._depth import MAX_DEPTH

__all__ = ["CONNECTION_LIMITS", "Limits"]

# The fields only a server of our own can hold to: a Jupyter server owns its sockets.
CONNECTION_LIMITS = frozenset({"header_bytes", "connections", "header_timeout", "idle_timeout"})


@dataclass(frozen=True)
class Limits:
    # Publishing
    message_bytes: int = 16 * 1024 * 1024  # one publish message (WebSocket frame or POST body)
    ops_per_patch: int = 100_000
    depth: int = MAX_DEPTH  # levels of nesting; more cannot be written by the encoders
    signals: int = 10_000  # per hub
    signals_per_publisher: int = 1_000  # per publishing connection
    # Signals this hub knows only from its backplane (declared by other hubs)
    backplane_signals: int = 100_000  # beyond these, others' signals are not served here
    backplane_value_bytes: int = 16 * 1024 * 1024  # one value or change read from Redis
    # Subscribing
    subscribers: int = 10_000  # per hub
    subscribers_per_signal: int = 10_000
    signals_per_subscription: int = 1_000
    # Memory
    history_events: int = 1_024  # per signal, for Last-Event-ID resume
    history_bytes: int = 4 * 1024 * 1024  # per signal: big values keep fewer changes
    # Connections: the standalone server's (in Jupyter, the Jupyter server's own apply)
    header_bytes: int = 64 * 1024  # a request's line and headers (its URL included)
    connections: int = 10_000  # open at once; also kept under the process's file limit
    header_timeout: float = 10.0  # seconds to send a request's headers, or be cut off
    idle_timeout: float = 60.0  # seconds a kept-alive connection may sit between requests
    # A subscriber's stream: in Jupyter too (the writer is ours)
    write_timeout: float = 60.0  # seconds queued bytes may wait for a reader, or it is cut

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(
                    f"expected a positive number for the limit {f.name}, got {value!r}"
                )
        if self.depth > MAX_DEPTH:
            raise ValueError(
                f"expected a depth limit of at most {MAX_DEPTH} (what the JSON encoders can "
                f"write), got {self.depth}"
            )

    def rejection(self, name: str, got: object) -> str:
        """The message for a request over limit ``name``: what is allowed, what arrived."""
        shown = f"{got:,}" if isinstance(got, int) and not isinstance(got, bool) else got
        return f"expected at most {getattr(self, name):,} {name.replace('_', ' ')}, got {shown}"
