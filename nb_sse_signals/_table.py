"""The ``%signals`` table: this process's signals as the hub sees them."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from . import _codec
from ._publisher import Publisher

_COLUMNS = ("name", "key", "rev", "subscribers", "rate /s", "url")


@dataclass
class SignalsTable:
    rows: list[tuple[Any, ...]]

    def __repr__(self) -> str:
        if not self.rows:
            return "no live signals in this process"
        cells = [_COLUMNS, *[tuple(str(c) for c in row) for row in self.rows]]
        widths = [max(len(str(row[i])) for row in cells) for i in range(len(_COLUMNS))]
        return "\n".join(
            "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in cells
        )

    def _repr_html_(self) -> str:
        if not self.rows:
            return "<p>no live signals in this process</p>"
        head = "".join(f"<th>{html.escape(c)}</th>" for c in _COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
            for row in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def signals_table(publishers: list[Publisher]) -> SignalsTable:
    rows = []
    for publisher in publishers:
        signals = publisher.signals
        messages = [_codec.dumps({"op": "info", "name": s.key}) for s in signals]
        replies = publisher.run(publisher.transport.request(messages)) if messages else []
        for signal, reply in zip(signals, replies, strict=True):
            (info,) = reply.get("signals") or [{}]
            rows.append(
                (
                    signal.name,
                    signal.key,
                    info.get("rev", "?"),
                    info.get("subscribers", "?"),
                    f"{info.get('rate', 0.0):.1f}",
                    # Never starts a server: only %signal_url NAME does.
                    signal.url if signal.served else "(this kernel, over widget comms)",
                )
            )
    return SignalsTable(rows)
