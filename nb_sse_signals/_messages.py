"""Publish messages, interpreted: the one place a ``declare``/``set``/``patch``/``close``/
``info`` message becomes a call on the hub (docs/protocol.md, "Publishing").

Transport-agnostic: the publish endpoint (WebSocket or POST) and the in-process
transport of a publisher that owns its hub both hand parsed JSON here.
"""

from __future__ import annotations

from typing import Any

from ._errors import SignalsError
from ._hub import SignalHub

__all__ = ["handle_message", "handle_payload", "http_status"]


def handle_message(hub: SignalHub, message: object, owner: object = None) -> dict[str, Any]:
    """Apply one publish message (just parsed from JSON text) to ``hub``; return its reply.

    Never raises for bad input.

    ``owner`` is the connection a ``declare`` came over (see ``SignalHub.close_orphaned``).
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
            reply["rev"] = hub.close(name)
        elif op == "info":
            reply["signals"] = [vars(i) for i in hub.info(name)]
        else:
            raise SignalsError(
                f"expected 'op' to be one of declare, set, patch, close, info; got {op!r}"
            )
    except (SignalsError, TypeError, ValueError) as exc:
        reply.update(ok=False, error=str(exc))
        return reply
    reply["ok"] = True
    return reply


def handle_payload(hub: SignalHub, payload: object, owner: object = None) -> Any:
    """One message, or a JSON array of them: its reply, or the list of their replies
    (one per message, in order; an empty array gets an empty one).

    The messages of an array are applied one by one, in order, each on its own: a
    rejected one changes nothing and the others still apply (each reply says which).
    """
    if isinstance(payload, list):
        # One frame's changes in one round trip to a backplane (in order, as one by one).
        return hub.batched(lambda m: handle_message(hub, m, owner), payload)
    return handle_message(hub, payload, owner)


def http_status(replies: Any) -> int:
    """The HTTP status of a ``POST`` answered with ``replies`` (``handle_payload``'s).

    An array is answered ``200`` whatever its replies say: its messages apply one by
    one, so some may have changed the hub while others were rejected, and an error
    status would say nothing changed. A single message rejected changed nothing: ``400``.
    """
    if isinstance(replies, list):
        return 200
    return 200 if replies.get("ok") else 400
