"""The shared client-rule vectors (tests/vectors/client_rules.json) against SignalState.

js/test/vectors.test.js runs the same file against the browser's Signal, so the
Python follower and the JS client recover from the same events in the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nb_sse_signals._protocol import Change, Refused, parse_change, parse_snapshots
from nb_sse_signals._signal_state import SignalState

VECTORS = json.loads((Path(__file__).parent / "vectors" / "client_rules.json").read_text())


def as_change(message: dict[str, Any]) -> Change:
    return parse_change(json.dumps(message))


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_client_rule_vector(case: dict[str, Any]) -> None:
    state = SignalState("s")
    shown: list[int] = []
    last: tuple[int, Any] = (-1, None)
    for index, step in enumerate(case["steps"]):
        where = f"step {index} {json.dumps(step)}"
        if "message" in step:
            state.receive(as_change(step["message"]))
        elif "closed" in step:
            state.close(step["closed"])
        elif "stale" in step:
            state.mark_orphaned(step["stale"])
        elif "refused" in step:
            state.refuse(Refused("s", step["refused"]["rev"], step["refused"]["error"]))
        elif step.get("unreadable"):
            state.resync("a message could not be read")
        elif "answer" in step or step.get("answer_fails"):
            assert state.wants_snapshot is not None, f"{where}: a snapshot should be wanted"
            if "answer" in step:
                # As the follower takes it: one item of the snapshot endpoint's array.
                (found,) = parse_snapshots(json.dumps([step["answer"]]))
                state.answer(found)
            else:
                state.fetch_failed()
        else:
            pytest.fail(f"{where}: unknown step")
        now = (state.rev, json.dumps(state.value, sort_keys=True))
        if state.rev >= 0 and now != last:
            shown.append(state.rev)
            last = now
        expect = step.get("expect", {})
        if "value" in expect:
            assert state.value == expect["value"], f"{where}: value"
        if "rev" in expect:
            assert state.rev == expect["rev"], f"{where}: rev"
        if "state" in expect:
            assert state.state == expect["state"], f"{where}: state"
        if "fetching" in expect:
            assert (state.wants_snapshot is not None) == expect["fetching"], f"{where}: fetching"
    assert shown == case["shown"], "the revisions shown, in order"


def test_a_change_of_type_is_a_change_of_value() -> None:
    # json.dumps above compares type-strictly; the state itself must too.
    state = SignalState("s")
    state.receive(
        as_change({"name": "s", "rev": 0, "patch": [{"op": "replace", "path": "", "value": 1}]})
    )
    assert state.snapshot(
        as_change({"name": "s", "rev": 0, "patch": [{"op": "replace", "path": "", "value": True}]})
    )
    assert state.value is True
