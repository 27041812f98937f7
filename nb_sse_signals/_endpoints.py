"""What the subscriber and publish endpoints decide, with no web framework in sight.

The Tornado handlers (``_handlers``, ``_publish_endpoint``) and the ASGI app
(``_asgi``) are thin adapters around this module: credentials, query checks,
status codes and error bodies, the body of an event stream (retry hint,
keep-alives, the ``format``), the answer to a POST or a WebSocket frame, and what
happens to a publisher's signals when it goes away. So both servers speak one
protocol (docs/protocol.md) and one test suite holds them to it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from . import _protocol as proto
from ._errors import CursorError, LimitError, ProtocolError, UnknownSignalError
from ._hub import SignalHub
from ._limits import Limits
from ._messages import handle_message, handle_payload, http_status
from ._protocol import SECRET_HEADER
from ._subscription import Subscription

__all__ = [
    "JSON_TYPE",
    "OFF_LOOP_BYTES",
    "RETRY_MS",
    "STREAM_HEADERS",
    "EventStream",
    "Rejection",
    "off_loop",
    "publish_post",
    "reap_when_gone",
    "reply_to_frame",
]

log = logging.getLogger("nb_sse_signals")

RETRY_MS = 2000
JSON_TYPE = "application/json; charset=utf-8"
STREAM_HEADERS = (
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
)
# Messages larger than this are parsed and applied in a worker thread, so the loop
# (in Jupyter, the whole server's) keeps serving everyone else meanwhile.
OFF_LOOP_BYTES = 256 * 1024

T = TypeVar("T")


async def off_loop(hub: SignalHub, size: int, work: Callable[[], T]) -> T:
    """``work()``, in a worker thread if it may wait for a backplane or is big (the
    loop, in Jupyter the whole server's, keeps serving everyone else meanwhile)."""
    # Behind a shared backplane every change waits for Redis (a round trip; seconds
    # when Redis is slow or away): never on the loop, in the backplane's own threads.
    executor = hub.commit_executor
    if executor is not None:
        return await asyncio.get_running_loop().run_in_executor(executor, work)
    if size > OFF_LOOP_BYTES:
        return await asyncio.get_running_loop().run_in_executor(None, work)
    return work()


# The values of the subscription's ``format`` query parameter (docs/protocol.md).
FORMATS = ("nb_sse_signals", "leptos_sse")


class Rejection(Exception):
    """A request rejected with ``status`` and the protocol's body ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> bytes:
        return orjson.dumps({"error": self.message})


# -- credentials -----------------------------------------------------------------------


def same_secret(given: str | None, expected: str | None) -> bool:
    """``given`` is ``expected`` (both non-empty), compared in constant time."""
    return bool(given and expected) and hmac.compare_digest(given.encode(), expected.encode())  # type: ignore[union-attr]


def request_token(authorization: str, query: str | None, cookie: str | None) -> str | None:
    """The subscriber token a request carries: ``Authorization: token|bearer T``, else
    ``?token=T``, else the standalone server's cookie."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    return query or cookie


def may_subscribe(
    token: str | None, publish_secret: str | None, given_token: str | None, given_secret: str
) -> bool:
    """True if a request may read signals: no token is set (auth is in front), or it
    holds the token, or the publish secret (a kernel following a signal it does not
    publish; the reverse is never true)."""
    if token is None or same_secret(given_secret, publish_secret):
        return True
    return same_secret(given_token, token)


def subscriber_rejected() -> Rejection:
    return Rejection(403, "expected subscriber credentials (a token), got none or a wrong one")


def publisher_rejected() -> Rejection:
    return Rejection(403, f"expected the publish secret in {SECRET_HEADER}")


def plain_get_rejected() -> Rejection:
    return Rejection(
        400,
        "expected a WebSocket upgrade (Upgrade: websocket) on GET, got a plain GET; "
        "to publish over plain HTTP, POST the messages",
    )


# -- subscribing -----------------------------------------------------------------------


def signal_names(names: list[str], limits: Limits) -> list[str]:
    """The ``signal`` query parameters, checked; else a 400."""
    if not names:
        raise Rejection(400, "expected at least one 'signal' query parameter, got none")
    limit = limits.signals_per_subscription
    if len(names) > limit:
        raise Rejection(400, f"expected at most {limit} 'signal' parameters, got {len(names)}")
    try:
        return [proto.check_key(n) for n in names]
    except ProtocolError as exc:
        raise Rejection(400, str(exc)) from None


def stream_format(value: str | None) -> str:
    """The ``format`` query parameter, checked (absent: our own shape); else a 400."""
    if value is None or value in FORMATS:
        return value or FORMATS[0]
    raise Rejection(400, f"expected 'format' to be one of {', '.join(FORMATS)}; got {value!r}")


def subscribe(hub: SignalHub, names: list[str], cursor: str | None) -> Subscription:
    """``hub.subscribe``, its errors as rejections (on the hub's loop)."""
    try:
        return hub.subscribe(names, cursor or None)
    except (CursorError, ProtocolError) as exc:
        raise Rejection(400, str(exc)) from None
    except UnknownSignalError as exc:
        raise Rejection(404, str(exc)) from None
    except LimitError as exc:  # too many subscribers: try again later
        raise Rejection(503, str(exc)) from None


def snapshot_status(hub: SignalHub, names: list[str]) -> None:
    """What a ``HEAD`` on the snapshot endpoint checks (the browser's failure probe:
    why did the stream fail?): a direct lookup per name, no snapshot built."""
    unknown = [name for name in names if not hub.info(name)]
    if unknown:
        raise Rejection(
            404,
            "expected names of declared signals, got unknown "
            + ", ".join(repr(k) for k in unknown),
        )


def snapshot_body(hub: SignalHub, names: list[str]) -> bytes:
    """The snapshot endpoint's answer: a JSON array of snapshot messages, in order."""
    try:
        datas = hub.snapshots(names)
    except UnknownSignalError as exc:
        raise Rejection(404, str(exc)) from None
    return b"[" + b",".join(datas) + b"]"


class EventStream:
    """What one events response writes, whatever writes it: the subscription's batches
    (the ``retry:`` hint on the first, in the asked ``format``) and keep-alive comments
    once ``keepalive`` seconds passed without a write.

    Single-threaded, on the hub's loop; ``now`` is that loop's clock.
    """

    def __init__(
        self, sub: Subscription, keepalive: float, fmt: str, now: Callable[[], float]
    ) -> None:
        self.sub = sub
        self.keepalive = keepalive
        self._leptos = fmt == "leptos_sse"
        self._now = now
        self._retry = proto.retry_field(RETRY_MS)
        self._wrote_at = now()

    def take_frames(self) -> list[bytes]:
        """What there is to write now, as a list of frames (``[]``: nothing): in our own
        format the hub's frames themselves, shared by every subscriber, for a writer that
        sends them by reference; counts as a write if anything."""
        frames = self.sub.take_frames()
        if frames and self._leptos:
            frames = [proto.leptos_sse_frames(b"".join(frames))]
        if frames:
            if self._retry:
                frames.insert(0, self._retry)
                self._retry = b""
            self._wrote_at = self._now()
        return frames

    def keep_alive(self) -> tuple[bytes, float]:
        """``(comment or b"", seconds until asking again)``; the comment counts as a write."""
        idle = self._now() - self._wrote_at
        if idle < self.keepalive:
            return b"", max(0.01, self.keepalive - idle)
        self._wrote_at = self._now()
        return proto.KEEP_ALIVE, self.keepalive


# -- publishing ------------------------------------------------------------------------


def declared_length_rejection(content_length: str | None, limits: Limits) -> Rejection | None:
    """A 413 for a POST whose ``Content-Length`` is already over the limit (read nothing)."""
    if content_length is not None and content_length.isdigit():
        size = int(content_length)
        if size > limits.message_bytes:
            return Rejection(413, limits.rejection("message_bytes", size))
    return None


async def publish_post(hub: SignalHub, body: bytes) -> tuple[int, bytes]:
    """A publish POST's ``(status, JSON body)``; the caller checked the secret first."""
    limit = hub.limits.message_bytes
    if len(body) > limit:
        return 413, Rejection(413, hub.limits.rejection("message_bytes", len(body))).body()
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return 400, Rejection(400, f"expected a JSON body, got invalid JSON: {exc}").body()
    replies = await payload_replies(hub, payload, len(body))
    return http_status(replies), orjson.dumps(replies)


def handle_frame(hub: SignalHub, message: str | bytes, owner: object) -> bytes:
    """Parse and apply one WebSocket message; its reply, serialised (any thread)."""
    try:
        payload = orjson.loads(message)
    except orjson.JSONDecodeError as exc:
        return _not_json(exc)
    return orjson.dumps(handle_payload(hub, payload, owner))


def _not_json(exc: orjson.JSONDecodeError) -> bytes:
    return orjson.dumps({"ok": False, "error": f"expected JSON: {exc}"})


async def reply_to_frame(
    hub: SignalHub,
    message: str | bytes,
    owner: object,
    send: Callable[[bytes], None] | None = None,
) -> bytes | None:
    """:func:`handle_frame`, off the loop as :func:`off_loop` says (a big message, or
    any behind a backplane: the loop serves on), but for a frame that
    :func:`payload_replies` commits from the loop. Its reply, or None if it went to
    ``send`` already (from the loop, as soon as Redis committed the frame).

    ``owner`` is the connection: it owns what it declares (see :func:`reap_when_gone`).
    """
    if hub.commit_executor is not None and len(message) <= OFF_LOOP_BYTES:
        try:
            payload = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            return _not_json(exc)
        sent = False

        def early(replies: Any) -> None:
            nonlocal sent
            assert send is not None
            sent = True
            send(orjson.dumps(replies))

        replies = await payload_replies(
            hub, payload, len(message), owner, early if send is not None else None
        )
        return None if sent else orjson.dumps(replies)
    return await off_loop(hub, len(message), lambda: handle_frame(hub, message, owner))


async def payload_replies(
    hub: SignalHub,
    payload: object,
    size: int,
    owner: object = None,
    early: Callable[[Any], None] | None = None,
) -> Any:
    """:func:`handle_payload`'s replies, off the loop as :func:`off_loop` says; but a
    frame (an array) of ``size`` bytes at most ``OFF_LOOP_BYTES`` behind a backplane
    that waits is committed from the loop, its one round trip awaited
    (``SignalHub.batched_on_loop``, which may hand its replies to ``early`` first),
    unless that frame needs the commit threads."""
    if isinstance(payload, list) and hub.commit_executor is not None and size <= OFF_LOOP_BYTES:
        replies = await hub.batched_on_loop(lambda m: handle_message(hub, m, owner), payload, early)
        if replies is not None:
            return replies
    return await off_loop(hub, size, lambda: handle_payload(hub, payload, owner))


def reap_when_gone(
    hub: SignalHub, owner: object, grace: float, keep: Callable[[str], bool] | None = None
) -> None:
    """Publisher connection ``owner`` closed (on the hub's loop): its signals are orphaned at
    once, and what no publisher took over within ``grace`` seconds (one that reconnects
    declares again at once) is closed, but what ``keep(name)`` keeps (asked again every
    ``grace`` seconds; the server extension keeps a living kernel's signals)."""
    hub.mark_orphaned(owner)
    loop = asyncio.get_running_loop()

    async def reap() -> None:
        # A declare that was still running in a worker thread when the connection
        # dropped made its signal ours after the mark_orphaned() above: an orphan too.
        hub.mark_orphaned(owner)
        try:
            # (behind a backplane closing is a Redis round trip: off the loop)
            await off_loop(hub, 0, lambda: hub.close_orphaned(owner, keep))
        except Exception:  # a hub that cannot close now (its backplane is away): retry
            log.exception("nb_sse_signals: closing a gone publisher's signals failed")
        # Only what is still orphaned: a signal another publisher changed meanwhile is
        # live again and no longer ours to close.
        if hub.orphaned_by(owner):
            schedule()

    def start() -> None:
        task = loop.create_task(reap())
        reaping.add(task)  # held until done: asyncio keeps only weak references to tasks
        task.add_done_callback(reaping.discard)

    def schedule() -> None:
        loop.call_later(grace, start)

    reaping: set[asyncio.Task[None]] = set()
    schedule()
