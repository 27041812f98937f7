"""The publish endpoint: other processes (kernels, scripts) change signals through it.

One URL, two transports: a WebSocket (``GET`` + upgrade; persistent, what kernels
use) and ``POST`` of one message or a JSON array of them. Both need the publish
secret in ``X-Signals-Publish-Secret``; subscriber credentials are not enough.
Messages and replies are in docs/protocol.md; :func:`handle_message` is the one
place they are interpreted.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

import orjson
from tornado import websocket
from tornado.ioloop import IOLoop

from ._errors import SignalsError
from ._hub import SignalHub

log = logging.getLogger("nb_sse_signals")

SECRET_HEADER = "X-Signals-Publish-Secret"
OPEN_PUBLISHERS = "nb_sse_signals.open_publishers"


def handle_message(hub: SignalHub, message: object, owner: object = None) -> dict[str, Any]:
    """Apply one publish message (just parsed from JSON text) to ``hub``; return its reply.

    Never raises for bad input.

    ``owner`` is the connection a ``declare`` came over (see ``SignalHub.close_owned``).
    """
    if not isinstance(message, dict):
        return {"ok": False, "error": f"expected a JSON object, got {type(message).__name__}"}
    reply: dict[str, Any] = {"id": message["id"]} if "id" in message else {}
    op, name = message.get("op"), message.get("name")
    try:
        if not isinstance(name, str):
            raise SignalsError(f"expected 'name' to be a string, got {name!r}")
        if op == "patch":  # the hot path first: a publisher sends mostly patches
            base = message.get("base")
            if base is not None and type(base) is not int:
                raise SignalsError(f"expected 'base' to be an integer revision, got {base!r}")
            # Every message reaching here was parsed from JSON text just now.
            reply["rev"] = hub.patch(name, message.get("patch"), base, parsed=True)  # type: ignore[arg-type]
        elif op == "declare" or op == "set":
            if "value" not in message:
                raise SignalsError(f"expected a 'value' in a {op!r} message, got none")
            if op == "declare":
                reply["rev"] = hub.declare(name, message["value"], owner, parsed=True)
            else:
                reply["rev"] = hub.set(name, message["value"], parsed=True)
        elif op == "close":
            hub.close(name)
        elif op == "info":
            reply["signals"] = [vars(i) for i in hub.info() if i.name == name]
        else:
            raise SignalsError(
                f"expected 'op' to be one of declare, set, patch, close, info; got {op!r}"
            )
    except (SignalsError, TypeError, ValueError) as exc:
        reply.update(ok=False, error=str(exc))
        return reply
    reply["ok"] = True
    return reply


class PublishHandler(websocket.WebSocketHandler):
    """``nb-sse-signals/publish``: WebSocket or POST, guarded by the publish secret."""

    hub: SignalHub
    secret: str
    orphan_grace: float

    def initialize(self, hub: SignalHub, secret: str, orphan_grace: float = 10.0, **_: Any) -> None:
        self.hub = hub
        self.secret = secret
        self.orphan_grace = orphan_grace

    def _authorized(self) -> bool:
        given = self.request.headers.get(SECRET_HEADER, "")
        return bool(given) and hmac.compare_digest(given.encode(), self.secret.encode())

    def _refuse(self) -> None:
        self.set_status(403)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(orjson.dumps({"error": f"expected the publish secret in {SECRET_HEADER}"}))

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if not self._authorized():
            self._refuse()
            return
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        # Replies are small and a publisher waits for each: Nagle's algorithm would
        # hold one back until the previous reply's ACK.
        self.set_nodelay(True)
        # Known to the application, so a server that stops can close us
        # (tornado's close_all_connections leaves WebSockets open).
        self.application.settings.setdefault(OPEN_PUBLISHERS, set()).add(self)

    def check_origin(self, origin: str) -> bool:
        # Browsers cannot set our secret header on a WebSocket, so any caller that got
        # this far holds the secret; the origin adds nothing.
        return True

    def check_xsrf_cookie(self) -> None:
        # Authenticated by a header no browser form can send; cookies play no part.
        return None

    async def on_message(self, message: str | bytes) -> None:
        try:
            payload = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            self.write_message(orjson.dumps({"ok": False, "error": f"expected JSON: {exc}"}))
            return
        # This connection owns what it declares: if it drops and no publisher takes
        # the signals over within orphan_grace seconds (a kernel restart reconnects
        # and re-declares at once), they are closed.
        replies = _handle_payload(self.hub, payload, owner=self)
        self.write_message(orjson.dumps(replies), binary=isinstance(message, bytes))
        # Let the SSE writers run before the next frame (tornado waits for this
        # coroutine), so a fast publisher cannot fill a fast subscriber's buffer.
        await asyncio.sleep(0)

    def on_close(self) -> None:
        self.application.settings.get(OPEN_PUBLISHERS, set()).discard(self)
        hub = self.hub
        IOLoop.current().call_later(self.orphan_grace, hub.close_owned, self)

    async def post(self) -> None:
        if not self._authorized():
            self._refuse()
            return
        self.set_header("Content-Type", "application/json; charset=utf-8")
        try:
            payload = orjson.loads(self.request.body)
        except orjson.JSONDecodeError as exc:
            self.set_status(400)
            self.finish(orjson.dumps({"error": f"expected a JSON body, got invalid JSON: {exc}"}))
            return
        replies = _handle_payload(self.hub, payload)
        failed = any(not r["ok"] for r in (replies if isinstance(replies, list) else [replies]))
        self.set_status(400 if failed else 200)
        self.finish(orjson.dumps(replies))


def _handle_payload(hub: SignalHub, payload: object, owner: object = None) -> Any:
    if isinstance(payload, list):
        return [handle_message(hub, m, owner) for m in payload]
    return handle_message(hub, payload, owner)
