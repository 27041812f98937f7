"""What a notebook does with a signal, run in Pyodide (tests/test_pyodide.py) and in CPython.

``await main()`` returns what the page would have received over the widget's comm and
what the kernel saw: both runtimes must agree. The kernel's comm is stood in for only at
its boundary (``comm.create_comm``, the hook JupyterLite's kernel replaces the same way):
its ``publish_msg`` records each message instead of sending it to a page. The page's
side, a view's ``hello``, comes in through the comm's own ``handle_msg``.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from typing import Any

import comm
from comm.base_comm import BaseComm

SENT: list[dict[str, Any]] = []  # every message the kernel sent towards the page


class PageComm(BaseComm):
    def publish_msg(
        self,
        msg_type: str,
        data: Any = None,
        metadata: Any = None,
        buffers: Any = None,
        **keys: Any,
    ) -> None:
        SENT.append({"msg_type": msg_type, "comm_id": self.comm_id, "data": data})


def _no_socket(*args: Any, **kwargs: Any) -> Any:
    raise OSError("this test allows no socket (Pyodide has none)")


if sys.platform == "emscripten":
    # No socket may even be made there (CPython's own event loop needs one, so not here).
    socket.socket = _no_socket

# Values a notebook might try that cannot be published, and how they are put in.
BAD = [
    ("set", {"n": float("nan")}),
    ("set", {"n": 2**70}),
    ("set", {"n": {1, 2}}),
    ("set", {1: "one"}),
    ("set", {"s": "lone \ud800 surrogate"}),
    ("mutate", 2**64),
    ("mutate", "\udfff"),
]


async def main() -> dict[str, Any]:
    from nb_sse_signals import NotJSONError, ServerSignal, SignalsError, _codec

    s = ServerSignal("lite", {"n": 0, "items": []})
    # Now: importing ipykernel (CPython, when the signal looked for its kernel) sets its own.
    comm.create_comm = PageComm
    widget = s.widget()
    # A view that rendered says hello (anywidget's custom message), as a page would.
    widget.comm.handle_msg(
        {
            "content": {
                "comm_id": widget.comm.comm_id,
                "data": {"method": "custom", "content": {"type": "hello"}},
            }
        }
    )
    for n in range(1, 41):  # a burst: coalesced into one change
        s.set({"n": n, "items": list(range(n % 4))})
    for n in range(41, 46):  # spaced out: one change each
        await asyncio.sleep(0.05)
        s.set({"n": n, "items": [n]})
    with s.mutate() as doc:
        doc["items"].append("end")
        doc["n"] = 100
    good = s.value

    errors = []
    for how, bad in BAD:
        try:
            if how == "set":
                s.set(bad)
            else:
                with s.mutate() as doc:
                    doc["bad"] = bad
        except NotJSONError as exc:
            errors.append([how, type(exc).__name__, str(exc)])
        else:
            errors.append([how, "accepted", repr(bad)])
        if s.value != good:
            errors.append([how, "changed the value", repr(s.value)])

    if sys.platform == "emscripten":
        try:
            result_url: object = s.url
        except SignalsError as exc:
            result_url = f"SignalsError: {exc}"
    else:
        result_url = None

    # Until the page has been sent the last value (the relay paces its messages).
    for _ in range(200):
        await asyncio.sleep(0.05)
        events = [e for m in SENT if m["msg_type"] == "comm_msg" for e in _events(m)]
        if events and f'"rev":{s._sent_rev}' in events[-1][1]:
            break
    opened = [
        m for m in SENT if m["msg_type"] == "comm_open" and m["comm_id"] == widget.comm.comm_id
    ]
    state = opened[0]["data"]["state"]
    result = {
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "backend": _codec.BACKEND,
        "threads": threading.active_count(),
        "publisher_thread": s._publisher._thread is not None,
        "tornado_imported": "tornado" in sys.modules,
        "transport": s.transport,
        "value": s.value,
        "rev": s._sent_rev,
        "errors": errors,
        "url": result_url,
        "esm_bytes": len(state.get("_esm", "").encode()),
        "widget_state": {k: v for k, v in state.items() if k != "_esm"},
        "custom": [
            m["data"]["content"]
            for m in SENT
            if m["msg_type"] == "comm_msg" and m["data"].get("method") == "custom"
        ],
    }
    widget.close()
    s.close()
    return result


def _events(message: dict[str, Any]) -> list[list[str]]:
    data = message["data"] or {}
    if data.get("method") != "custom":
        return []
    content = data.get("content") or {}
    return list(content.get("events", []))
