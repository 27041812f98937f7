"""The package's exceptions: one root, a subclass wherever a caller must tell cases apart.

Each message says what was expected and what arrived.
"""

from __future__ import annotations


class SignalsError(Exception):
    """Root of every error this package raises on purpose."""


class NotJSONError(SignalsError, TypeError):
    """A value that cannot be published as JSON; ``path`` is the JSON Pointer of the culprit."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class PatchError(SignalsError, ValueError):
    """A JSON Patch that is malformed or does not apply to the document it was meant for."""


class LimitError(SignalsError, ValueError):
    """A request over one of the hub's limits (``Limits``); it changed nothing."""


class UnknownSignalError(SignalsError, KeyError):
    """A signal name the hub has never published."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class SignalClosedError(SignalsError, RuntimeError):
    """A change to a signal that has been closed."""


class CursorError(SignalsError, ValueError):
    """A ``Last-Event-ID`` that is not a cursor this protocol produces."""


class ProtocolError(SignalsError, ValueError):
    """A message on the wire that does not follow docs/protocol.md."""


def describe(value: object) -> str:
    """``value`` for an error message: its type and a repr cut at 60 characters."""
    text = repr(value)
    return f"{type(value).__name__} {text[:57] + '...' if len(text) > 60 else text}"


class BackplaneError(SignalsError, ConnectionError):
    """The backplane (Redis) cannot take a change now: nothing was queued or changed."""
