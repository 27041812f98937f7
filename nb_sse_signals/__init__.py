"""Server signals for Jupyter: named JSON values owned by Python, streamed to viewers over SSE."""

from typing import TYPE_CHECKING, Any

from ._drive import Driver
from ._errors import (
    BackplaneError,
    CursorError,
    LimitError,
    NotJSONError,
    PatchError,
    ProtocolError,
    SignalClosedError,
    SignalsError,
    UnknownSignalError,
)
from ._hub import SignalHub, SignalInfo
from ._limits import Limits
from ._publisher import Publisher
from ._signal import ServerSignal
from ._subscription import Subscription

if TYPE_CHECKING:
    from ._asgi import asgi_app
    from ._chart import SignalChart
    from ._extension import load_ipython_extension, unload_ipython_extension
    from ._handlers import signal_handlers
    from ._link import SignalLink, link
    from ._redis import RedisBackplane, RedisPublisher
    from ._server import Server, serve
    from ._widget import SignalWidget

__version__ = "0.1.0"

__all__ = [
    "BackplaneError",
    "CursorError",
    "Driver",
    "LimitError",
    "Limits",
    "NotJSONError",
    "PatchError",
    "ProtocolError",
    "Publisher",
    "RedisBackplane",
    "RedisPublisher",
    "Server",
    "ServerSignal",
    "SignalChart",
    "SignalClosedError",
    "SignalHub",
    "SignalInfo",
    "SignalLink",
    "SignalWidget",
    "SignalsError",
    "Subscription",
    "UnknownSignalError",
    "__version__",
    "asgi_app",
    "link",
    "load_ipython_extension",
    "serve",
    "signal_handlers",
    "unload_ipython_extension",
]

# Public names print as nb_sse_signals.X, not the private module that defines them
# (the httpx idiom). The lazy ones below do the same where they are defined.
for _name in __all__:
    _obj = globals().get(_name)
    if _obj is not None and hasattr(_obj, "__module__"):
        _obj.__module__ = __name__
del _name, _obj

# Imported on first use: the widget pulls in ipywidgets and anywidget, the server
# extension jupyter_server. A standalone server or a script needs neither, and every
# object they create is one more for each full garbage collection to walk (14 ms
# with them loaded, a visible pause when fanning out to 1,000 clients). The servers
# need tornado, which Pyodide (JupyterLite) has not: a kernel there imports none.
_LAZY = {
    "SignalWidget": "._widget",
    "Server": "._server",
    "serve": "._server",
    "signal_handlers": "._handlers",
    "SignalLink": "._link",
    "link": "._link",
    "SignalChart": "._chart",
    # The Redis backplane needs the optional `redis` package (nb_sse_signals[redis]).
    "RedisBackplane": "._redis",
    "RedisPublisher": "._redis",
    # The ASGI app needs the optional `starlette` package (nb_sse_signals[asgi]).
    "asgi_app": "._asgi",
    "load_ipython_extension": "._extension",
    "unload_ipython_extension": "._extension",
    "_jupyter_server_extension_points": "._serverext",
    "_load_jupyter_server_extension": "._serverext",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nb_sse_signals' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module, __name__), name)
