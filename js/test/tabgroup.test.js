// What a tab makes of the other tabs' messages (tabgroup.js): which leader it
// follows, by term and id. Real TabPools in one fake browser (fakes.js: Node has
// no Web Locks or BroadcastChannel across tabs); a channel of a tab of its own
// plays a tab whose messages the test writes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fakeTabs, snapshot } from "./fakes.js";

const change = (/** @type {string} */ name, /** @type {number} */ rev, /** @type {unknown} */ value) => ({
  name,
  rev,
  patch: [{ op: "replace", path: "", value }],
});

/** Two tabs following "a", the first leading, its stream live with a snapshot of 0. */
async function twoTabs() {
  const tabs = fakeTabs();
  const one = tabs.open();
  const two = tabs.open();
  one.follow("a");
  const a2 = two.follow("a");
  await tabs.run(200);
  one.stream().open();
  one.stream().emit(snapshot("a", 0, 0), "message", "e-0");
  await tabs.run();
  return { ...tabs, one, two, a2 };
}

describe("which leader a tab follows", () => {
  test("a leader that lost the lock and won it again is followed at its new term: its frames of the old one are ignored", async () => {
    const { run, channel, one, two, a2 } = await twoTabs();
    const group = two.group();
    const { term, leaderId } = group;
    const rival = channel(); // plays the same tab after it won the lock again
    rival.postMessage({ t: "state", term: term + 1, from: leaderId, status: "connecting", names: ["a"], unknown: [] });
    await run();
    assert.equal(group.term, term + 1, "the newer term is adopted");
    one.stream().emit(change("a", 1, "old term"), "message", "e-1"); // relayed at the old term
    await run();
    assert.deepEqual(a2.values(), [0], "nothing of the old term is taken");
    rival.close();
  });

  test("a new leader's first frame is taken, even before it said anything of its stream", async () => {
    const { run, channel, two, a2 } = await twoTabs();
    const group = two.group();
    const rival = channel(); // a newer leader, whose state is slow to come
    const from = "z".repeat(12);
    rival.postMessage({ t: "frame", term: group.term + 1, from, type: "message", data: JSON.stringify(snapshot("a", 5, "new")), id: "e-5" });
    await run();
    assert.equal(group.leaderId, from);
    assert.equal(a2.values().at(-1), "new");
    assert.equal(group.cursor, "e-5");
    rival.close();
  });

  test("a new leader's term is past every term its followers have seen, even one ahead of its clock", async () => {
    const { open, run, channel, one, two, clock } = await twoTabs();
    const three = open();
    const a3 = three.follow("a");
    await run(200);
    // A term from a tab whose clock runs ahead (or before ours was set back).
    const ahead = clock.now + 60_000;
    const rival = channel();
    rival.postMessage({ t: "state", term: ahead, from: "z".repeat(12), status: "closed", names: [], unknown: [] });
    await run();
    assert.equal(three.group().term, ahead);
    rival.close();
    one.pool.dispose(); // the lock goes to two, whose term must outdo `ahead`
    await run(200);
    assert.ok(two.leading());
    assert.ok(two.group().term > ahead);
    assert.equal(three.group().leaderId, two.group().tabId, "three follows the new leader");
    const stream = two.stream();
    stream.open();
    stream.emit(snapshot("a", 7, "seven"), "message", "e-7");
    await run();
    assert.equal(a3.values().at(-1), "seven");
  });
});

describe("a tab between roles", () => {
  test("a tab about to be frozen takes its leader's goodbye without fault, and follows again once resumed", async () => {
    const { run, one, two, a2 } = await twoTabs();
    two.pool.freeze(); // the freeze event: it leaves its role, but the page runs a little longer
    await run();
    one.pool.dispose(); // and hears the leader's bye
    await run(200);
    assert.ok(!two.leading(), "a frozen tab takes no lead");
    two.pool.resume();
    await run(200);
    assert.ok(two.leading(), "resumed, it is the only tab left: it leads");
    two.stream().open();
    two.stream().emit(snapshot("a", 3, "three"), "message", "e-3");
    await run();
    assert.equal(a2.values().at(-1), "three");
  });
});

describe("what a tab has", () => {
  test("a signal a tab left and follows again is asked for afresh: its snapshot, not a replay from the cursor", async () => {
    const { run, one, two } = await twoTabs();
    const b = two.follow("b");
    await run(200);
    let stream = one.stream();
    stream.open();
    stream.emit(snapshot("a", 0, 0));
    stream.emit(snapshot("b", 0, "bee"), "message", "e-1");
    await run();
    assert.equal(b.values().at(-1), "bee");
    b.leave();
    await run(200);
    assert.deepEqual(one.stream().names, ["a"]);
    one.stream().open();
    one.stream().emit({ name: "a", rev: 1, patch: [{ op: "replace", path: "", value: 1 }] }, "message", "e-2");
    await run();
    const again = two.follow("b"); // b changed meanwhile, and this tab heard nothing of it
    await run(200);
    stream = one.stream();
    assert.deepEqual(stream.names, ["a", "b"]);
    assert.doesNotMatch(stream.url, /lastEventId/, "a snapshot of b: this tab no longer has it");
    stream.open();
    stream.emit(snapshot("a", 1, 1));
    stream.emit(snapshot("b", 4, "bee 4"), "message", "e-9");
    await run();
    assert.equal(again.values().at(-1), "bee 4");
    assert.equal(again.status(), "live");
  });
});

describe("what a tab shows of its leader's stream", () => {
  test("a tab back from the back-forward cache shows its widgets stale at once, then their fresh snapshots", async () => {
    const { run, one, two, a2 } = await twoTabs();
    two.pool.freeze();
    await run(200);
    two.pool.resume();
    assert.equal(a2.status(), "stale", "what it shows may have missed changes");
    await run(200);
    const stream = one.stream();
    stream.open();
    stream.emit(snapshot("a", 2, 2), "message", "e-2");
    await run();
    assert.equal(a2.status(), "live");
    assert.equal(a2.values().at(-1), 2);
  });
});
