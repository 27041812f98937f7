"""Server signals for Jupyter: named JSON values owned by Python, streamed to viewers over SSE."""

from ._drive import Driver
from ._errors import (
    CursorError,
    NotJSONError,
    PatchError,
    ProtocolError,
    SignalClosedError,
    SignalsError,
    UnknownSignalError,
)
from ._extension import load_ipython_extension, unload_ipython_extension
from ._handlers import signal_handlers
from ._hub import SignalHub, SignalInfo
from ._publisher import Publisher
from ._server import Server, serve
from ._serverext import (  # the hooks Jupyter looks up on the package
    _jupyter_server_extension_points as _jupyter_server_extension_points,
)
from ._serverext import (
    _load_jupyter_server_extension as _load_jupyter_server_extension,
)
from ._signal import ServerSignal
from ._subscription import Subscription
from ._widget import SignalWidget

__version__ = "0.1.0"

__all__ = [
    "CursorError",
    "Driver",
    "NotJSONError",
    "PatchError",
    "ProtocolError",
    "Publisher",
    "Server",
    "ServerSignal",
    "SignalClosedError",
    "SignalHub",
    "SignalInfo",
    "SignalWidget",
    "SignalsError",
    "Subscription",
    "UnknownSignalError",
    "__version__",
    "load_ipython_extension",
    "serve",
    "signal_handlers",
    "unload_ipython_extension",
]
