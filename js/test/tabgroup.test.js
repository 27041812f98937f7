// What a tab makes of the other tabs' messages (tabgroup.js): which leader it
// follows, by term and id. Real TabPools in one fake browser (fakes.js: Node has
// no Web Locks or BroadcastChannel across tabs); a channel of a tab of its own
// plays a tab whose messages the test writes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TabPool } from "../src/tabs.js";
import { drain, fakeBrowser, fakeClock, fakeEventSources, fakeFetch, fakeTabs, quietLog, snapshot } from "./fakes.js";

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

  test("a tab about to be frozen that hears a new leader stays out of the union until it resumes", async () => {
    const { open, run, one, two } = await twoTabs();
    const three = open();
    three.follow("b");
    await run(200);
    two.pool.freeze(); // the freeze event: the page runs a little longer, and hears the tabs
    await run();
    one.pool.dispose(); // the lock goes to three, whose first word reaches two
    await run(200);
    assert.ok(three.leading());
    assert.equal(two.group().leaderId, three.group().tabId, "two heard the new leader");
    assert.deepEqual([...three.group().wants.keys()], [three.group().tabId], "two wants nothing while frozen");
    assert.deepEqual(three.stream().names, ["b"]);
    two.pool.resume();
    await run(200);
    assert.ok(three.group().wants.has(two.group().tabId), "back, it wants a again");
    assert.deepEqual(three.stream().names, ["a", "b"]);
  });
});

describe("a tab's roles", () => {
  test("a take-over whose steal crosses the lock's own grant leaves one leader in the tab: the first one's stream ends", async () => {
    const { run, one, two } = await twoTabs();
    // The lock manager is another process: the steal may reach it after it granted
    // the lock to this very tab, whose queued request came first.
    const late = two.late((/** @type {string} */ _name, /** @type {{ steal?: boolean }} */ options) => Boolean(options.steal));
    one.freeze();
    await run(2_000 + 2_000 + 100); // two pings, hears nothing, and steals
    assert.equal(late.length, 1, "two is stealing the lock");
    one.crash(); // meanwhile the frozen tab is discarded: the lock comes to two
    await run(200);
    assert.ok(two.leading());
    const first = two.stream();
    late.shift()?.(); // the steal, at last: from two itself
    await run(200);
    assert.ok(two.leading());
    assert.equal(first.readyState, 2, "the first leader's stream is closed");
    assert.equal(two.sources.live().length, 1, "one stream: one leader");
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

describe("what a tab has, across a hand-over", () => {
  // Two tabs follow a, the first leading; the first follows b too, whose snapshot the
  // second has not: the second's want asks for it, the leader's batch has not ended.
  async function secondJoinsB() {
    const tabs = await twoTabs();
    const { run, one, two } = tabs;
    one.follow("b");
    await run(200);
    const stream = one.stream();
    stream.open();
    stream.emit(snapshot("a", 0, 0));
    stream.emit(snapshot("b", 0, "bee"), "message", "e-1");
    await run();
    const b2 = two.follow("b");
    await run(70); // the pool opened its source of a and b; the leader's batch has not ended
    return { ...tabs, b2 };
  }

  for (const [what, type, data] of /** @type {const} */ ([
    ["a stale event", "stale", { name: "b", rev: 0 }],
    ["a change that is not a whole value", "message", { name: "b", rev: 1, patch: [{ op: "add", path: "/x", value: 1 }] }],
  ])) {
    test(`a tab that heard only ${what} of a signal when its leader went away gets its snapshot from the next leader`, async () => {
      const { run, one, two, b2 } = await secondJoinsB();
      one.stream().emit(data, type, type === "message" ? "e-2" : undefined);
      await run();
      one.pool.dispose(); // before its batch reopened the stream for two's snapshot of b
      await run(200);
      assert.ok(two.leading());
      const stream = two.stream();
      assert.deepEqual(stream.names, ["a", "b"]);
      assert.doesNotMatch(stream.url, /lastEventId/, "snapshots: this tab has no value of b");
      stream.open();
      stream.emit(snapshot("a", 2, 2));
      stream.emit(snapshot("b", 2, "bee 2"), "message", "e-3");
      await run();
      assert.equal(b2.values().at(-1), "bee 2");
    });
  }

  test("a tab whose signal closed before its leader went away does not make the next leader start over from snapshots", async () => {
    const { run, one, two, b2 } = await secondJoinsB();
    await run(200); // the leader reopens: the hub answers for b, closed, with its closed event
    const reopened = one.stream();
    assert.doesNotMatch(reopened.url, /lastEventId/);
    reopened.open();
    reopened.emit(snapshot("a", 0, 0));
    reopened.emit({ name: "b", rev: 0 }, "closed", "e-2");
    await run();
    assert.equal(b2.status(), "closed");
    one.pool.dispose();
    await run(200);
    assert.ok(two.leading());
    assert.match(two.stream().url, /lastEventId=e-2/, "both its names have had their value: resume");
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

describe("a tab's own ends", () => {
  for (const end of /** @type {const} */ (["dispose", "freeze"])) {
    test(`a leader that goes away (${end}) says goodbye: its followers show their widgets stale at once, before a new leader speaks`, async () => {
      const { open, run, shared, one, two } = await twoTabs();
      const three = open();
      const a3 = three.follow("a");
      await run(200);
      one.stream().emit(change("a", 1, 1), "message", "e-1");
      await run();
      assert.equal(a3.status(), "live");
      shared.hold(two.view, three.view); // the next leader's word is slow to reach three
      one.pool[end]();
      await run();
      assert.ok(two.leading());
      assert.equal(a3.status(), "stale", "its leader said goodbye");
      shared.release(two.view, three.view);
      await run(200);
      assert.equal(three.group().leaderId, two.group().tabId);
      two.stream().open();
      two.stream().emit(change("a", 2, 2), "message", "e-2");
      await run();
      assert.equal(a3.status(), "live");
      assert.equal(a3.values().at(-1), 2);
    });
  }

  test("a tab frozen twice in a row (pagehide, then the freeze event) says its goodbye once", async () => {
    const { run, overheard, two } = await twoTabs();
    const heard = overheard();
    two.pool.freeze();
    two.pool.freeze();
    await run();
    const from = two.group().tabId;
    assert.deepEqual(
      heard.filter((m) => m.from === from),
      [{ t: "want", from, names: [], need: [], cursor: "" }],
    );
  });

  test("a tab gone away says nothing more, and logs no fault: not when it is disposed again, nor when its widgets leave", async () => {
    const { run, overheard, one, two, a2 } = await twoTabs();
    const a1 = one.follow("b"); // the leader's own widgets leave too
    await run(200);
    const heard = overheard();
    for (const tab of [one, two]) {
      tab.pool.dispose();
      tab.pool.dispose(); // pagehide, then the page's own clean-up
    }
    await run();
    const count = heard.length;
    assert.deepEqual(
      heard.map((m) => m.t),
      ["bye", "want"],
      "each its one goodbye",
    );
    a1.leave();
    a2.leave();
    await run(200);
    assert.equal(heard.length, count);
    for (const tab of [one, two]) assert.deepEqual(tab.log.lines, []);
  });

  test("a tab going away while its take-over of a frozen leader is in flight steals nothing: the leader, once thawed, still leads", async () => {
    const { run, one, two } = await twoTabs();
    // The lock manager answers a request in a task of its own: the tab may go away before.
    let asked = false;
    two.onGrant(
      (/** @type {string} */ name) => name.endsWith(" take-over"),
      () => {
        asked = true;
        two.pool.dispose();
      },
    );
    one.freeze();
    await run(2_000 + 2_000 + 100); // two pings, hears nothing, and asks for the take-over lock
    assert.ok(asked);
    assert.ok(!two.log.lines.some((line) => /taking over/.test(line)), two.log.lines.join("\n"));
    one.thaw();
    await run();
    assert.ok(one.leading(), "its lock was not stolen");
    assert.equal(one.stream()?.readyState, 1, "nor its stream closed");
  });

  test("a tab back from a freeze asks at once who leads: it follows a leader that took over meanwhile before any batch of wants ends", async () => {
    const { open, run, one, two } = await twoTabs();
    const three = open();
    three.follow("a");
    await run(200);
    three.pool.freeze();
    three.freeze(); // frozen: it hears nothing
    one.pool.dispose();
    await run(200);
    assert.ok(two.leading());
    three.thaw();
    three.pool.resume();
    await run(); // no timer runs: the leader's batch of wants has not ended
    assert.equal(three.group().leaderId, two.group().tabId);
  });

  test("a tab that goes away leaves nothing running: neither its leader's stream nor its follower's timers", async () => {
    const { run, one, two } = await twoTabs();
    two.pool.dispose();
    await run();
    let timers = two.timersSet();
    await run(10_000); // several of the follower's watches, had it any left
    assert.equal(two.timersSet(), timers);
    one.pool.dispose();
    await run();
    assert.equal(one.stream(), null);
    timers = one.timersSet();
    await run(10_000); // nor does the leader, once its lock has gone, become a follower
    assert.equal(one.timersSet(), timers);
  });

  test("a leader that freezes has no role until it resumes: no stream, no follower's timers", async () => {
    const { open, run, one } = await twoTabs();
    const three = open();
    three.follow("a");
    await run(200);
    one.pool.freeze(); // and its page runs a little longer: its timers would too
    await run();
    assert.equal(one.stream(), null);
    const timers = one.timersSet();
    await run(10_000);
    assert.equal(one.timersSet(), timers);
    assert.ok(!one.leading());
  });

  test("a resume() with no freeze before it changes nothing: the widgets stay live", async () => {
    const { run, two, a2 } = await twoTabs();
    const statuses = a2.statuses().length;
    two.pool.resume(); // e.g. a pageshow that is not from the back-forward cache
    await run(200);
    assert.deepEqual(a2.statuses().slice(statuses), [], "no stale, nothing asked again");
    assert.equal(a2.status(), "live");
  });

  test("a tab whose channel refuses its messages says so in the log, and shows its own widgets all the same", async () => {
    const clock = fakeClock();
    const view = fakeBrowser().tab();
    // A browser may throw on postMessage (a closed or broken channel): Node has no
    // BroadcastChannel across tabs, so the fake's is made to throw.
    class Refusing extends view.BroadcastChannel {
      postMessage() {
        throw Object.assign(new Error("refused"), { name: "InvalidStateError" });
      }
    }
    const sources = fakeEventSources();
    const log = quietLog();
    const { fetch } = fakeFetch(() => ({ status: 200, body: [] }));
    const pool = new TabPool({
      locks: view.locks,
      BroadcastChannel: /** @type {any} */ (Refusing), // (the fake's class is untyped)
      EventSource: sources.EventSource,
      fetch,
      setTimeout: clock.setTimeout,
      clearTimeout: clock.clearTimeout,
      now: () => clock.now,
      log,
    });
    /** @type {unknown[]} */
    const values = [];
    pool.join("http://host/", "a", (event) => void (event.type === "value" && values.push(event.value)));
    for (let t = 0; t < 20; t++) {
      clock.tick(10);
      await drain(3);
    }
    const [stream] = sources.live();
    assert.deepEqual(stream?.names, ["a"], "it leads alone");
    stream.open();
    stream.emit(snapshot("a", 0, "zero"), "message", "e-0");
    await drain();
    assert.deepEqual(values, ["zero"]);
    assert.ok(log.lines.some((line) => line.startsWith("[nb_sse_signals] cannot post to the other tabs: InvalidStateError")), log.lines.join("\n"));
    pool.dispose();
  });
});

describe("which sources a tab opens", () => {
  test("a widget that joins while the leader's stream is connecting: its source opens when the stream does, not before", async () => {
    const { open, run } = fakeTabs();
    const one = open();
    one.follow("a");
    await run(200);
    const two = open();
    two.follow("b");
    await run(200); // the leader opened a stream of a and b: connecting
    assert.equal(two.group().streamStatus, "connecting");
    assert.deepEqual(two.group().streamNames, ["a", "b"]);
    const a2 = two.follow("a");
    await run(200);
    const source = () => [...two.group().sources][0];
    assert.deepEqual(source().names, ["a", "b"]);
    assert.equal(source().readyState, 0, "as a browser's EventSource would be: connecting");
    assert.notEqual(a2.status(), "live");
    one.stream().open();
    one.stream().emit(snapshot("a", 0, 0));
    one.stream().emit(snapshot("b", 0, 0), "message", "e-0");
    await run();
    assert.equal(source().readyState, 1);
    assert.equal(a2.status(), "live");
  });

  test("a source whose names the leader's live stream covers only in part waits for the stream that covers them all", async () => {
    const { open, run, one } = await twoTabs();
    const three = open();
    await run(); // it hears the leader's state: live, of a
    const a3 = three.follow("a");
    const b3 = three.follow("b"); // one source of a and b: the live stream has only a
    await run(70); // the pool opened its source, the leader's batch has not ended
    assert.equal(three.group().sources.size, 1);
    assert.deepEqual([...three.group().sources][0].names, ["a", "b"]);
    assert.deepEqual(three.group().streamNames, ["a"]);
    assert.equal([...three.group().sources][0].readyState, 0, "not open: b is not in the stream");
    assert.notEqual(a3.status(), "live");
    assert.notEqual(b3.status(), "live");
    await run(200);
    one.stream().open();
    one.stream().emit(snapshot("a", 0, 0));
    one.stream().emit(snapshot("b", 0, 0), "message", "e-1");
    await run();
    assert.deepEqual([a3.status(), b3.status()], ["live", "live"]);
  });
});
