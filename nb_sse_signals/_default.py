"""Which hub a ``ServerSignal`` with no ``server=`` publishes to, and how its widgets follow it.

The transport ladder (docs/architecture.md):

1. A kernel started by a Jupyter server with the extension inherits its address and
   publish secret (``ENV_URL``, ``ENV_SECRET``): it publishes over the extension's
   WebSocket, and widgets follow over SSE from the page's own server.
2. Anywhere else (VS Code, Colab, JupyterLite, a server without the extension, a
   script) signals live in a hub in this process, and widgets follow over their own
   comm (``_comm``): the browser may not be able to reach this machine at all.
3. A standalone server for that local hub starts only when something asks where a
   signal is served (``s.url``, ``%signal_url``), for viewers outside the notebook.

Without threads (Pyodide) the local publisher runs on the kernel's own event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import TYPE_CHECKING

from ._comm import CommRelay
from ._errors import SignalsError
from ._hub import SignalHub
from ._protocol import ENV_BASE_URL, ENV_SECRET, ENV_URL, EVENTS_PATH
from ._publisher import Publisher
from ._transport import HubTransport, TransportError

if TYPE_CHECKING:
    from ._server import Server

log = logging.getLogger("nb_sse_signals")


class _Default:
    """The process's publishers, made when first needed, and what hangs off the local one."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.extension: Publisher | None = None  # over the Jupyter server extension
        self.extension_tried = False
        self.local: Publisher | None = None  # into a hub in this process
        self.server: Server | None = None  # serving the local hub, once asked for
        self.relay: CommRelay | None = None  # the local hub's events, over widget comms


_default = _Default()


def default_publisher() -> Publisher:
    """The Jupyter server extension's publisher if there is one, else the local one."""
    return extension_publisher() or local_publisher()


def extension_publisher() -> Publisher | None:
    """A publisher over the Jupyter server extension, if this kernel's environment names
    one and it answers (tried once per process)."""
    with _default.lock:
        if _default.extension is not None and not _default.extension._closed:
            return _default.extension
        if _default.extension_tried:
            return None
        _default.extension_tried = True
        url, secret = os.environ.get(ENV_URL), os.environ.get(ENV_SECRET)
        if not (url and secret):
            return None
        base = os.environ.get(ENV_BASE_URL, "/")
        try:
            _default.extension = Publisher.connect(
                url, secret, events_url=base.rstrip("/") + "/" + EVENTS_PATH, timeout=5
            )
        except (TransportError, TimeoutError) as exc:
            log.warning(
                "nb_sse_signals: the Jupyter server extension at %s is unreachable (%s); "
                "signals are served by this kernel, and widgets follow them over their comm",
                url,
                exc,
            )
            return None
        return _default.extension


def local_publisher() -> Publisher:
    """The publisher into this process's own hub (made once; no server, no socket)."""
    with _default.lock:
        if _default.local is None or _default.local._closed:
            _default.local = _new_local_publisher()
            _default.server = _default.relay = None
        return _default.local


def _new_local_publisher() -> Publisher:
    hub = SignalHub()
    try:
        return Publisher.for_hub(hub)
    except RuntimeError:  # "can't start new thread": Pyodide, in JupyterLite
        return Publisher.for_hub(hub, loop=asyncio.get_event_loop())


def is_local(publisher: Publisher) -> bool:
    return publisher is _default.local


def local_hub(publisher: Publisher) -> SignalHub:
    transport = publisher.transport
    assert isinstance(transport, HubTransport), "the local publisher publishes in process"
    return transport.hub


def serve_local(publisher: Publisher) -> Server:
    """The standalone server for the local hub, started on the publisher's loop the first
    time anyone asks where a signal is served. Loopback only, with a random token."""
    if publisher._thread is None:
        raise SignalsError(
            "expected a Python with threads and sockets to serve signals outside the "
            "notebook, got one with neither (Pyodide, as in JupyterLite): this kernel's "
            "widgets show its signals over their comm, with no server"
        )
    # Imported here: the server needs tornado, which Pyodide (JupyterLite) has not.
    from ._server import Server

    with _default.lock:
        if _default.server is None:
            server = Server(local_hub(publisher))
            publisher.run(server.start_async())
            transport = publisher.transport
            assert isinstance(transport, HubTransport)
            transport.events_url = server.url + EVENTS_PATH
            transport.token = server.token
            _default.server = server
            log.info("nb_sse_signals: serving this kernel's signals at %s", server.url)
        return _default.server


def comm_relay(publisher: Publisher) -> CommRelay:
    """The relay of the local hub's events to widget comms (made once)."""
    with _default.lock:
        if _default.relay is None:
            _default.relay = CommRelay(local_hub(publisher), publisher.loop)
        return _default.relay


def existing_publishers() -> list[Publisher]:
    return [p for p in (_default.extension, _default.local) if p is not None]


def default_server() -> Server | None:
    """The standalone server for the local hub, if one was asked for."""
    return _default.server


def reset_default_publisher() -> None:
    """Shut the default publishers down (``%unload_ext`` and tests); the next use starts anew."""
    with _default.lock:
        extension, local, server = _default.extension, _default.local, _default.server
        _default.extension = _default.local = _default.server = _default.relay = None
        _default.extension_tried = False
    if local is not None:
        local.flush()
        if server is not None:
            local.run(server.stop_async())
        local.shutdown()
    if extension is not None:
        extension.shutdown()
