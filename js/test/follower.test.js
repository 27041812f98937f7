// The follower's watchdog (follower.js): a leader that holds the lock but no
// longer runs is noticed and replaced. Real TabPools in one fake browser
// (fakes.js: Node has no Web Locks or BroadcastChannel across tabs).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fakeTabs, snapshot } from "./fakes.js";

describe("the follower's watchdog", () => {
  test("of two followers of a frozen leader, if the one taking over crashes as it does, the other takes over after all", async () => {
    const { open, run } = fakeTabs();
    const one = open();
    const two = open();
    const three = open();
    /** @type {any} */
    let first = null;
    for (const tab of [two, three]) {
      tab.onGrant(
        (/** @type {string} */ name) => name.endsWith(" take-over"),
        () => {
          first ??= tab;
          if (first === tab) tab.crash(); // it dies holding the take-over lock: the lock goes, nothing else happens
        },
      );
    }
    one.follow("a");
    two.follow("a");
    three.follow("a");
    await run(200);
    one.stream().open();
    one.stream().emit(snapshot("a", 0, 0), "message", "e-1");
    await run();
    one.freeze();
    await run(2_000 + 2_000 + 100);
    assert.ok(first, "a follower asked for the take-over lock");
    const other = first === two ? three : two;
    assert.ok(!other.leading(), "the other found the take-over lock taken");
    await run(2_000 + 2_000 + 100); // it watches again: pings, hears nothing, takes over
    assert.ok(other.leading(), "the frozen leader is replaced all the same");
    assert.match(other.log.lines.join("\n"), /taking over/);
  });

  test("a follower hearing a stream of frames sets no timer per frame: its watchdog looks back when it fires", async () => {
    const { open, run } = fakeTabs();
    const one = open();
    const two = open();
    one.follow("a");
    const a2 = two.follow("a");
    await run(200);
    const stream = one.stream();
    stream.open();
    stream.emit(snapshot("a", 0, 0), "message", "e-0");
    await run(10);
    const before = two.timersSet();
    for (let rev = 1; rev <= 100; rev++) {
      stream.emit({ name: "a", rev, patch: [{ op: "replace", path: "", value: rev }] }, "message", `e-${rev}`);
      await run(10);
    }
    assert.equal(a2.values().at(-1), 100);
    assert.ok(two.timersSet() - before <= 2, `${two.timersSet() - before} timers for 100 frames in one second`);
  });
});
