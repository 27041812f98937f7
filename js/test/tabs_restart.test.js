// A hub that restarted empty (a Jupyter server killed and started again) answers
// 404 for a signal until a new kernel declares it; a tab's view of that signal
// must come back once it exists (tests/reliability/test_jupyter_faults.py is the
// same in a real browser).
import assert from "node:assert/strict";
import { test } from "node:test";
import { TabPool } from "../src/tabs.js";
import { drain, fakeBrowser, fakeClock, fakeEventSources, fakeFetch, quietLog, snapshot } from "./fakes.js";

const BASE = "http://host/";

test(
  "a signal the hub answered 404 for is followed again, live, once the hub has it",
  async () => {
    const clock = fakeClock();
    const known = new Set();
    const { fetch } = fakeFetch((url) => {
      const names = new URL(url).searchParams.getAll("signal");
      const unknown = names.filter((n) => !known.has(n));
      if (unknown.length) return { status: 404, body: { error: `unknown signals: ${unknown.join(", ")}` } };
      return { status: 200, body: names.map((n) => snapshot(n, 0, "new")) };
    });
    const view = fakeBrowser().tab();
    const sources = fakeEventSources();
    const pool = new TabPool({
      locks: view.locks,
      BroadcastChannel: view.BroadcastChannel,
      EventSource: sources.EventSource,
      fetch,
      setTimeout: clock.setTimeout,
      clearTimeout: clock.clearTimeout,
      now: () => clock.now,
      log: quietLog(),
    });
    /** @type {any[]} */
    const events = [];
    pool.join(BASE, "s", (event) => void events.push(event));
    const run = async (/** @type {number} */ ms) => {
      for (let t = 0; t < ms; t += 10) {
        clock.tick(10);
        await drain(3);
      }
      await drain();
    };
    await run(200);
    const first = sources.live()[0];
    first.open();
    first.emit(snapshot("s", 3, "old"), "message", "old-9");
    await run(10);
    first.error(true); // the restarted hub: 404
    await run(200);
    assert.equal(events.filter((e) => e.type === "status").at(-1)?.status, "error");
    known.add("s"); // a new kernel declares it
    await run(70_000); // past the pool's retry backoff
    const stream = sources.live()[0];
    assert.ok(stream, "the tab opens a stream for the signal again");
    assert.deepEqual(stream.names, ["s"]);
    stream.open();
    stream.emit(snapshot("s", 0, "new"), "message", "new-1");
    await run(10);
    assert.equal(events.filter((e) => e.type === "value").at(-1)?.value, "new");
    assert.equal(events.filter((e) => e.type === "status").at(-1)?.status, "live");
  },
);
