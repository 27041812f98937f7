// The leader (leader.js): one stream for the union of what every tab wants,
// relayed to the others. Real TabPools in one fake browser (fakes.js: Node has
// no Web Locks or BroadcastChannel across tabs).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fakeTabs, snapshot } from "./fakes.js";

describe("the leader", () => {
  test("a leader whose lock manager cannot list the locks opens the stream without waiting for each tab, and drops no want", async () => {
    const { open, run } = fakeTabs();
    const one = open();
    const two = open();
    for (const tab of [one, two]) Object.assign(tab.locks, { query: undefined });
    one.follow("a");
    two.follow("b");
    await run(200);
    const stream = one.stream();
    assert.deepEqual(stream?.names, ["a", "b"]);
    stream.open();
    stream.emit(snapshot("a", 0, 0), "message", "e-1");
    await run(16_000); // three roll calls, none of which can count the tabs
    assert.equal(one.stream(), stream, "the same stream: no want was dropped");
    one.pool.dispose();
    await run(300); // the new leader asks nobody which tabs exist, and waits for nobody
    assert.deepEqual(two.stream()?.names, ["b"]);
  });

  test("a roll call whose look at the locks failed looks again later: a tab that crashed still leaves the union", async () => {
    const { open, run } = fakeTabs();
    const one = open();
    const two = open();
    one.follow("a");
    two.follow("b");
    await run(200);
    assert.deepEqual(one.stream()?.names, ["a", "b"]);
    const query = one.locks.query.bind(one.locks);
    let failures = 1;
    one.locks.query = async () => {
      if (failures-- > 0) throw new Error("the lock manager is busy");
      return query();
    };
    two.crash();
    await run(16_000); // a failed look, then two in a row without two's lock
    assert.ok(failures < 0, "the first look failed");
    assert.deepEqual(one.stream()?.names, ["a"]);
  });
});
