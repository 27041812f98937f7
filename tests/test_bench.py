"""The benchmark suite's smoke run (``python -m bench --quick``): results, never times.

Real processes and real sockets on 127.0.0.1, as in the full run, at tiny sizes.
"""

from __future__ import annotations

import socket

import orjson
import pytest

from bench import __main__ as bench_main
from bench import (
    _redis_server,
    _sse_client,
    backplane,
    fanout,
    memory,
    package,
    patchgen,
    soak,
    throughput,
    wire,
)

from .conftest import missing

pytestmark = pytest.mark.timeout(60)


def test_patchgen_quick_patches_rebuild_the_value_and_one_append_is_one_op() -> None:
    # run() itself checks every patch with jsonpatch.apply_patch and the hub's copy.
    section = patchgen.run(quick=True)
    assert section.facts["diff_ops_100"] == 1, "an append should be one add op"
    assert section.facts["diff_ops_1000"] == 1, "an append should be one add op"
    assert len(section.rows) >= 8, "expected a row per size and measure"


def test_wire_quick_sends_fewer_bytes_than_ipywidgets() -> None:
    facts = wire.run(quick=True).facts
    assert facts["ipywidgets_bytes"] > 0, "the fake comm recorded no ipywidgets message"
    for key in ("set_frame_bytes", "mutate_frame_bytes", "set_message_bytes"):
        assert 0 < facts[key] < facts["ipywidgets_bytes"], f"{key}: {facts}"


def test_throughput_quick_delivers_every_event_in_all_four_setups() -> None:
    facts = throughput.run(quick=True).facts
    assert facts["ours_events"] == facts["ours_expected"], f"events lost: {facts}"
    assert facts["ours_snapshots"] == 0, "the subscriber was resynced"
    assert facts["asgi_events"] == facts["ours_expected"], f"ASGI events lost: {facts}"
    assert facts["asgi_snapshots"] == 0, "the ASGI subscriber was resynced"
    assert facts["flush_events"] == facts["flush_expected"], f"events lost: {facts}"
    assert facts["batch_events"] == facts["batch_expected"], f"events lost: {facts}"


def test_fanout_quick_every_client_gets_every_revision() -> None:
    facts = fanout.run(quick=True).facts
    assert facts["ours_complete"] == facts["clients"], f"a client missed a revision: {facts}"
    assert facts["bare_complete"] == facts["clients"], f"a bare client missed one: {facts}"
    assert facts["asgi_complete"] == facts["clients"], f"an ASGI client missed one: {facts}"
    assert facts["ours_samples"] > 0, "no latency was measured"


def test_soak_quick_every_client_gets_every_revision_and_memory_is_read() -> None:
    section = soak.run(quick=True)
    assert section.facts["samples"] > 0, "the hub's RSS was sampled"
    assert section.rows[0].met, section.rows[0]


def test_main_quick_prints_a_markdown_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main.main(["--quick", "--only", "patchgen"]) == 0
    out = capsys.readouterr().out
    assert "| benchmark | ours |" in out, "expected the markdown table header"
    assert "nproc" in out, "expected the machine description"


def test_backplane_quick_every_client_gets_every_revision_through_redis() -> None:
    if not _redis_server.available():
        pytest.skip(missing("redis-server", "scripts/setup.sh installs it"))
    section = backplane.run(quick=True)
    assert section.facts, section.rows[0].baseline  # the row says why it could not run
    facts = section.facts
    for setup in ("alone", "one", "two"):
        assert facts[f"{setup}_complete_20"] == facts["clients_20"], f"{setup}: {facts}"
    # At most one script per frame: one per change when each change leaves in a frame of
    # its own, fewer when a loaded machine lets the publisher batch two changes into one
    # frame; plus one for the publisher's declare (a connection that takes over a signal
    # declared elsewhere, here by the hub, commits it whole, so hubs where it was
    # orphaned see the takeover), and one for its leaving (stale on every hub).
    calls, most = facts["script_calls_20"], facts["updates_20"] + 2
    assert most // 2 < calls <= most, f"expected at most one script per change, got {calls}"


def test_package_quick_reports_the_esm_every_widget_ships() -> None:
    from pathlib import Path

    section = package.run(quick=True)
    widget_js = Path(__file__).resolve().parents[1] / "nb_sse_signals" / "static" / "widget.js"
    assert section.facts["esm_bytes"] == len(widget_js.read_bytes())


def test_the_bundles_are_built_in_the_language_the_sources_are_checked_in() -> None:
    # An older esbuild target rewrites every #private member into WeakMap helper calls:
    # 7 kB more in each widget's _esm (56.2 kB at es2020, 49.2 kB at es2022).
    import json
    import re
    from pathlib import Path

    js = Path(__file__).resolve().parents[1] / "js"
    build = json.loads((js / "package.json").read_text())["scripts"]["build"]
    tsconfig = json.loads((js / "tsconfig.json").read_text())
    targets = re.findall(r"--target=(\S+)", build)
    assert targets == [tsconfig["compilerOptions"]["target"].lower()], build
    widget_js = (js.parent / "nb_sse_signals" / "static" / "widget.js").read_text()
    assert "private member" not in widget_js, "the bundle carries esbuild's #private helpers"


def test_memory_quick_holds_every_idle_replaying_and_stuck_connection() -> None:
    facts = memory.run(quick=True).facts
    for mode in ("idle", "replay", "stuck"):
        assert facts[f"{mode}_ready"] == facts["clients"], f"{mode}: {facts}"


def test_the_fanout_client_times_published_values_not_a_takeover_declare() -> None:
    # A publisher taking its signal over declares the initial value whole again ({"t":
    # 0}): a delivery, but never published at a time. Timed, it read as a p99 of
    # 1,796,642,360,052 ms at 10,000 clients (now minus 1970).
    def event(rev: int, ops: list[dict[str, object]]) -> bytes:
        data = orjson.dumps({"name": "s", "rev": rev, "patch": ops})
        return b"id: e-%d\ndata: %b\n\n" % (rev, data)

    initial = [{"op": "replace", "path": "", "value": {"t": 0, "n": 0}}]
    latencies: list[float] = []
    ours, theirs = socket.socketpair()
    with ours, theirs:
        fan = _sse_client._Fan(ours, 2, latencies)
        fan.feed(b"HTTP/1.0 200 OK\r\n\r\n" + event(1, initial), 100.0)  # the snapshot
        fan.feed(event(2, initial), 101.0)  # the takeover's declare
        published = [{"op": "replace", "path": "/t", "value": 99.5}]
        fan.feed(event(3, [*published, {"op": "replace", "path": "/n", "value": 2}]), 100.0)
    assert latencies == [0.5], "only the published value is timed"
    assert (fan.done, fan.gaps, fan.resyncs) == (True, 0, 0)
