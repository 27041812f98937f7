"""The Redis backplane's engine: what is kept in Redis, the scripts that change it,
and the clients that run them. No hub logic: ``_redis`` decides what to commit and
what to apply.

Layout in Redis, every key under ``prefix`` (default ``nb_sse_signals:``):

- ``epoch``: the backplane's epoch, the first half of every cursor; a new one
  whenever Redis lost data (it came back empty, or older than what a hub saw);
- ``seq``: the sequence number of the last change, of every signal (``INCR``);
- ``sig:<name>``: a hash of the signal's ``rev``, ``closed``, ``value`` (JSON), the
  ``seq`` of its last change and ``stale`` (the ``seq`` of the entry that said its
  publisher is gone: above the last change's while that holds),
  so that a hub starting late serves snapshots at once; ``names``: the set of those
  names;
- ``changes``: one Redis Stream of every committed frame, one entry each, entry id
  ``0-<seq of its last change>``, fields ``c`` (how many changes) and ``b`` (each
  change's name, rev, kind and payload, in order: ``_redis_entry``). Every hub
  re-encodes what it reads (the patch's JSON), so all send the same bytes. Kind ``s``
  is no change: the hub whose publisher of that signal dropped tells the others
  (``_ORPHANED``), so that every hub's viewers show it stale until its next change.

One Lua script per frame (``COMMIT``) checks that every signal the frame changes is
still at the base revision its first change was planned on, bumps the sequence by
the frame's count, appends the frame as one entry and writes each signal's hash once
(its state after its last change), all or nothing, so two publishers racing on one
signal never get one revision twice: the loser is told, re-bases on the winner and
tries again. Hashes and the stream carry a TTL (refreshed by every change) and the
stream a ``MAXLEN``: what Redis keeps is bounded.

Not for Redis Cluster: the scripts touch keys of several slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar, cast

import orjson
import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry as SyncRetry

from . import _protocol as proto
from ._errors import BackplaneError
from ._plan import Plan
from ._protocol import redact_url
from ._redis_entry import pack_changes, revision
from ._remote import Loaded, Unreadable
from ._types import JSON

__all__ = ["COMMIT", "Engine", "Reply", "commit_args", "new_epoch", "shown"]

log = logging.getLogger("nb_sse_signals")

T = TypeVar("T")

# A frame of changes in one round trip (a publisher's frame: docs/protocol.md), all or
# nothing: every signal it changes must still be at the revision its first change was
# planned on; then one entry holds them all (``_redis_entry``: the writer packs it, the
# script appends it as it is), and each signal's hash gets its state after its last
# change, once. Nothing per change runs here: the caller planned each on the one before.
# KEYS: seq, stream, epoch, names.  ARGV: 1 epoch of the caller's view, 2 maxlen, 3 ttl,
# 4 the prefix of signal hashes, 5 how many changes, 6 the entry's changes (field b),
# then 7 per signal changed: name, base rev ('' = it must not exist), '1' if the caller
# saw it closed else '0', then after its last change: rev, closed ('1'/'0'), value JSON
# ('' when closed), and that change's index in the frame (0 = the first). Reply: {'ok',
# the sequence number of the first change}, {'conflict', the index of the signal whose
# base does not hold, the rev ('' = none) and seq Redis has of it}, or {'epoch', the
# epoch Redis has}. (Hash keys are made here from the prefix, as _LOAD does: not for
# Cluster.)
COMMIT = """
local epoch = redis.call('GET', KEYS[3])
if epoch ~= ARGV[1] then return {'epoch', epoch or ''} end
local signals = (#ARGV - 6) / 7
for i = 0, signals - 1 do
  local a = 7 + 7 * i
  local cur = redis.call('HMGET', ARGV[4] .. ARGV[a], 'rev', 'closed', 'seq')
  -- A revision that is not a number (not written by us) is no state: put over it.
  if cur[1] and not string.match(cur[1], '^%d+$') then cur = {false, false, false} end
  local base = ARGV[a + 1]
  if (base == '' and cur[1]) or (base ~= '' and (cur[1] ~= base or cur[2] ~= ARGV[a + 2])) then
    return {'conflict', i, cur[1] or '', cur[3] or '0'}
  end
end
local count = tonumber(ARGV[5])
-- (INCR checks the sequence is a number; then SET, not INCRBY: the ACL recipe of
-- docs/security.md, which deployments have, allows INCR and SET)
local first = redis.call('INCR', KEYS[1])
local last = first + count - 1
-- An entry no hub wrote, past ours (an id of Redis's making), refuses the append:
-- nothing is changed (the sequence put back), and the caller waits for the new epoch
-- that the hubs' feeds then start.
local added = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '0-' .. last, 'c', count,
  'b', ARGV[6])
if type(added) == 'table' and added.err then
  redis.call('SET', KEYS[1], first - 1)
  return {'epoch', epoch}
end
if count > 1 then redis.call('SET', KEYS[1], last) end
local names = {}
for i = 0, signals - 1 do
  local a = 7 + 7 * i
  local key = ARGV[4] .. ARGV[a]
  redis.call('HSET', key, 'rev', ARGV[a + 3], 'closed', ARGV[a + 4],
    'seq', first + tonumber(ARGV[a + 6]), 'value', ARGV[a + 5])
  redis.call('EXPIRE', key, ARGV[3])
  names[i + 1] = ARGV[a]
end
redis.call('SADD', KEYS[4], unpack(names))
redis.call('EXPIRE', KEYS[4], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {'ok', first}
"""

# KEYS: epoch, seq, names.  ARGV: the hash prefix. Everything at one sequence number.
_LOAD = """
local out = {redis.call('GET', KEYS[1]) or '', redis.call('GET', KEYS[2]) or '0'}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local h = redis.call('HMGET', ARGV[1] .. name, 'rev', 'closed', 'value', 'stale', 'seq')
  if h[1] then
    local stale = '0'
    if (tonumber(h[4]) or 0) > (tonumber(h[5]) or 0) then stale = '1' end
    table.insert(out, name); table.insert(out, h[1])
    table.insert(out, h[2]); table.insert(out, h[3]); table.insert(out, stale)
  else
    redis.call('SREM', KEYS[3], name)
  end
end
return out
"""

# KEYS: sig hash, seq, stream, epoch.  ARGV: 1 epoch, 2 rev, 3 name, 4 maxlen, 5 ttl.
# The publisher of ``name`` at ``rev`` is gone: every hub's viewers show it stale. A
# stream entry of one change of kind s (``_redis_entry``), at a sequence number of its
# own but no new revision, and that number as the hash's ``stale``: the mark holds
# while it is above the ``seq`` of the last change, which any later commit (of any
# version) raises past it. Nothing if the signal changed or closed since, or is marked
# already.
_ORPHANED = """
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return 0 end
local cur = redis.call('HMGET', KEYS[1], 'rev', 'closed', 'stale', 'seq')
if cur[1] ~= ARGV[2] or cur[2] ~= '0' then return 0 end
if (tonumber(cur[3]) or 0) > (tonumber(cur[4]) or 0) then return 0 end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'stale', seq)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '0-' .. seq, 'c', 1,
  'b', #ARGV[3] .. ':' .. ARGV[3] .. #ARGV[2] .. ':' .. ARGV[2] .. '1:s0:')
redis.call('EXPIRE', KEYS[3], ARGV[5])
return seq
"""

# KEYS: epoch, stream, seq.  ARGV: the epoch the caller saw ('' = none), the new one.
# Redis lost data: a new epoch, and the old stream's ids mean nothing any more.
_RENEW = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
local seq = redis.call('GET', KEYS[3])
if seq and not string.match(seq, '^%d+$') then redis.call('DEL', KEYS[3]) end
return 1
"""

# KEYS: sig hash, names.  ARGV: rev, closed, value, ttl, name, stale. A hub puts back
# what it has into a Redis that lost it, or holds an older state of it (restored from
# an older snapshot, a replica that lagged): revisions never go back. What Redis has
# that is as new or newer (someone wrote it meanwhile) wins. States are ordered by
# revision, then closed after open (a close keeps its revision); a revision that is
# not a number is no state at all.
_SEED = """
local cur = redis.call('HMGET', KEYS[1], 'rev', 'closed')
local theirs = tonumber(cur[1])
if theirs then
  local mine = tonumber(ARGV[1]) * 2
  if ARGV[2] == '1' then mine = mine + 1 end
  theirs = theirs * 2
  if cur[2] == '1' then theirs = theirs + 1 end
  if theirs >= mine then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'rev', ARGV[1], 'closed', ARGV[2], 'seq', 0, 'value', ARGV[3],
  'stale', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""


class Reply:
    """What ``COMMIT`` answered: ``status`` (b"ok", b"conflict", b"epoch"), the rev and
    seq of each change ``applied`` (all of the frame's, or none), and, for a conflict,
    which signal's base did not hold (``signal``: its index among the frame's signals)
    and what Redis has of it (``their_rev``: None if it has nothing, ``their_seq``)."""

    def __init__(self, raw: list[Any], revs: Sequence[int]) -> None:
        self.status: bytes = raw[0]
        self.applied: list[tuple[int, int]] = []
        self.signal, self.their_rev, self.their_seq = 0, None, 0
        if self.status == b"ok":
            first = int(raw[1])
            self.applied = [(rev, first + i) for i, rev in enumerate(revs)]
        elif self.status == b"conflict":
            self.signal = int(raw[1])
            self.their_rev = int(raw[2]) if raw[2] else None
            self.their_seq = int(raw[3])


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.epoch = prefix + "epoch"
        self.seq = prefix + "seq"
        self.stream = prefix + "changes"
        self.names = prefix + "names"
        self.sig = prefix + "sig:"


class Engine:
    """redis-py's asyncio client on an event loop in a thread of its own, so that any
    thread can make a blocking call with a deadline (the feed runs there too); its
    blocking client, which commits in the caller's thread (never a hub's loop); and
    the asyncio client of the one loop that commits frames itself (``loop_commit``)."""

    def __init__(self, url: str, prefix: str, maxlen: int, ttl: int, timeout: float) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {shown(url)!r}")
        if maxlen < 1 or ttl < 1:
            raise ValueError(f"expected maxlen and ttl of at least 1, got {maxlen} and {ttl}")
        self.keys = _Keys(prefix)
        self.maxlen, self.ttl, self.timeout = maxlen, ttl, timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="nb_sse_signals-redis", daemon=True
        )
        self._thread.start()
        # Both clients below, alike: no retries inside redis-py (a script retried after a
        # lost reply could apply a change twice; our callers decide: the feed
        # reconnects, a commit is rejected), and a pooled connection idle for a second
        # is PINGed before use, so one that a Redis restart closed is replaced instead
        # of failing a change.
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "health_check_interval": 1,
        }
        self._url, self._options = url, options
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url, retry=Retry(NoBackoff(), 0), **options
        )
        # The asyncio client of the one event loop that commits frames itself (a
        # server's: ``RedisBackplane.batched_on_loop``), made there on first use.
        self._on: tuple[asyncio.AbstractEventLoop, aioredis.Redis, Any, asyncio.Semaphore] | None
        self._on = None
        self._closing: set[asyncio.Task[None]] = set()
        # Commits go out from the caller's thread on blocking connections of their own:
        # handing each to the loop above and back cost two thread switches per frame,
        # more than the round trip (docs/architecture.md, "Several hubs").
        self.blocking: redis.Redis = redis.Redis.from_url(
            url, retry=SyncRetry(NoBackoff(), 0), **options
        )
        self.commit_script = self.blocking.register_script(COMMIT)
        self._stopped = False
        self.load_script = self.client.register_script(_LOAD)
        self.renew_script = self.client.register_script(_RENEW)
        self.seed_script = self.client.register_script(_SEED)
        self.orphaned_script = self.client.register_script(_ORPHANED)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the engine's loop; ``BackplaneError`` if Redis fails or is slow."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(self.timeout if timeout is None else timeout)
        except TimeoutError:
            future.cancel()
            raise BackplaneError("Redis did not answer in time; the change was rejected") from None
        except (RedisError, OSError) as exc:
            raise BackplaneError(f"Redis cannot take the change now: {exc}") from None

    def loop_commit(
        self, loop: asyncio.AbstractEventLoop, slots: int
    ) -> tuple[Any, asyncio.Semaphore] | None:
        """(on ``loop``) The commit script on ``loop``'s own client, and the slots that
        bound how many of its commits wait for Redis at once; None if another loop has
        it (one hub, one server loop: the other goes through the commit threads) or the
        engine is stopped."""
        on = self._on
        if on is None:
            if self._stopped:
                return None
            client = aioredis.Redis.from_url(
                self._url, retry=Retry(NoBackoff(), 0), **self._options
            )
            on = self._on = (
                loop,
                client,
                client.register_script(COMMIT),
                asyncio.Semaphore(slots),
            )
        return (on[2], on[3]) if on[0] is loop else None

    async def commit_on_loop(
        self, script: Any, epoch: str, changes: Sequence[tuple[str, Plan]]
    ) -> Reply:
        """:meth:`commit`, awaited on the loop of :meth:`loop_commit`."""
        if self._stopped:
            raise BackplaneError("the Redis backplane is stopped; the change was rejected")
        keys, revs, args = self._commit_call(epoch, changes)
        try:
            # (a deadline with no task of its own, unlike wait_for: one less loop turn)
            async with asyncio.timeout(self.timeout):
                raw = await script(keys=keys, args=args)
        except TimeoutError:
            raise BackplaneError("Redis did not answer in time; the change was rejected") from None
        except (RedisError, OSError) as exc:
            raise BackplaneError(f"Redis cannot take the change now: {exc}") from None
        return Reply(cast(list[Any], raw), revs)

    def detach_loop_client(self, loop: asyncio.AbstractEventLoop) -> aioredis.Redis | None:
        """The client of :meth:`loop_commit`, if ``loop`` has it, for the caller to close
        there; the engine forgets it (and makes no other)."""
        on = self._on
        if on is None or on[0] is not loop:
            return None
        self._stopped = True  # (no new one)
        self._on = None
        return on[1]

    def _close_loop_client(self) -> None:
        """Close the loop's client on its loop (its connections belong to it): now if
        that loop runs in another thread, as a task if this is that loop (a server
        stopping: its last tasks are awaited before its loop closes)."""
        on, self._on = self._on, None
        if on is None or on[0].is_closed():
            return
        loop, client = on[0], on[1]
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            task = loop.create_task(client.aclose())
            self._closing.add(task)  # (asyncio keeps only weak references to tasks)
            task.add_done_callback(self._closing.discard)
        elif loop.is_running():
            future = asyncio.run_coroutine_threadsafe(client.aclose(), loop)
            with contextlib.suppress(Exception):
                future.result(2.0)

    def warm(self) -> None:
        """Connect the blocking client and load the commit script now, so that the first
        commit is one round trip like the others (best effort: a commit loads it too)."""
        with contextlib.suppress(RedisError, OSError):
            self.blocking.script_load(COMMIT)

    def commit(self, epoch: str, changes: Sequence[tuple[str, Plan]]) -> Reply:
        """Commit ``changes`` in order in one round trip (``COMMIT``): all, or none.
        Blocks this thread (any but a loop's) for at most the timeout."""
        if self._stopped:
            raise BackplaneError("the Redis backplane is stopped; the change was rejected")
        keys, revs, args = self._commit_call(epoch, changes)
        try:
            raw = self.commit_script(keys=keys, args=args)
        except RedisTimeoutError:
            raise BackplaneError("Redis did not answer in time; the change was rejected") from None
        except (RedisError, OSError) as exc:
            raise BackplaneError(f"Redis cannot take the change now: {exc}") from None
        return Reply(cast(list[Any], raw), revs)

    def _commit_call(
        self, epoch: str, changes: Sequence[tuple[str, Plan]]
    ) -> tuple[list[str], list[int], list[Any]]:
        """``COMMIT``'s keys and arguments for ``changes``, and their revisions."""
        k = self.keys
        revs, args = commit_args(changes)
        args[:0] = [epoch, self.maxlen, self.ttl, k.sig]
        return [k.seq, k.stream, k.epoch, k.names], revs, args

    async def orphaned(self, epoch: str, name: str, rev: int) -> None:
        k = self.keys
        await self.orphaned_script(
            keys=[k.sig + name, k.seq, k.stream, k.epoch],
            args=[epoch, rev, name, self.maxlen, self.ttl],
        )

    async def load(self) -> tuple[str, int, list[Loaded]]:
        k = self.keys
        raw = cast(
            list[bytes], await self.load_script(keys=[k.epoch, k.seq, k.names], args=[k.sig])
        )
        states: list[Loaded] = []
        for i in range(2, len(raw), 5):
            # Written by other hubs, other versions, or anyone with access to Redis:
            # every field is checked, and one bad signal never stops the others.
            try:
                name = proto.check_key(raw[i].decode())
            except (UnicodeDecodeError, ValueError) as exc:
                log.warning("nb_sse_signals: ignoring a signal in Redis: %s", exc)
                continue
            closed = raw[i + 2] == b"1"
            value: JSON | Unreadable = None
            try:
                rev = revision(raw[i + 1])
            except ValueError as exc:
                rev, closed, value = 0, False, Unreadable(str(exc))  # refused, never shown
            if not closed and value is None:
                try:
                    value = cast(JSON, orjson.loads(raw[i + 3]))
                except orjson.JSONDecodeError as exc:
                    # The hub refuses this one (and logs its name).
                    value = Unreadable(f"cannot be read as JSON: {exc}")
            orphaned = raw[i + 4] == b"1" and not closed
            states.append((name, rev, closed, value, orphaned))
        try:
            seq = revision(raw[1])
        except ValueError:
            seq = -1  # not a sequence: as lost data (_resync renews the epoch)
        return raw[0].decode(errors="replace"), seq, states

    async def epoch(self) -> str:
        """The backplane's epoch; makes the first one if Redis has none."""
        k = self.keys
        await self.renew_script(keys=[k.epoch, k.stream, k.seq], args=["", new_epoch()])
        raw: Any = await self.client.get(k.epoch)
        return cast(bytes, raw or b"").decode()

    async def _drain(self) -> None:
        """(engine loop) End what still runs here (an orphan notice sent as the hub
        stopped), then close the client: a task left on a loop that closes keeps its
        connection open until the garbage collector finds both, with a warning each."""
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.client.aclose()

    def stop(self) -> None:
        self._stopped = True
        # Commits waiting for Redis fail at once (their sockets close under them).
        with contextlib.suppress(Exception):
            self.blocking.connection_pool.disconnect()
        self._close_loop_client()
        if self.loop.is_closed():
            return
        with contextlib.suppress(Exception):  # closing a client Redis already dropped
            self.call(self._drain(), 2.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self.loop.close()


def commit_args(changes: Sequence[tuple[str, Plan]]) -> tuple[list[int], list[Any]]:
    """The revision of each change, and ``COMMIT``'s arguments from its fifth on: the
    count, the entry's changes, then each signal's base (its first change's) and state
    after its last change. A signal's changes must follow each other (each planned on
    the one before: a batch's overlay)."""
    revs: list[int] = []
    signals: dict[str, list[Any]] = {}
    for i, (name, plan) in enumerate(changes):
        rev = plan.rev
        revs.append(rev)
        closed = b"1" if plan.kind == "x" else b"0"
        state = signals.get(name)
        if state is None:
            base = b"" if plan.base is None else b"%d" % plan.base
            seen = b"1" if plan.seen_closed else b"0"
            signals[name] = [name, base, seen, rev, closed, plan.value_json, i]
            continue
        if plan.base != state[3] or plan.seen_closed != (state[4] == b"1"):
            raise ValueError(f"expected changes of {name!r} that follow each other in a frame")
        state[3:] = rev, closed, plan.value_json, i
    entry = pack_changes(
        (name, rev, plan.kind, plan.payload)
        for (name, plan), rev in zip(changes, revs, strict=True)
    )
    args: list[Any] = [len(changes), entry]
    for state in signals.values():
        args += state
    return revs, args


def new_epoch() -> str:
    return "r" + secrets.token_hex(5)


def shown(url: str) -> str:
    """``url`` without its password, for messages."""
    return redact_url(url)
