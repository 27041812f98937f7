"""The Redis backplane: hubs on many processes and hosts serve the same signals.

Layout in Redis, every key under ``prefix`` (default ``nb_sse_signals:``):

- ``epoch``: the backplane's epoch, the first half of every cursor; a new one
  whenever Redis lost data (it came back empty, or older than what a hub saw);
- ``seq``: the sequence number of the last change, of every signal (``INCR``);
- ``sig:<name>``: a hash of the signal's ``rev``, ``closed``, ``value`` (JSON), the
  ``seq`` of its last change and ``stale`` (the ``seq`` of the entry that said its
  publisher is gone: above the last change's while that holds),
  so that a hub starting late serves snapshots at once; ``names``: the set of those
  names;
- ``changes``: one Redis Stream of every change, entry id ``0-<seq>``, fields
  ``n`` (name), ``r`` (rev), ``k`` (kind) and ``p`` (the patch's JSON, framed by
  every hub as it is, so all send the same bytes). Kind ``s`` is no change: the
  hub whose publisher of that signal dropped tells the others (``_STALE``), so
  that every hub's viewers show it stale until its next change.

One Lua script per change (``_COMMIT``) checks the publisher's base revision, bumps
it and the sequence, writes the hash and appends to the stream, so two publishers
racing on one signal never get one revision twice: the loser is told, re-bases on
the winner and tries again. Hashes and the stream carry a TTL (refreshed by every
change) and the stream a ``MAXLEN``: what Redis keeps is bounded.

Each hub reads the stream with a blocking ``XREAD`` from the last sequence it
applied (the feed), in a thread of its own with its own asyncio loop (redis-py's
asyncio client), and applies each change in order (``SignalHub._apply_remote``).
A gap (the stream was trimmed past it), a new epoch or a reconnect reloads every
signal at once (``_LOAD``, atomic) and sends subscribers snapshots. While Redis is
unreachable the hub keeps serving what it has, tells subscribers ``stale`` and
refuses changes (``BackplaneError``): nothing queues.

Not for Redis Cluster: the scripts touch keys of several slots.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from . import _protocol as proto
from ._backplane import DEFAULT_MAXLEN, DEFAULT_PREFIX, DEFAULT_TTL
from ._diff import diff
from ._errors import (
    BackplaneError,
    LimitError,
    NotJSONError,
    PatchError,
    SignalClosedError,
    UnknownSignalError,
)
from ._hub import UNKNOWN, Loaded, SignalHub, Unreadable
from ._json import normalise
from ._limits import Limits
from ._patch import apply_patch, copy_json
from ._protocol import redact_url
from ._refresh import refresh
from ._types import JSON

__all__ = ["RedisBackplane", "RedisPublisher"]

log = logging.getLogger("nb_sse_signals")

_ATTEMPTS = 100  # commits re-based on a racing winner before giving up

# KEYS: sig hash, seq, stream, epoch, names.  ARGV: 1 epoch of the caller's view,
# 2 base rev ('' = the signal must not exist), 3 kind (c change, n whole value,
# x close), 4 stream payload, 5 value JSON ('' when closed), 6 maxlen, 7 ttl, 8 name,
# 9 '1' if the caller saw it closed else '0', 10 the rev to create it at (base '').
_COMMIT = """
local epoch = redis.call('GET', KEYS[4])
if epoch ~= ARGV[1] then return {'epoch', epoch or ''} end
local cur = redis.call('HMGET', KEYS[1], 'rev', 'closed', 'seq')
local rev
if ARGV[2] == '' then
  if cur[1] then return {'conflict', cur[1], cur[3]} end
  rev = tonumber(ARGV[10])
else
  if cur[1] ~= ARGV[2] or cur[2] ~= ARGV[9] then
    return {'conflict', cur[1] or '', cur[3] or '0'}
  end
  rev = tonumber(cur[1])
  if ARGV[3] ~= 'x' then rev = rev + 1 end
end
local seq = redis.call('INCR', KEYS[2])
local closed = '0'
if ARGV[3] == 'x' then closed = '1' end
redis.call('HSET', KEYS[1], 'rev', rev, 'closed', closed, 'seq', seq, 'value', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('SADD', KEYS[5], ARGV[8])
redis.call('EXPIRE', KEYS[5], ARGV[7])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '0-' .. seq,
  'n', ARGV[8], 'r', rev, 'k', ARGV[3], 'p', ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[7])
return {'ok', tostring(rev), tostring(seq)}
"""

# KEYS: epoch, seq, names.  ARGV: the hash prefix. Everything at one sequence number.
_LOAD = """
local out = {redis.call('GET', KEYS[1]) or '', redis.call('GET', KEYS[2]) or '0'}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local h = redis.call('HMGET', ARGV[1] .. name, 'rev', 'closed', 'value', 'stale', 'seq')
  if h[1] then
    local stale = '0'
    if tonumber(h[4] or '0') > tonumber(h[5] or '0') then stale = '1' end
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
# stream entry of kind s, at a sequence number of its own but no new revision, and that
# number as the hash's ``stale``: the mark holds while it is above the ``seq`` of the
# last change, which any later commit (of any version) raises past it. Nothing if the
# signal changed or closed since, or is marked already.
_STALE = """
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return 0 end
local cur = redis.call('HMGET', KEYS[1], 'rev', 'closed', 'stale', 'seq')
if cur[1] ~= ARGV[2] or cur[2] ~= '0' then return 0 end
if tonumber(cur[3] or '0') > tonumber(cur[4] or '0') then return 0 end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'stale', seq)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '0-' .. seq,
  'n', ARGV[3], 'r', ARGV[2], 'k', 's', 'p', '')
redis.call('EXPIRE', KEYS[3], ARGV[5])
return seq
"""

# KEYS: epoch, stream.  ARGV: the epoch the caller saw ('' = none), the new one.
# Redis lost data: a new epoch, and the old stream's ids mean nothing any more.
_RENEW = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS: sig hash, names.  ARGV: rev, closed, value, ttl, name, stale. A hub puts back
# what it has into a Redis that lost it; what someone wrote meanwhile wins.
_SEED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'rev', ARGV[1], 'closed', ARGV[2], 'seq', 0, 'value', ARGV[3],
  'stale', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""

T = TypeVar("T")


class _State(Protocol):
    """A signal as a publisher sees it (the hub's ``_Signal``, or a publisher's cache)."""

    rev: int
    closed: bool
    value: JSON


@dataclass
class _Cached:
    rev: int
    closed: bool
    value: JSON


@dataclass(frozen=True)
class _Plan:
    """One change, as the commit script takes it."""

    kind: str  # "c", "n" or "x"
    base: int | None  # None: the signal must not exist in Redis yet
    seen_closed: bool
    start_rev: int  # the rev to create it at, when base is None
    payload: bytes
    value_json: bytes


def _whole(value_json: bytes, base: int | None, seen_closed: bool, rev: int) -> _Plan:
    return _Plan("n", base, seen_closed, rev, value_json, value_json)


def plan_declare(state: _State | None, doc: JSON, *, whole: bool = False) -> _Plan | None:
    """``whole``: a whole-value replace at the next revision, even of an equal value."""
    if state is None:
        return _whole(orjson.dumps(doc), None, False, 0)
    if state.closed:
        return _whole(orjson.dumps(doc), state.rev, True, 0)
    if whole or state.value is UNKNOWN:  # (unknown: nothing to diff against)
        value_json = orjson.dumps(doc)
        payload = b'[{"op":"replace","path":"","value":' + value_json + b"}]"
        return _Plan("c", state.rev, False, 0, payload, value_json)
    ops = diff(state.value, doc)
    return _Plan("c", state.rev, False, 0, orjson.dumps(ops), orjson.dumps(doc)) if ops else None


def _open(name: str, state: _State | None) -> _State:
    if state is None:
        raise UnknownSignalError(
            f"expected the name of a declared signal, got {name!r} (declare it first)"
        )
    if state.closed:
        raise SignalClosedError(f"signal {name!r} is closed; declare it again to reopen it")
    return state


def plan_set(name: str, state: _State | None, value: object, parsed: bool) -> _Plan | None:
    sig = _open(name, state)
    if sig.value is UNKNOWN:  # this hub could not read it: the whole new value
        doc = cast(JSON, value) if parsed else normalise(value)
        ops = [{"op": "replace", "path": "", "value": doc}]
    elif parsed:
        doc = cast(JSON, value)
        ops = diff(sig.value, doc)
    else:
        doc, ops = refresh(sig.value, value)
    # ops may share containers with doc (see _diff): serialise both at once.
    return _Plan("c", sig.rev, False, 0, orjson.dumps(ops), orjson.dumps(doc)) if ops else None


def plan_patch(
    name: str, state: _State | None, ops: Sequence[dict[str, Any]], base: int | None
) -> _Plan | None:
    sig = _open(name, state)
    if base is not None and base != sig.rev:
        raise PatchError(
            f"expected a patch of {name!r} at revision {sig.rev}, got one made at {base}"
        )
    if not ops:
        return None
    if sig.value is UNKNOWN:
        raise PatchError(
            f"expected a patch of a value this hub can read, but {name!r} is refused here"
            " (its value in Redis is unreadable): set or declare it whole"
        )
    # On a copy: the hub's value changes only when the change comes back from Redis.
    new = apply_patch(copy_json(sig.value), list(ops))
    return _Plan("c", sig.rev, False, 0, orjson.dumps(list(ops)), orjson.dumps(new))


def plan_close(name: str, state: _State | None) -> _Plan:
    sig = _open(name, state)
    return _Plan("x", sig.rev, False, 0, b"", b"")


def _recreate(plan: _Plan, state: _State) -> _Plan:
    """``plan`` for a Redis that no longer has the signal: put it back whole, after the
    revision its viewers have (revisions never go back)."""
    if plan.kind == "x":
        return _Plan("x", None, False, state.rev, b"", b"")
    return _Plan("n", None, False, state.rev + 1, plan.value_json, plan.value_json)


def _planned(
    name: str, make: Callable[[_State | None], _Plan | None], state: _State | None
) -> _Plan | None:
    """``make(state)``; a value no JSON encoder can write (an integer beyond 64 bits) is
    :class:`NotJSONError`, as without a backplane, not orjson's own error."""
    try:
        return make(state)
    except orjson.JSONEncodeError as exc:
        raise NotJSONError(f"expected a value of {name!r} JSON encoders can write: {exc}") from None


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.epoch = prefix + "epoch"
        self.seq = prefix + "seq"
        self.stream = prefix + "changes"
        self.names = prefix + "names"
        self.sig = prefix + "sig:"


class _Engine:
    """redis-py's asyncio client on an event loop in a thread of its own, so that any
    thread (a hub's loop included) can make a blocking call with a deadline."""

    def __init__(self, url: str, prefix: str, maxlen: int, ttl: int, timeout: float) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {_shown(url)!r}")
        if maxlen < 1 or ttl < 1:
            raise ValueError(f"expected maxlen and ttl of at least 1, got {maxlen} and {ttl}")
        self.keys = _Keys(prefix)
        self.maxlen, self.ttl, self.timeout = maxlen, ttl, timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="nb_sse_signals-redis", daemon=True
        )
        self._thread.start()
        # No retries inside redis-py: a script retried after a lost reply could apply a
        # change twice. Our callers decide (the feed reconnects; a commit is refused).
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            # A pooled connection idle for a second is PINGed before use, so one that a
            # Redis restart closed is replaced instead of failing a change.
            health_check_interval=1,
        )
        self.commit_script = self.client.register_script(_COMMIT)
        self.load_script = self.client.register_script(_LOAD)
        self.renew_script = self.client.register_script(_RENEW)
        self.seed_script = self.client.register_script(_SEED)
        self.stale_script = self.client.register_script(_STALE)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the engine's loop; ``BackplaneError`` if Redis fails or is slow."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(self.timeout if timeout is None else timeout)
        except TimeoutError:
            future.cancel()
            raise BackplaneError("Redis did not answer in time; the change was refused") from None
        except (RedisError, OSError) as exc:
            raise BackplaneError(f"Redis cannot take the change now: {exc}") from None

    async def commit(self, epoch: str, name: str, plan: _Plan) -> list[bytes]:
        k = self.keys
        reply = await self.commit_script(
            keys=[k.sig + name, k.seq, k.stream, k.epoch, k.names],
            args=[
                epoch,
                "" if plan.base is None else plan.base,
                plan.kind,
                plan.payload,
                plan.value_json,
                self.maxlen,
                self.ttl,
                name,
                "1" if plan.seen_closed else "0",
                plan.start_rev,
            ],
        )
        return cast(list[bytes], reply)

    async def stale(self, epoch: str, name: str, rev: int) -> None:
        k = self.keys
        await self.stale_script(
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
            closed = raw[i + 2] == b"1"
            value: JSON | Unreadable = None
            if not closed:
                try:
                    value = cast(JSON, orjson.loads(raw[i + 3]))
                except orjson.JSONDecodeError as exc:
                    # One bad key must not stop the hub from loading the others: the hub
                    # refuses this one (and logs its name).
                    value = Unreadable(f"cannot be read as JSON: {exc}")
            stale = raw[i + 4] == b"1" and not closed
            states.append((raw[i].decode(), int(raw[i + 1]), closed, value, stale))
        return raw[0].decode(), int(raw[1]), states

    async def epoch(self) -> str:
        """The backplane's epoch; makes the first one if Redis has none."""
        k = self.keys
        await self.renew_script(keys=[k.epoch, k.stream], args=["", _new_epoch()])
        raw: Any = await self.client.get(k.epoch)
        return cast(bytes, raw or b"").decode()

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        with contextlib.suppress(Exception):  # closing a client Redis already dropped
            self.call(self.client.aclose(), 2.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self.loop.close()


def _new_epoch() -> str:
    return "r" + secrets.token_hex(5)


class _OutOfStep(Exception):
    """The stream does not follow from what the hub has: reload everything."""


class RedisBackplane:
    """Connects a :class:`SignalHub` to Redis: its changes go through Redis, and it
    serves every change that any hub or :class:`RedisPublisher` made there.

    ``url``: ``redis://[:password@]host:port/db`` or ``rediss://`` for TLS (any URL
    redis-py's ``from_url`` takes). ``prefix``: every key's, so that one Redis serves
    several deployments. ``maxlen``: stream entries kept (a hub that falls further
    behind reloads snapshots); ``ttl``: seconds a signal stays in Redis after its last
    change. ``timeout``: the deadline of one Redis call.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        maxlen: int = DEFAULT_MAXLEN,
        ttl: int = DEFAULT_TTL,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self._engine = _Engine(url, prefix, maxlen, ttl, timeout)
        self._hub: SignalHub | None = None
        self._applied = threading.Condition()
        self._last_seq = 0
        self._epoch = ""
        self._live = False
        self._task: asyncio.Task[None] | None = None  # the feed, on the engine's loop
        self._last_error: BaseException | None = None  # why the feed last failed

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
        self._hub = hub
        hub.attach_backplane(self)
        self._engine.call(self._spawn())
        with self._applied:
            if not self._applied.wait_for(lambda: self._live, timeout):
                self.stop()
                why = f": {self._last_error}" if self._last_error is not None else ""
                raise BackplaneError(f"cannot reach Redis at {_shown(self.url)}{why}")
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

    async def _spawn(self) -> None:
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

        def make(state: _State | None) -> _Plan | None:
            # (under the hub's lock) A whole-value replace at a new revision, even if
            # equal, when a publisher takes the signal over: an orphan of this hub (the
            # change that ends its viewers' stale is then in history, with its id, for
            # those who resume), or one this owner did not own here, maybe another hub's
            # orphan (that hub then sees the change, ends its stale, and does not close
            # what was taken over). Declared again by its owner: a diff, as ever.
            sig = hub._signals.get(name)
            taken = (
                sig is not None
                and not sig.closed
                and (sig.orphaned or (owner is not None and sig.owner is not owner))
            )
            return plan_declare(state, doc, whole=taken)

        return self._commit(name, make)

    def set(self, name: str, value: object, parsed: bool) -> int:
        return self._commit(name, lambda sig: plan_set(name, sig, value, parsed))

    def patch(self, name: str, ops: Sequence[dict[str, Any]], base: int | None) -> int:
        return self._commit(name, lambda sig: plan_patch(name, sig, ops, base))

    def close(self, name: str, when: Callable[[], bool] | None = None) -> bool:
        planned = False

        def make(state: _State | None) -> _Plan | None:
            nonlocal planned  # the last plan decides: a racing declare re-plans it
            planned = when is None or when()
            return plan_close(name, state) if planned else None

        self._commit(name, make)
        return planned

    def stale(self, name: str, rev: int) -> None:
        hub = self._hub
        assert hub is not None
        if not self._live or self._engine.loop.is_closed():
            return  # Redis is away (every hub's viewers show stale), or we stopped
        coro = self._engine.stale(hub.epoch, name, rev)
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self._engine.loop)
        except RuntimeError:  # the engine's loop closed meanwhile
            coro.close()
            return

        def done(future: concurrent.futures.Future[None]) -> None:
            if not future.cancelled() and future.exception() is not None:
                log.info(
                    "nb_sse_signals: could not tell other hubs %s is stale: %s",
                    name,
                    future.exception(),
                )

        future.add_done_callback(done)

    def _commit(self, name: str, make: Callable[[_State | None], _Plan | None]) -> int:
        hub = self._hub
        assert hub is not None
        if not self._live:
            # Refuse at once rather than stall the hub's loop on a Redis that is away.
            raise BackplaneError("Redis is unreachable; the change was refused")
        lost = False  # Redis no longer has a signal this hub has (its TTL ran out)
        for _ in range(_ATTEMPTS):
            with hub._lock:
                sig = hub._signals.get(name)
                plan = _planned(name, make, sig)
                if plan is None:  # nothing to change (or a conditional close that is not)
                    return -1 if sig is None else sig.rev
                epoch = hub.epoch
                if lost and sig is not None:
                    plan = _recreate(plan, sig)
            reply = self._engine.call(self._engine.commit(epoch, name, plan))
            status = reply[0]
            if status == b"ok":
                # Committed: a hub slow to apply it delays the reply, never refuses it.
                with contextlib.suppress(BackplaneError):
                    self._wait_applied(int(reply[2]), epoch)
                return int(reply[1])
            if status == b"conflict":
                lost = reply[1] == b""
                if not lost:  # someone else changed it: re-base on their change
                    self._wait_applied(int(reply[2]), epoch)
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
            if not self._applied.wait_for(done, self._engine.timeout):
                raise BackplaneError("the hub did not catch up with Redis in time")

    # -- the feed (the engine's loop) ------------------------------------------------

    async def _feed(self) -> None:
        delay = 0.1
        stale_since = 0.0
        while True:
            try:
                last = await self._resync()
                if stale_since:
                    log.info("nb_sse_signals: Redis is back; resynced")
                stale_since, delay = 0.0, 0.1
                await self._follow(last)
            except _OutOfStep as exc:
                log.info("nb_sse_signals: reloading from Redis: %s", exc)
            except Exception as exc:  # Redis away (RedisError, OSError), or what it holds is bad
                self._last_error = exc
                if not stale_since:
                    stale_since = time.monotonic()
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
                    self._hub._mark_stale()
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
        # has, whatever is missing (other hubs do the same; the first one wins).
        older = epoch == self._epoch and seq < self._last_seq
        if not epoch or older or (self._epoch and epoch != self._epoch):
            renewed = (not epoch or older) and await engine.renew_script(
                keys=[k.epoch, k.stream], args=[epoch, _new_epoch()]
            )
            if renewed and self._epoch:  # (not on a first start with an empty Redis)
                log.warning("nb_sse_signals: Redis lost data; new epoch, restoring signals")
            with hub._lock:
                # (not what it refused: that cannot be written, and Redis has it anyway)
                mine = [
                    (n, s.rev, s.closed, s.value, s.orphaned)
                    for n, s in hub._signals.items()
                    if s.refused is None
                ]
            for name, rev, closed, value, orphaned in mine:
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
        hub._load(epoch, seq, states)
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
        while True:
            found: Any = await client.xread({k.stream: f"0-{last}"}, count=1000, block=1000)
            if not found:
                # Idle: did Redis lose its data without dropping us (FLUSHALL, failover)?
                if await client.get(k.epoch) != epoch:
                    raise _OutOfStep("the epoch changed")
                continue
            for entry_id, fields in found[0][1]:
                seq = int(entry_id.split(b"-")[1])
                if seq != last + 1:
                    raise _OutOfStep(f"the stream jumps from {last} to {seq} (trimmed)")
                name = fields[b"n"].decode()
                if not hub._apply_remote(
                    seq, name, int(fields[b"r"]), fields[b"k"].decode(), fields[b"p"]
                ):
                    raise _OutOfStep(f"change {seq} of {name!r} does not follow")
                last = seq
            with self._applied:
                self._last_seq = last
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
        self._engine = _Engine(url, prefix, maxlen, ttl, timeout)
        self._lock = threading.Lock()
        self._cache: dict[str, _Cached] = {}
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
            state = _open(name, self._fetch(name))
            return state.rev, copy_json(state.value)

    def stop(self) -> None:
        self._engine.stop()

    def __enter__(self) -> RedisPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _fetch(self, name: str) -> _Cached | None:
        engine = self._engine
        if not self._epoch:
            self._epoch = engine.call(engine.epoch())
        raw = engine.call(_hmget(engine.client, engine.keys.sig + name))
        if raw[0] is None:
            self._cache.pop(name, None)
            return None
        closed = raw[1] == b"1"
        state = _Cached(int(raw[0]), closed, None if closed else orjson.loads(raw[2]))
        self._cache[name] = state
        return state

    def _commit(self, name: str, make: Callable[[_State | None], _Plan | None]) -> int:
        engine = self._engine
        with self._lock:  # one change at a time from this publisher, in order
            cached = self._cache.get(name)
            state: _State | None = cached if cached is not None else self._fetch(name)
            lost = False  # Redis lost a signal we had (TTL, or lost data)
            for _ in range(_ATTEMPTS):
                plan = _planned(name, make, state)
                if plan is None:
                    assert state is not None
                    return state.rev
                if len(plan.payload) > self.message_bytes:
                    raise LimitError(
                        f"expected a change of {name!r} of at most {self.message_bytes:,} "
                        f"bytes as JSON (the message_bytes limit), got {len(plan.payload):,}"
                    )
                if lost and state is not None:
                    plan = _recreate(plan, state)
                reply = engine.call(engine.commit(self._epoch, name, plan))
                if reply[0] == b"ok":
                    rev = int(reply[1])
                    value = None if plan.kind == "x" else orjson.loads(plan.value_json)
                    self._cache[name] = _Cached(rev, plan.kind == "x", value)
                    return rev
                if reply[0] == b"epoch":
                    self._epoch = ""
                fresh = self._fetch(name)  # someone else won: re-base on what Redis has
                lost = fresh is None and state is not None
                if not lost:
                    state = fresh
            raise BackplaneError(f"gave up on a change of {name!r} after {_ATTEMPTS} races")


async def _hmget(client: aioredis.Redis, key: str) -> list[Any]:
    return cast(list[Any], await client.hmget(key, ["rev", "closed", "value"]))


def _shown(url: str) -> str:
    """``url`` without its password, for messages."""
    return redact_url(url)


for _cls in (RedisBackplane, RedisPublisher):
    _cls.__module__ = "nb_sse_signals"  # as every public name prints
del _cls
