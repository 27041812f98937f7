"""The Redis backplane: hubs on many processes and hosts serve the same signals.

What Redis keeps and the scripts that change it are in ``_redis_engine``; here is
what a hub commits and how it follows what others commit.

Each hub reads the stream with a blocking ``XREAD`` from the last sequence it
applied (the feed), in a thread of its own with its own asyncio loop (redis-py's
asyncio client), and applies each entry's changes in order (``_remote.Mirror.apply``).
A gap (the stream was trimmed past it), a new epoch or a reconnect reloads every
signal at once (``Engine.load``, atomic) and sends subscribers snapshots. While Redis
is unreachable the hub keeps serving what it has, tells subscribers (``stale`` of
``{}``) and rejects changes (``BackplaneError``): nothing queues.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from . import _protocol as proto
from ._backplane import DEFAULT_MAXLEN, DEFAULT_PREFIX, DEFAULT_TTL, BackplaneEvents
from ._errors import BackplaneError, LimitError
from ._hub import SignalHub
from ._json import normalise
from ._limits import Limits
from ._patch import copy_json
from ._plan import (
    Cached,
    Plan,
    State,
    check_size,
    checked_plan,
    not_json,
    older,
    open_state,
    plan_close,
    plan_declare,
    plan_patch,
    plan_set,
    recreate,
)
from ._redis_engine import Engine, Reply, new_epoch, shown
from ._redis_entry import Refused, read_entry, revision
from ._remote import Mirror
from ._types import JSON

__all__ = ["RedisBackplane", "RedisPublisher"]

log = logging.getLogger("nb_sse_signals")

_ATTEMPTS = 100  # commits re-based on a racing winner before giving up


T = TypeVar("T")
R = TypeVar("R")

_BATCH_CHANGES = 1000  # changes per round trip at most (a frame's, usually fewer)
_FEED_ENTRIES = 100  # stream entries (frames) per read of the feed
# While this hub commits (one ended less than _BUSY_S ago), its feed reads every
# _DEFER_S at most (``RedisBackplane._quiet``), unless a commit waits for it: the most
# a change of another hub waits then. Entries read while commits of this hub ran wait
# for those commits to end (each pokes the feed), checked every _HOLD_S at most.
_BUSY_S = 0.005
_DEFER_S = 0.010
_HOLD_S = 0.005


@dataclass
class _Batch:
    """The items of one ``RedisBackplane.batched`` call, and the changes planned so far
    (item index, name, plan), each on the value the ones before left (``overlay``)."""

    run: Callable[[Any], Any]
    items: list[Any]
    out: list[Any] = field(default_factory=list)
    item: int = 0  # the item running now
    plans: list[tuple[int, str, Plan]] = field(default_factory=list)
    overlay: dict[str, Cached] = field(default_factory=dict)
    epoch: str = ""
    # Planned on an event loop (``batched_on_loop``): anything that would commit or
    # wait before the end (a declare, a close, a full frame) gives the frame up instead.
    on_loop: bool = False


class _Unplannable(Exception):
    """(``batched_on_loop``) This frame needs the commit threads; nothing was changed."""


def _valid_epoch(epoch: str) -> bool:
    try:
        proto.check_epoch(epoch)
    except ValueError:
        return False
    return True


def _own_value(cached: Cached) -> None:
    """Make a batch's value its own before it is changed in place: a parsed set's is
    the publisher's message, which a frame run again (on a thread, after a race)
    must read as it was sent."""
    if cached.borrowed:
        cached.value = copy_json(cached.value)
        cached.borrowed = False


def _entry_seq(entry_id: bytes) -> int:
    """The sequence number of an entry's last change (-1 if its id is not ours)."""
    head, _, tail = entry_id.partition(b"-")
    try:
        return revision(tail) if head == b"0" else -1
    except ValueError:
        return -1


class _OutOfStep(Exception):
    """The stream does not follow from what the hub has: reload everything."""


class _Foreign(Exception):
    """The stream holds an entry no hub wrote: start a new epoch (which drops it)."""


class RedisBackplane:
    """Connects a :class:`SignalHub` to Redis: its changes go through Redis, and it
    serves every change that any hub or :class:`RedisPublisher` made there.

    ``url``: ``redis://[:password@]host:port/db`` or ``rediss://`` for TLS (any URL
    redis-py's ``from_url`` takes). ``prefix``: every key's, so that one Redis serves
    several deployments. ``maxlen``: stream entries kept (a hub that falls further
    behind reloads snapshots); ``ttl``: seconds a signal stays in Redis after its last
    change. ``timeout``: the deadline of one Redis call. ``commit_threads``: how many
    commits from the hub's event loop may wait for Redis at once (the rest queue),
    in threads of the backplane's own or, for a publisher's frame of changes, awaited
    on that loop itself (``batched_on_loop``). A server that serves this backplane's
    hub on its event loop stops it there with ``await backplane.stop_async()`` (as
    ``Server`` does), so that the loop's own connection closes before the loop.
    """

    waits = True  # every commit is a round trip to Redis: never blocking an event loop

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        maxlen: int = DEFAULT_MAXLEN,
        ttl: int = DEFAULT_TTL,
        timeout: float = 5.0,
        commit_threads: int = 8,
    ) -> None:
        if commit_threads < 1:
            raise ValueError(f"expected commit_threads of at least 1, got {commit_threads}")
        self.url = url
        self._engine = Engine(url, prefix, maxlen, ttl, timeout)
        self._hub: BackplaneEvents | None = None  # (the hub's mirror: its public interface)
        # Threads of this backplane's own that commits from an event loop run in (see
        # ``SignalHub.commit_executor``), so that a stalled Redis cannot take the loop's
        # default executor (Jupyter's contents, kernels) from everyone else; stopped
        # with the backplane.
        self._commit_threads = commit_threads
        self._executor: ThreadPoolExecutor | None = None
        self._applied = threading.Condition()
        self._last_seq = 0
        # (under _applied) The epoch and the last of this hub's own changes that it
        # applied from a commit's reply (``_commit_frame``): the feed skips them as they
        # come back, unread (every change up to it is in the hub already).
        self._own: tuple[str, int] = ("", 0)
        # (under _applied) Frames committing now, by ticket (counted up): the feed holds
        # back their entries until their replies are applied (a moment: Redis sent both
        # together), so that the hub applies them from what it planned, not by parsing
        # each patch again (see ``_follow``).
        self._committing: set[int] = set()
        self._tickets = 0
        # (under _applied) When this hub's last commit ended (the feed reads less often
        # while it commits: ``_quiet``), whether the feed naps until commits end, and
        # how many threads wait for the feed; and what wakes it from a nap.
        self._last_commit = 0.0
        self._holding = False
        self._waiters = 0
        self._poked: asyncio.Event | None = None
        self._epoch = ""
        self._live = False
        self._task: asyncio.Task[None] | None = None  # the feed, on the engine's loop
        self._last_error: BaseException | None = None  # why the feed last failed
        # (the feed) The epoch whose stream cannot be followed (an entry no hub wrote):
        # renewed once, by the first hub to reload; "" if none.
        self._renew = ""
        # (the feed) No entry taken since the last reload: one that does not follow is
        # none of ours (entries after a load's sequence can only be the next ones).
        self._fresh = False
        # .batch: the thread's batch, if any; .failed: its round trip failed, and its
        # items are being refused.
        self._local = threading.local()

    @property
    def executor(self) -> ThreadPoolExecutor | None:
        """The threads commits from an event loop run in (None once stopped)."""
        return self._executor

    @property
    def live(self) -> bool:
        """Whether the hub is in step with Redis now (False while Redis is unreachable)."""
        return self._live

    def start(self, hub: SignalHub, timeout: float = 10.0) -> RedisBackplane:
        """Attach to ``hub`` and load what Redis has; returns once the hub serves it.

        Raises :class:`BackplaneError` if Redis cannot be reached within ``timeout``.
        """
        if self._hub is not None:
            raise RuntimeError("this backplane already serves a hub")
        self._hub = Mirror(hub.store, hub.limits)
        self._executor = ThreadPoolExecutor(
            self._commit_threads, thread_name_prefix="nb_sse_signals-commit"
        )
        hub.attach_backplane(self)
        self._engine.call(self._spawn())
        with self._applied:
            if not self._applied.wait_for(lambda: self._live, timeout):
                self.stop()
                why = f": {self._last_error}" if self._last_error is not None else ""
                raise BackplaneError(f"cannot reach Redis at {shown(self.url)}{why}")
        self._engine.warm()
        return self

    def stop(self) -> None:
        """Stop following Redis (the hub keeps what it has). Idempotent."""
        # Publishers that leave as the server stops must not schedule on a stopped engine.
        self._set_live(False)
        if self._task is not None and not self._engine.loop.is_closed():
            # The feed is gone before its client closes (it would see an outage).
            with contextlib.suppress(BackplaneError):
                self._engine.call(self._cancel_feed())
        self._engine.stop()
        executor, self._executor = self._executor, None
        if executor is not None:
            # Commits still running fail at once (the engine is stopped); none is left.
            executor.shutdown(wait=True, cancel_futures=True)

    async def stop_async(self) -> None:
        """:meth:`stop`, on the event loop that commits frames here (a server's, as it
        stops): that loop's connections are closed before it is."""
        client = self._engine.detach_loop_client(asyncio.get_running_loop())
        self.stop()
        if client is not None:
            with contextlib.suppress(Exception):  # (Redis may have dropped them first)
                await client.aclose()

    async def _spawn(self) -> None:
        self._poked = asyncio.Event()
        self._task = asyncio.create_task(self._feed())

    async def _cancel_feed(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the hub's publishing calls (any thread but the engine's) ------------------------

    def declare(self, name: str, doc: JSON, owner: object = None) -> int:
        hub = self._hub
        assert hub is not None

        def make(state: State | None) -> Plan | None:
            # (under the hub's lock) A whole-value replace at a new revision, even if
            # equal, when a publisher takes the signal over: an orphan of this hub (the
            # change that ends its viewers' stale is then in history, with its id, for
            # those who resume), or one this owner did not own here, maybe another hub's
            # orphan (that hub then sees the change, ends its stale, and does not close
            # what was taken over). Declared again by its owner: a diff, as ever.
            sig: Any = state  # (the hub's own signal: declares are never batched)
            taken = (
                sig is not None
                and not sig.closed
                and (sig.orphaned or (owner is not None and sig.owner is not owner))
            )
            return plan_declare(state, doc, whole=taken)

        # (limits of signals apply to what is declared here; other hubs' are theirs)
        with hub.declaring(name, owner):
            return self._commit(name, make)

    def set(self, name: str, value: object, parsed: bool) -> int:
        return self._commit(name, lambda sig: plan_set(name, sig, value, parsed), batchable=True)

    def patch(self, name: str, ops: Sequence[dict[str, Any]], base: int | None) -> int:
        def make(state: State | None) -> Plan | None:
            # A batch's own value (its overlay) is changed in place, never copied.
            return plan_patch(name, state, ops, base, in_place=isinstance(state, Cached))

        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None:
            cached = batch.overlay.get(name)
            if cached is not None:
                return self._patch_in(batch, name, cached, ops, base, make)
        return self._commit(name, make, batchable=True)

    def _patch_in(
        self,
        batch: _Batch,
        name: str,
        cached: Cached,
        ops: Sequence[dict[str, Any]],
        base: int | None,
        make: Callable[[State | None], Plan | None],
    ) -> int:
        """(the hot path: a frame's next patch of a signal it changed already) What
        :meth:`_plan_in` does, without its layers: a frame of 100 small patches spends
        more time in them than in applying the patches."""
        hub = self._hub
        assert hub is not None
        if not self._live or len(batch.plans) >= _BATCH_CHANGES or batch.epoch != hub.epoch:
            return self._plan_in(batch, name, make)  # (rejects, or commits what came first)
        _own_value(cached)
        try:
            plan = plan_patch(name, cached, ops, base, in_place=True)
            if plan is None:
                return cached.rev
            check_size(name, plan, hub.limits.backplane_value_bytes)
        except orjson.JSONEncodeError as exc:
            raise not_json(name, exc) from None
        except LimitError:
            # Refused by its size once made, on the batch's own value, changed in place:
            # see _plan_in.
            self._flush(batch, keep=False)
            raise
        batch.plans.append((batch.item, name, plan))
        cached.rev = rev = cached.rev + 1  # (plan.rev of a patch)
        cached.value = plan.doc
        return rev

    def close(self, name: str, when: Callable[[], bool] | None = None) -> int | None:
        planned = False

        def make(state: State | None) -> Plan | None:
            nonlocal planned  # the last plan decides: a racing declare re-plans it
            planned = when is None or when()
            return plan_close(name, state) if planned else None

        rev = self._commit(name, make)
        return rev if planned else None

    def orphaned(self, name: str, rev: int) -> None:
        hub = self._hub
        assert hub is not None
        if not self._live or self._engine.loop.is_closed():
            return  # Redis is away (every hub's viewers show stale), or we stopped
        coro = self._engine.orphaned(hub.epoch, name, rev)
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self._engine.loop)
        except RuntimeError:  # the engine's loop closed meanwhile
            coro.close()
            return

        def done(future: concurrent.futures.Future[None]) -> None:
            if not future.cancelled() and future.exception() is not None:
                log.info(
                    "nb_sse_signals: could not tell other hubs %s is orphaned: %s",
                    name,
                    future.exception(),
                )

        future.add_done_callback(done)

    # -- batches: one frame's changes in one round trip ---------------------------------

    def batched(self, run: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[run(item) for item in items]``, with the changes they make (``set`` and
        ``patch``) committed together: planned one after the other (each on the value
        the ones before it leave), and sent in one ``COMMIT`` when the items are done,
        or before a ``declare`` or ``close`` (which go alone, after them). Replies say
        the revisions they commit at. If a signal's base does not hold when the script
        runs (a racing publisher, lost data), it commits none of them, and the items
        from the first planned one on are run again alone, in order, their replies
        replaced (those before the signal's first change plan the same again: nothing
        else changed what they planned on): the outcome is what running
        them one by one gives, in the same order (docs/protocol.md).
        """
        batch = _Batch(cast(Callable[[Any], Any], run), list(items))
        self._local.batch = batch
        try:
            for i, item in enumerate(batch.items):
                batch.item = i
                batch.out.append(run(item))
            batch.item = len(batch.items)
            self._flush(batch)
        finally:
            self._local.batch = None
        return cast(list[R], batch.out)

    async def batched_on_loop(
        self,
        run: Callable[[T], R],
        items: Sequence[T],
        early: Callable[[list[R]], None] | None = None,
    ) -> list[R] | None:
        """:meth:`batched`, on the calling event loop, which never blocks: the frame is
        planned there (as a hub alone applies it there) and its one round trip awaited
        on that loop's own connection. Handing it to a commit thread and back cost two
        thread switches, more than the round trip (docs/architecture.md, "Several
        hubs").

        None if the frame needs :meth:`batched` in a commit thread instead, with
        nothing changed: a declare or close in it (they commit alone, mid-frame), more
        changes than one round trip takes, a racing writer or a new epoch (its script
        committed nothing), Redis away, or another loop that commits here already.

        ``early(replies)``, if given, is called once Redis has committed the frame and
        this hub is sure to apply it now, just before it does, in the same turn of the
        loop (nothing else runs on the loop in between): the publisher's reply then
        travels while the hub records the changes (a third of a frame's time on the
        loop), instead of after. A frame this hub cannot apply yet (a change of
        another writer came first) is replied to once the feed applied it, as ever.
        """
        engine, hub = self._engine, self._hub
        assert hub is not None
        on = engine.loop_commit(asyncio.get_running_loop(), self._commit_threads)
        if on is None or not self._live:
            return None
        script, slots = on
        batch = _Batch(cast(Callable[[Any], Any], run), list(items), on_loop=True)
        self._local.batch = batch
        try:  # (no await in here: nothing else runs on this thread meanwhile)
            for i, item in enumerate(batch.items):
                batch.item = i
                batch.out.append(run(item))
        except _Unplannable:
            return None
        finally:
            self._local.batch = None
        batch.item = len(batch.items)
        plans = batch.plans
        if not plans:
            return cast(list[R], batch.out)
        epoch = batch.epoch
        values = {n: c.value for n, c in batch.overlay.items()}
        async with slots:
            ticket = self._committing_now()
            try:
                reply = await engine.commit_on_loop(script, epoch, [(n, p) for _, n, p in plans])
                ready = None
                if early is not None:
                    send = early

                    def ready() -> None:  # (only once this hub is sure to apply them now)
                        try:
                            send(cast(list[R], batch.out))
                        except Exception:  # the changes apply all the same
                            log.exception("nb_sse_signals: could not send a publisher its reply")

                here = self._apply_own(epoch, plans, values, reply, ready)
            except BackplaneError as exc:
                # Unknown whether Redis has them: each is refused, as batched() does.
                try:
                    self._refuse(batch, plans[0][0], exc)
                finally:
                    self._local.batch = None  # (_rerun puts the batch back)
                return cast(list[R], batch.out)
            finally:
                self._committed(ticket)
        if here:
            return cast(list[R], batch.out)
        if len(reply.applied) != len(plans):
            return None  # nothing committed: the threads run it again, one by one if need be
        # Committed, but this hub has not applied what came before it: the feed will,
        # and these with it. Its reply waits for that, in a thread (a wait).
        executor = self._executor
        if executor is not None:
            # (committed: a slow feed only delays; a backplane stopping meanwhile too)
            with contextlib.suppress(BackplaneError, RuntimeError):
                wait = functools.partial(self._wait_applied, reply.applied[-1][1], epoch)
                await asyncio.get_running_loop().run_in_executor(executor, wait)
        return cast(list[R], batch.out)

    def _refuse(self, batch: _Batch, first: int, exc: BackplaneError) -> None:
        """Run ``batch``'s items from ``first`` on again, each change refused with ``exc``
        at once (not after a timeout each): a round trip failed with them unknown."""
        self._local.failed = exc
        try:
            self._rerun(batch, first)
        finally:
            self._local.failed = None

    def _flush(self, batch: _Batch, keep: bool = True) -> None:
        """Commit what ``batch`` planned (items before ``batch.item``), all or nothing;
        if a signal's base did not hold (a racing writer, lost data), run the items
        from the first planned one on again, alone. ``keep``: the batch's values are as
        planned (apply them here, see ``Mirror.applied``)."""
        if batch.on_loop and batch.plans:
            raise _Unplannable  # (a round trip before the frame's end: the threads')
        plans, batch.plans = batch.plans, []
        # Each signal's value after its last planned change: the batch's own objects,
        # changed by nothing once the batch is done (None: a refused plan changed them).
        values = {n: c.value for n, c in batch.overlay.items()} if keep else None
        batch.overlay = {}
        if not plans:
            return
        epoch = batch.epoch
        try:
            reply, here = self._commit_frame(epoch, plans, values)
        except BackplaneError as exc:
            # Unknown whether Redis has them: each of those items is refused (its
            # publisher resends the whole value), at once, not after a timeout each.
            self._refuse(batch, plans[0][0], exc)
            return
        if here:
            return
        done = len(reply.applied) == len(plans)
        if reply.applied:
            with contextlib.suppress(BackplaneError):  # committed: a slow feed only delays
                self._wait_applied(reply.applied[-1][1], epoch)
        if done:
            return
        if reply.status == b"conflict" and reply.their_rev is not None:
            with contextlib.suppress(BackplaneError):  # re-based on the winner's change
                self._wait_applied(reply.their_seq, epoch)
        elif reply.status == b"epoch":
            with contextlib.suppress(BackplaneError):
                self._wait_epoch(epoch)
        self._rerun(batch, plans[len(reply.applied)][0])

    def _commit_frame(
        self, epoch: str, plans: list[tuple[int, str, Plan]], values: dict[str, JSON] | None
    ) -> tuple[Reply, bool]:
        """Commit a frame's ``plans`` (``COMMIT``), and, once all are committed, apply
        them from what was planned (``values``: each signal's value after them) and the
        reply, instead of waiting for the feed to bring them back (a parse, a patch and
        an encoding each, again): see ``Mirror.applied``. The feed, woken by the frame's
        entry, waits for this (else it would apply them itself, the slow way), and
        then skips it unread. The reply, and whether the hub has them now."""
        ticket = self._committing_now()
        try:
            reply = self._engine.commit(epoch, [(n, p) for _, n, p in plans])
            return reply, self._apply_own(epoch, plans, values, reply)
        finally:
            self._committed(ticket)

    def _committing_now(self) -> int:
        """A commit of this hub starts: its ticket (the feed holds what it reads meanwhile)."""
        with self._applied:
            self._tickets += 1
            self._committing.add(self._tickets)
            return self._tickets

    def _committed(self, ticket: int) -> None:
        """The commit of ``ticket`` is done (and applied, if it was): tell the feed."""
        with self._applied:
            self._committing.discard(ticket)
            self._last_commit = time.monotonic()
            holding = self._holding
        if holding:
            self._poke()

    def _apply_own(
        self,
        epoch: str,
        plans: list[tuple[int, str, Plan]],
        values: dict[str, JSON] | None,
        reply: Reply,
        ready: Callable[[], None] | None = None,
    ) -> bool:
        """Apply a frame's ``plans`` that ``reply`` says are committed, from what was
        planned (see :meth:`_commit_frame`); whether the hub has them now."""
        hub = self._hub
        assert hub is not None
        if values is None or len(reply.applied) != len(plans):
            return False
        changes = [
            (name, rev, seq, plan.payload)
            for (_, name, plan), (rev, seq) in zip(plans, reply.applied, strict=True)
        ]
        if not hub.applied(epoch, changes, values, ready):
            return False
        upto = changes[-1][2]
        with self._applied:
            if self._own[0] != epoch or self._own[1] < upto:
                self._own = (epoch, upto)
        return True

    def _rerun(self, batch: _Batch, first: int) -> None:
        """Run the items ``first`` .. ``batch.item`` (excluded) again, alone."""
        self._local.batch = None
        try:
            for k in range(first, batch.item):
                batch.out[k] = batch.run(batch.items[k])
        finally:
            self._local.batch = batch

    def _plan_in(
        self, batch: _Batch, name: str, make: Callable[[State | None], Plan | None]
    ) -> int:
        """Plan a change into ``batch`` (on what the changes before it leave); its rev."""
        hub = self._hub
        assert hub is not None
        if not self._live:
            raise BackplaneError("Redis is unreachable; the change was rejected")
        # Full, or planned in an epoch Redis no longer has (a reload came between):
        # commit what is planned first (never under the hub's lock: the feed takes it).
        if len(batch.plans) >= _BATCH_CHANGES or (batch.plans and batch.epoch != hub.epoch):
            self._flush(batch)

        bound = hub.limits.backplane_value_bytes
        cached = batch.overlay.get(name)
        try:
            if cached is not None:
                # On the batch's own value, as its plans so far left it: nothing of the
                # hub's to read under its lock (the epoch is checked above).
                _own_value(cached)
                plan, rev = checked_plan(name, make, cached, bound), cached.rev
            else:

                def plan_on(sig: State | None) -> tuple[Plan | None, int]:
                    plan = checked_plan(name, make, sig, bound)
                    return plan, -1 if sig is None else sig.rev

                (plan, rev), epoch = hub.planned(name, plan_on)
                if not batch.plans:
                    batch.epoch = epoch
        except LimitError:
            if cached is not None:
                # Refused by its size once made, on the batch's own value, changed in
                # place: commit what came before, so that what comes after is planned
                # on the value those left (from the feed), not on the refused one.
                self._flush(batch, keep=False)
            raise
        if plan is None:
            return rev
        batch.plans.append((batch.item, name, plan))
        rev = plan.rev
        if cached is None:
            batch.overlay[name] = Cached(rev, False, plan.doc, plan.borrowed)
        else:
            cached.rev, cached.value, cached.borrowed = rev, plan.doc, plan.borrowed
        return rev

    def _commit(
        self, name: str, make: Callable[[State | None], Plan | None], *, batchable: bool = False
    ) -> int:
        hub = self._hub
        assert hub is not None
        failed: BackplaneError | None = getattr(self._local, "failed", None)
        if failed is not None:  # re-running the items of a batch whose round trip failed
            raise BackplaneError(str(failed))
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None:
            if batchable:
                return self._plan_in(batch, name, make)
            if batch.on_loop:
                raise _Unplannable  # (a declare or close commits alone: the threads')
            self._flush(batch)  # what came before goes first
        if not self._live:
            # Reject at once rather than wait for a Redis that is away.
            raise BackplaneError("Redis is unreachable; the change was rejected")
        lost = False  # Redis no longer has a signal this hub has (its TTL ran out)
        for _ in range(_ATTEMPTS):

            def plan_on(sig: State | None, lost: bool = lost) -> tuple[Plan | None, int]:
                plan = checked_plan(name, make, sig, hub.limits.backplane_value_bytes)
                if plan is not None and lost and sig is not None:
                    plan = recreate(plan, sig)
                return plan, -1 if sig is None else sig.rev

            (plan, planned_on), epoch = hub.planned(name, plan_on)
            if plan is None:  # nothing to change (or a conditional close that is not)
                return planned_on
            reply = self._engine.commit(epoch, [(name, plan)])
            if reply.status == b"ok":
                # Committed: a hub slow to apply it delays the reply, never rejects it.
                with contextlib.suppress(BackplaneError):
                    self._wait_applied(reply.applied[0][1], epoch)
                return reply.applied[0][0]
            if reply.status == b"conflict":
                their_rev = reply.their_rev
                lost = their_rev is None
                if their_rev is None:
                    continue
                if their_rev < planned_on:
                    # Redis went back in time: its feed puts back what this hub has,
                    # in a new epoch, before any change is made on that older state.
                    self._wait_epoch(epoch)
                else:  # someone else changed it: re-base on their change
                    self._wait_applied(reply.their_seq, epoch)
            else:  # Redis has another epoch (it lost data): wait for the feed to reload
                self._wait_epoch(epoch)
        raise BackplaneError(f"gave up on a change of {name!r} after {_ATTEMPTS} races")

    def _wait_applied(self, seq: int, epoch: str) -> None:
        """Until this hub applied change ``seq`` (or reloaded in a new epoch)."""
        self._wait(lambda: self._last_seq >= seq or self._epoch != epoch)

    def _wait_epoch(self, epoch: str) -> None:
        self._wait(lambda: self._epoch != epoch and self._live)

    def _wait(self, done: Callable[[], bool]) -> None:
        with self._applied:
            if done():
                return
            self._waiters += 1
        self._poke()  # (a feed that naps while this hub commits reads now)
        try:
            with self._applied:
                if not self._applied.wait_for(done, self._engine.timeout):
                    raise BackplaneError("the hub did not catch up with Redis in time")
        finally:
            with self._applied:
                self._waiters -= 1

    # -- the feed (the engine's loop) ------------------------------------------------

    async def _feed(self) -> None:
        delay = 0.1
        down_since = 0.0
        while True:
            try:
                last = await self._resync()
                if down_since:
                    log.info("nb_sse_signals: Redis is back; resynced")
                down_since, delay = 0.0, 0.1
                await self._follow(last)
            except _OutOfStep as exc:
                log.info("nb_sse_signals: reloading from Redis: %s", exc)
            except _Foreign as exc:
                log.warning(
                    "nb_sse_signals: the stream in Redis holds an entry no hub wrote (%s);"
                    " starting a new epoch",
                    exc,
                )
                self._renew = self._epoch
            except Exception as exc:  # Redis away (RedisError, OSError), or what it holds is bad
                self._last_error = exc
                if not down_since:
                    down_since = time.monotonic()
                    if not self._epoch:
                        # Never in step yet: start() reports it (a hub that cannot
                        # start serves nothing, so "serving what it has" would be wrong).
                        log.debug("nb_sse_signals: cannot reach Redis yet: %s", exc)
                    elif isinstance(exc, (RedisError, OSError)):
                        log.warning(
                            "nb_sse_signals: lost Redis (%s); serving what this hub has", exc
                        )
                    else:
                        log.exception("nb_sse_signals: cannot follow Redis; retrying")
                    self._set_live(False)
                    assert self._hub is not None
                    self._hub.lost()
                # Drop every pooled connection: none of them may outlive the outage.
                with contextlib.suppress(Exception):
                    await self._engine.client.connection_pool.disconnect()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _resync(self) -> int:
        hub = self._hub
        assert hub is not None
        engine, k = self._engine, self._engine.keys
        epoch, seq, states = await engine.load()
        # Redis came back empty, older than what we saw, or someone already gave it a
        # new epoch for that (epochs change for nothing else): put back what this hub
        # has, whatever is missing or older there (other hubs do the same; the newest
        # state of each signal wins), so that no viewer is sent an older value.
        older = epoch == self._epoch and seq < self._last_seq
        # An epoch or sequence that is not one (written by someone else) is lost data.
        # (only the epoch the bad entry was seen in: another hub may have renewed it)
        lost = not _valid_epoch(epoch) or seq < 0 or epoch == self._renew
        self._renew = ""
        self._fresh = True
        if lost or older or (self._epoch and epoch != self._epoch):
            renewed = (lost or older) and await engine.renew_script(
                keys=[k.epoch, k.stream, k.seq], args=[epoch, new_epoch()]
            )
            if renewed and self._epoch:  # (not on a first start with an empty Redis)
                log.warning("nb_sse_signals: Redis lost data; new epoch, restoring signals")
            for name, rev, closed, value, orphaned in hub.kept():
                await engine.seed_script(
                    keys=[k.sig + name, k.names],
                    args=[
                        rev,
                        "1" if closed else "0",
                        b"" if closed else orjson.dumps(value),
                        engine.ttl,
                        name,
                        "1" if orphaned and not closed else "0",
                    ],
                )
            epoch, seq, states = await engine.load()
        hub.load(epoch, seq, states)
        with self._applied:
            self._epoch, self._last_seq = epoch, seq
            self._live = True
            self._applied.notify_all()
        return seq

    async def _follow(self, last: int) -> None:
        hub = self._hub
        assert hub is not None
        client, k = self._engine.client, self._engine.keys
        epoch = self._epoch.encode()
        # This hub's own frames come back in the stream too, applied from their
        # commit's reply: each is one entry, skipped unread (its changes are numbered up
        # to its id). What one read brings while commits of this hub run is held until
        # those commits (up to the ticket then) are done, and then the feed skips the
        # entries those commits applied and applies the rest, in order. It does not
        # read meanwhile, nor block in a read while its hub commits (``_quiet``): its
        # hub's next entry would wake it just as that commit's reply comes.
        held: list[tuple[int, list[tuple[bytes, dict[bytes, bytes]]]]] = []
        while True:
            taken = False
            while held and not self._committing_upto(held[0][0]):
                last = self._take(held.pop(0)[1], last)
                taken = True
            if taken:
                self._caught_up(last)
            if held:
                # Until those commits are done (each pokes us as it ends): no read
                # meanwhile, which the next commit's entry would wake.
                await self._nap(_HOLD_S, until=held[0][0])
                continue
            own_epoch, own_upto = self._own
            if own_epoch == self._epoch and own_upto > last:
                last = own_upto  # (every change up to it is in the hub: skip them)
                self._caught_up(last)
            await self._quiet()
            start: dict[Any, Any] = {k.stream: f"0-{last}"}
            found: Any = await client.xread(start, count=_FEED_ENTRIES, block=1000)
            if found:
                held.append((self._tickets, found[0][1]))
                continue
            # Idle: did Redis lose its data without dropping us (FLUSHALL, a failover
            # to a replica that lagged: its sequence is behind what we applied)?
            # (Two GETs in one round trip: the ACL recipe of docs/security.md.)
            pipe = client.pipeline(transaction=False)
            pipe.get(k.epoch)
            pipe.get(k.seq)
            now_epoch, now_seq = await pipe.execute()
            if now_epoch != epoch:
                raise _OutOfStep("the epoch changed")
            if int(now_seq or 0) < last:
                raise _OutOfStep(f"Redis went back from change {last} to {now_seq!r}")

    async def _quiet(self) -> None:
        """(the feed) While this hub commits (one ended less than ``_BUSY_S`` ago), read
        every ``_DEFER_S`` at most, not at once: a blocking read would be woken by each
        of its own frames' entries, just as the commit's reply comes, and the two
        threads would take turns at the GIL in the middle of every commit. A commit
        that waits for the feed (a race, a declare) pokes it awake."""
        with self._applied:
            busy = bool(self._committing) or time.monotonic() - self._last_commit < _BUSY_S
            if not busy or self._waiters:
                return
        await self._nap(_DEFER_S)

    async def _nap(self, seconds: float, until: int | None = None) -> None:
        """(the feed) Sleep ``seconds``, or until poked (:meth:`_poke`); with ``until``
        (a ticket), not at all if no commit up to it runs, else until a commit ends
        (which pokes us)."""
        poked = self._poked
        assert poked is not None
        # (A poke is a callback on this loop: one made after the checks below runs
        # after this clear, so none is lost.)
        poked.clear()
        with self._applied:  # (a commit ends under this lock: it sees _holding, or we it)
            if until is not None and not self._committing_upto(until):
                return
            self._holding = until is not None
        try:
            await asyncio.wait_for(poked.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            with self._applied:
                self._holding = False

    def _poke(self) -> None:
        """(any thread) Wake the feed if it naps."""
        poked = self._poked
        if poked is not None:
            with contextlib.suppress(RuntimeError):  # the engine's loop closed meanwhile
                self._engine.loop.call_soon_threadsafe(poked.set)

    def _committing_upto(self, ticket: int) -> bool:
        """Whether a commit of ticket ``ticket`` or before is still running."""
        with self._applied:
            return any(t <= ticket for t in self._committing)

    def _take(self, entries: list[tuple[bytes, dict[bytes, bytes]]], last: int) -> int:
        """(the feed) Apply ``entries``, in order, after change ``last``: skip those this
        hub applied from their commits' replies, check and apply the others. The last
        change applied; ``_OutOfStep`` if they do not follow from ``last``."""
        hub = self._hub
        assert hub is not None
        own_epoch, own_upto = self._own
        if own_epoch != self._epoch:
            own_upto = 0
        for entry_id, fields in entries:
            numbered = _entry_seq(entry_id)
            if 0 < numbered <= own_upto:
                last = max(last, own_upto)  # (and so is every change before it)
                continue
            if numbered < 0:
                # Not numbered as ours (an id of Redis's own making, ``*``): past every
                # one of ours, so reloading would read it again and again, and no
                # hub's commit could append after it (see _resync).
                raise _Foreign(f"entry {entry_id[:40]!r}")
            try:
                changes = read_entry(entry_id, fields)
            except ValueError as exc:
                # Not cut into changes: which signals it changed is unknown, so every
                # one is reloaded (from the hashes, checked one by one).
                log.warning("nb_sse_signals: a stream entry in Redis is refused: %s", exc)
                raise _OutOfStep(f"entry {entry_id[:40]!r} cannot be read") from None
            if changes[0].seq != last + 1:
                if self._fresh:  # (numbered past the sequence we loaded: not ours)
                    raise _Foreign(f"entry {entry_id[:40]!r} after change {last}")
                raise _OutOfStep(f"the stream jumps from {last} to {changes[0].seq} (trimmed)")
            self._fresh = False
            for change in changes:
                if isinstance(change, Refused):
                    # Not one of ours: skipped, and the signal it names (if it names one)
                    # refused until its next whole value; every other signal goes on.
                    hub.skip(change.seq, change.name, change.reason)
                elif not hub.apply(*change):
                    raise _OutOfStep(f"change {change.seq} of {change.name!r} does not follow")
            last = changes[-1].seq
        return last

    def _caught_up(self, seq: int) -> None:
        """The hub has applied every change up to ``seq``: wake who waits for one."""
        with self._applied:
            self._last_seq = seq
            self._applied.notify_all()

    def _set_live(self, live: bool) -> None:
        with self._applied:
            self._live = live
            self._applied.notify_all()


class RedisPublisher:
    """Publish signals straight to Redis, with no hub in this process: every hub on the
    backplane serves them. ``RedisPublisher(url).set("load", 0.7)``.

    Blocking calls with the hub's semantics (``declare``/``set``/``patch``/``close``,
    each returns the new revision); racing publishers re-base on each other. As on a
    hub, ``set`` and ``patch`` change a declared signal only (``UnknownSignalError``
    otherwise: a mistyped name is not a new signal); ``declare`` creates or replaces.
    While Redis is unreachable a call raises :class:`BackplaneError` and changes nothing.
    A change bigger than ``message_bytes`` as JSON (a hub's limit for one publish
    message, 16 MiB) raises :class:`LimitError` and changes nothing.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        maxlen: int = DEFAULT_MAXLEN,
        ttl: int = DEFAULT_TTL,
        timeout: float = 5.0,
        message_bytes: int = Limits.message_bytes,
    ) -> None:
        self.url = url
        self.message_bytes = Limits(message_bytes=message_bytes).message_bytes  # (checked)
        self._engine = Engine(url, prefix, maxlen, ttl, timeout)
        self._lock = threading.Lock()
        self._cache: dict[str, Cached] = {}
        self._epoch = ""

    def declare(self, name: str, value: object) -> int:
        doc = normalise(value)
        return self._commit(proto.check_key(name), lambda st: plan_declare(st, doc))

    def set(self, name: str, value: object) -> int:
        return self._commit(name, lambda st: plan_set(name, st, value, False))

    def patch(self, name: str, ops: Sequence[dict[str, Any]], base: int | None = None) -> int:
        clean = cast(list[dict[str, Any]], normalise(list(ops)))
        return self._commit(name, lambda st: plan_patch(name, st, clean, base))

    def close(self, name: str) -> int:
        """Close ``name``; returns its last revision (the one the ``closed`` event names)."""
        return self._commit(name, lambda st: plan_close(name, st))

    def get(self, name: str) -> tuple[int, JSON]:
        """(rev, value) of an open signal, as Redis has it now."""
        with self._lock:
            state = open_state(name, self._fetch(name))
            return state.rev, copy_json(state.value)

    def stop(self) -> None:
        self._engine.stop()

    def __enter__(self) -> RedisPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _fetch(self, name: str) -> Cached | None:
        engine = self._engine
        if not self._epoch:
            self._epoch = engine.call(engine.epoch())
        raw = engine.call(_hmget(engine.client, engine.keys.sig + name))
        if raw[0] is None:
            self._cache.pop(name, None)
            return None
        closed = raw[1] == b"1"
        state = Cached(int(raw[0]), closed, None if closed else orjson.loads(raw[2]))
        self._cache[name] = state
        return state

    def _commit(self, name: str, make: Callable[[State | None], Plan | None]) -> int:
        engine = self._engine
        with self._lock:  # one change at a time from this publisher, in order
            cached = self._cache.get(name)
            state: State | None = cached if cached is not None else self._fetch(name)
            lost = False  # Redis lost a signal we had (TTL, or lost data)
            theirs: State | None = None  # what it has instead, if older than ours
            for _ in range(_ATTEMPTS):
                plan = checked_plan(name, make, state)
                if plan is None:
                    assert state is not None
                    return state.rev
                if len(plan.payload) > self.message_bytes:
                    raise LimitError(
                        f"expected a change of {name!r} of at most {self.message_bytes:,} "
                        f"bytes as JSON (the message_bytes limit), got {len(plan.payload):,}"
                    )
                if lost and state is not None:
                    plan = recreate(plan, state, theirs)
                reply = engine.commit(self._epoch, [(name, plan)])
                if reply.status == b"ok":
                    rev = reply.applied[0][0]
                    value = None if plan.kind == "x" else orjson.loads(plan.value_json)
                    self._cache[name] = Cached(rev, plan.kind == "x", value)
                    return rev
                if reply.status == b"epoch":
                    self._epoch = ""
                fresh = self._fetch(name)  # someone else won: re-base on what Redis has
                # ... unless Redis has nothing, or an older state than ours (restored
                # from an older snapshot, a lagging replica): ours is put back whole
                # with the change, never the change applied to an older value.
                lost = state is not None and (fresh is None or older(fresh, state))
                theirs = fresh if lost else None
                if not lost:
                    state = fresh
                elif fresh is not None:
                    self._cache[name] = cast(Cached, state)
            raise BackplaneError(f"gave up on a change of {name!r} after {_ATTEMPTS} races")


async def _hmget(client: aioredis.Redis, key: str) -> list[Any]:
    return cast(list[Any], await client.hmget(key, ["rev", "closed", "value"]))


for _cls in (RedisBackplane, RedisPublisher):
    _cls.__module__ = "nb_sse_signals"  # as every public name prints
del _cls
