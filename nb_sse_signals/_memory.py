"""The in-memory backplane: a hub on its own commits each change in its own store.

``SignalHub``'s default (``_backplane.Backplane``): every change is decided and
recorded under the store's lock in one step, so nothing waits and nothing races.
A shared engine (``_redis.RedisBackplane``) takes its place to share signals with
other hubs, as centrifuge's ``MemoryBroker`` and ``RedisBroker`` do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar, cast

from . import _codec
from ._depth import check_depth
from ._errors import PatchError
from ._patch import apply_patch
from ._refresh import refresh
from ._store import SignalStore, encodable
from ._types import JSON

__all__ = ["MemoryBackplane"]

T = TypeVar("T")
R = TypeVar("R")


class MemoryBackplane:
    """Commits a hub's changes in its own store, at once (see the module)."""

    waits = False  # nothing here waits for I/O: callers may run it on their event loop
    executor: Executor | None = None

    def __init__(self, store: SignalStore) -> None:
        self._store = store

    def declare(self, name: str, doc: JSON, owner: object = None) -> int:
        store = self._store
        with store.lock:
            sig = store.admit(name, owner)
            if sig is None:
                # What cannot be sent is never stored (an integer beyond 64 bits).
                encodable(lambda: _codec.dumps(doc), name)
                sig = store.create(name, doc)
                store.set_owner(sig, owner)
                return 0
            if sig.closed:
                store.reopen(sig)
                store.set_owner(sig, owner)
                sig.value = None  # the reopening event is a whole-value replace
                return store.commit(sig, doc, [{"op": "replace", "path": "", "value": doc}])
            store.set_owner(sig, owner)
            if sig.orphaned:
                # A new publisher (a restarted kernel re-running its cell) took it over,
                # maybe with the very value it had: a whole-value replace, so every viewer
                # (and every one that resumes from history later) sees it is live again.
                return store.commit(sig, doc, [{"op": "replace", "path": "", "value": doc}])
            return store.commit_value(sig, doc)

    def set(self, name: str, value: object, parsed: bool) -> int:
        store = self._store
        with store.lock:
            sig = store.open(name)
            if parsed:
                check_depth(cast(JSON, value))
                return store.commit_value(sig, cast(JSON, value))
            doc, ops = refresh(sig.value, value)
            return store.commit(sig, doc, ops) if ops else sig.rev

    def patch(self, name: str, ops: Sequence[dict[str, Any]], base: int | None) -> int:
        store = self._store
        with store.lock:
            sig = store.open(name)
            if base is not None and base != sig.rev:
                raise PatchError(
                    f"expected a patch of {name!r} at revision {sig.rev}, got one made at {base}"
                )
            if not ops:
                return sig.rev
            # Serialised first: what cannot be sent (an op nested too deep to encode)
            # must be rejected before it changes anything.
            try:
                patch_json = _codec.dumps(ops)
            except _codec.EncodeError as exc:
                raise PatchError(f"expected a patch that can be sent as JSON: {exc}") from None
            # apply_patch is atomic and copies inserted values, so the ops list stays ours.
            sig.value = apply_patch(sig.value, list(ops))
            return store.record(sig, patch_json)

    def close(self, name: str, when: Callable[[], bool] | None = None) -> int | None:
        store = self._store
        with store.lock:
            sig = store.open(name)
            if when is not None and not when():
                return None
            store.close(sig)
            return sig.rev

    def orphaned(self, name: str, rev: int) -> None:
        """No other hub to tell."""

    def batched(self, run: Callable[[T], R], items: Sequence[T]) -> list[R]:
        return [run(item) for item in items]

    async def batched_on_loop(
        self,
        run: Callable[[T], R],
        items: Sequence[T],
        early: Callable[[list[R]], None] | None = None,
    ) -> list[R] | None:
        return self.batched(run, items)

    def stop(self) -> None:
        """Nothing to stop."""
