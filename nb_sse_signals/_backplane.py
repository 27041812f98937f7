"""What a hub needs of a backplane: the seam between ``SignalHub`` and an engine.

A hub commits every change through its backplane, as centrifuge's ``Node`` publishes
through a ``Broker``. The default, ``_memory.MemoryBackplane``, commits it in the
hub's own store at once. A shared engine (``_redis.RedisBackplane``) commits it in
Redis, ordered among every hub's, and the change comes back to every hub, this one
included, through the engine's feed: the engine calls the hub's
:class:`BackplaneEvents` (``_remote.Mirror``, a public interface, never the hub's
private state), which applies it in the engine's order. So with a shared engine,
revisions, sequence numbers and the epoch (the cursor) are the engine's, the same
on every hub.

Typing only, no I/O: it sits below the hub so that the hub can name it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from ._limits import Limits
from ._types import JSON

__all__ = [
    "DEFAULT_MAXLEN",
    "DEFAULT_PREFIX",
    "DEFAULT_TTL",
    "Backplane",
    "BackplaneEvents",
    "tenant_prefix",
]

# The Redis backplane's defaults, here so that its options can be declared (CLI, the
# server extension's traits) without importing the optional `redis` package.
DEFAULT_PREFIX = "nb_sse_signals:"  # every key's
DEFAULT_MAXLEN = 10_000  # stream entries kept (approximately: trimmed with MAXLEN ~)
DEFAULT_TTL = 7 * 24 * 3600  # seconds a signal or the stream outlives its last change


def tenant_prefix(prefix: str, *, user: str = "", shared: str = "") -> str:
    """The key prefix of one trust domain on a Redis that several deployments share.

    ``shared``: a named namespace, ``<prefix>shared:<name>:``, whose servers all see
    (and may change) each other's signals, whoever runs them: one trust domain, chosen
    explicitly. Else ``user`` (JupyterHub's ``JUPYTERHUB_USER``): ``<prefix>user:<user>:``,
    shared by that user's servers only. Else ``prefix`` as it is (one deployment).

    The name is percent-encoded (``quote``): a user name cannot reach another's
    namespace (``alice:x`` is not under ``alice:``), and no glob character of a Redis
    ACL key pattern (``* ? [ ] \\``) can appear in it, so ``~<prefix>*`` confines
    an ACL user to exactly this namespace (docs/security.md).
    """
    if shared:
        return f"{prefix}shared:{quote(shared, safe='')}:"
    if user:
        return f"{prefix}user:{quote(user, safe='')}:"
    return prefix


T = TypeVar("T")
R = TypeVar("R")


class Backplane(Protocol):
    """Commits one change for a hub and returns once this hub has applied it.

    Each method raises what the hub would (``UnknownSignalError``,
    ``SignalClosedError``, ``PatchError``, ``LimitError``) for bad input, and
    ``BackplaneError`` when the engine cannot be reached: nothing is queued, nothing
    changes. Any thread; a backplane that ``waits`` must not be called on an event loop.
    """

    @property
    def waits(self) -> bool:
        """Whether a commit may wait for I/O (Redis): callers on an event loop then run
        it in :attr:`executor`, threads of the backplane's own."""
        ...

    @property
    def executor(self) -> Executor | None: ...

    def declare(self, name: str, doc: JSON, owner: object = None) -> int:
        """Declare ``name`` (checked against ``signals`` and ``owner``'s quota first);
        ``owner`` then owns it."""
        ...

    def set(self, name: str, value: object, parsed: bool) -> int: ...

    def patch(self, name: str, ops: Sequence[dict[str, Any]], base: int | None) -> int: ...

    def close(self, name: str, when: Callable[[], bool] | None = None) -> int | None:
        """Close ``name``; with ``when``, only if ``when()`` (asked under the hub's lock
        each time the change is planned) still says so. Its last revision, or None if
        ``when`` said no."""
        ...

    def orphaned(self, name: str, rev: int) -> None:
        """Tell every other hub that ``name``'s publisher, at ``rev``, is gone, so that
        their viewers show it stale too. Best effort, and at once: the caller is a
        closing connection's handler on the hub's loop, which must not wait."""
        ...

    def batched(self, run: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[run(item) for item in items]``, the changes they make committed together
        where the engine can (one round trip for a frame of changes), with the outcome
        and order of running them one by one."""
        ...

    async def batched_on_loop(
        self,
        run: Callable[[T], R],
        items: Sequence[T],
        early: Callable[[list[R]], None] | None = None,
    ) -> list[R] | None:
        """:meth:`batched` on the calling event loop, never blocking it; None if this
        frame must go through :meth:`batched` in :attr:`executor` instead (nothing
        was changed). ``early(replies)`` may be called once the changes are committed,
        just before this hub applies them in the same turn of the loop."""
        ...

    def stop(self) -> None:
        """Stop committing (idempotent); the hub keeps what it has."""
        ...


class BackplaneEvents(Protocol):
    """What a shared engine calls on the hub it serves (``_remote.Mirror``): the small
    public interface between them, as centrifuge's ``BrokerEventHandler``."""

    @property
    def epoch(self) -> str: ...

    @property
    def limits(self) -> Limits:
        """The hub's limits (``backplane_value_bytes``: what a commit may make a value)."""
        ...

    def planned(self, name: str, make: Callable[[Any], R]) -> tuple[R, str]:
        """``make(the hub's signal or None)`` under the hub's lock, and the epoch."""
        ...

    def declaring(self, name: str, owner: object) -> AbstractContextManager[None]:
        """Around the commit of a declare through this hub (limits, then ownership)."""
        ...

    def applied(
        self,
        epoch: str,
        changes: Sequence[tuple[str, int, int, bytes]],
        values: Mapping[str, JSON],
        ready: Callable[[], None] | None = None,
    ) -> bool:
        """The hub's own committed changes, applied as planned if they follow at once
        (``ready()`` first, once that is sure)."""
        ...

    def kept(self) -> list[tuple[str, int, bool, JSON, bool]]:
        """What the hub can put back into an engine that lost data."""
        ...

    def apply(self, seq: int, name: str, rev: int, kind: str, payload: bytes) -> bool:
        """Apply the engine's change ``seq``; False: it does not follow (reload)."""
        ...

    def load(self, epoch: str, seq: int, states: Any) -> None:
        """Take the engine's whole state at ``seq`` of ``epoch``."""
        ...

    def skip(self, seq: int, name: str, reason: str) -> None:
        """Change ``seq`` cannot be read: past it, and its signal refused."""
        ...

    def lost(self) -> None:
        """The engine is unreachable: subscribers are told their values may be behind."""
        ...
