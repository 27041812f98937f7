// A hub that restarted empty (a Jupyter server killed and started again) answers
// 404 for a signal until a new kernel declares it; a tab's view of that signal
// must come back once it exists (tests/reliability/test_jupyter_faults.py is the
// same in a real browser).
import assert from "node:assert/strict";
import { test } from "node:test";
import { fakeTabs, snapshot } from "./fakes.js";

const BASE = "http://host/";

test("a signal the hub answered 404 for is followed again, live, once the hub has it", async () => {
  const known = new Set();
  const { open, run } = fakeTabs({ base: BASE, known });
  const tab = open();
  const s = tab.follow("s");
  await run(200);
  const first = tab.stream();
  first.open();
  first.emit(snapshot("s", 3, "old"), "message", "old-9");
  await run(10);
  first.error(true); // the restarted hub: 404
  await run(200);
  assert.equal(s.status(), "error");
  known.add("s"); // a new kernel declares it
  await run(70_000); // past the pool's retry backoff
  const stream = tab.stream();
  assert.ok(stream, "the tab opens a stream for the signal again");
  assert.deepEqual(stream.names, ["s"]);
  stream.open();
  stream.emit(snapshot("s", 0, "new"), "message", "new-1");
  await run(10);
  assert.equal(s.values().at(-1), "new");
  assert.equal(s.status(), "live");
});
