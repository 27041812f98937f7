"""The process's default publisher: which hub a ``ServerSignal`` with no ``server=`` uses.

Kernels started by a Jupyter server with the extension inherit its address and
publish secret in their environment (``ENV_URL``, ``ENV_SECRET``); they publish
over its WebSocket. Anything else gets a standalone server in this process, which
owns its publisher and stops it when it stops.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings

from ._protocol import ENV_BASE_URL, ENV_SECRET, ENV_URL, EVENTS_PATH
from ._publisher import Publisher
from ._server import Server
from ._transport import TransportError

log = logging.getLogger("nb_sse_signals")


class _Default:
    """The one default per process, and the standalone server behind it, if any."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.publisher: Publisher | None = None
        self.server: Server | None = None


_default = _Default()


def default_publisher() -> Publisher:
    """The Jupyter server extension's publisher if reachable, else a standalone server's."""
    with _default.lock:
        if _default.publisher is None or _default.publisher._closed:
            _default.publisher, _default.server = _discover()
        return _default.publisher


def existing_default_publisher() -> Publisher | None:
    """The process's publisher if one was started (never starts one)."""
    return _default.publisher


def default_server() -> Server | None:
    """The standalone server behind the default publisher, if that is where it publishes."""
    return _default.server


def reset_default_publisher() -> None:
    """Shut the default publisher down (``%unload_ext`` and tests); the next use starts anew."""
    with _default.lock:
        publisher, server = _default.publisher, _default.server
        _default.publisher = _default.server = None
    if server is not None:
        server.stop()  # stops its publisher too, after sending what is pending
    elif publisher is not None:
        publisher.shutdown()


def _discover() -> tuple[Publisher, Server | None]:
    url, secret = os.environ.get(ENV_URL), os.environ.get(ENV_SECRET)
    if url and secret:
        base = os.environ.get(ENV_BASE_URL, "/")
        try:
            publisher = Publisher.connect(
                url, secret, events_url=base.rstrip("/") + "/" + EVENTS_PATH, timeout=5
            )
            return publisher, None
        except (TransportError, TimeoutError) as exc:
            reason = f"the Jupyter server extension at {url} is unreachable ({exc})"
    else:
        reason = "no nb_sse_signals server extension is running"
    server = Server().start()
    if os.environ.get("JPY_PARENT_PID") or url:
        # In a kernel of a Jupyter server without our extension: the browser may be on
        # another machine, where 127.0.0.1 is not this one.
        warnings.warn(
            f"nb_sse_signals: {reason}; serving signals from {server.url}, which a "
            "browser on another machine cannot reach. Install nb_sse_signals in the Jupyter "
            "server's environment to stream through it.",
            RuntimeWarning,
            stacklevel=4,
        )
    else:
        log.info("nb_sse_signals: %s; serving signals at %s", reason, server.url)
    return server.publisher, server
