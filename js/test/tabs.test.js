import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConnectionPool } from "../src/connection.js";
import { TabPool, groupName, tabsOrPage } from "../src/tabs.js";
import { fakeBrowser, fakeEventSources, fakeTabs, quietLog, snapshot } from "./fakes.js";

const BASE = "http://host/user/a/";
const change = (/** @type {string} */ name, /** @type {number} */ rev, /** @type {unknown} */ value) => ({
  name,
  rev,
  patch: [{ op: "replace", path: "/v", value }],
});

/** Tabs of one browser (fakes.js); the hub knows the names in `known`. */
const browser = (known = new Set(["a", "b", "c"])) => fakeTabs({ base: BASE, known });

describe("tabs share one connection", () => {
  test("the first tab is elected and holds the only stream; the others follow it through the channel", async () => {
    const { open, run, streams } = browser();
    const one = open();
    const two = open();
    const a1 = one.follow("a");
    const a2 = two.follow("b");
    await run(200);
    assert.ok(one.leading());
    assert.ok(!two.leading());
    assert.equal(streams().length, 1, "one EventSource for the whole browser");
    const stream = one.stream();
    assert.deepEqual(stream?.names, ["a", "b"], "the union of both tabs' names");
    stream.open();
    stream.emit(snapshot("a", 0, { v: 1 }));
    stream.emit(snapshot("b", 5, { v: "bee" }), "message", "e-10");
    await run();
    assert.deepEqual(a1.values(), [{ v: 1 }]);
    assert.deepEqual(a2.values(), [{ v: "bee" }]);
    assert.equal(a1.status(), "live");
    assert.equal(a2.status(), "live");
    stream.emit(change("b", 6, "b6"), "message", "e-11");
    await run();
    assert.deepEqual(a2.revs(), [5, 6]);
    assert.equal(two.pool.groups[0].cursor, "e-11", "every tab keeps the last cursor");
  });

  test("joins and leaves in other tabs reopen the shared stream once per burst; a leave resumes from the cursor", async () => {
    const { open, run } = browser();
    const one = open();
    one.follow("a");
    await run(200);
    const first = one.stream();
    first?.open();
    first?.emit(snapshot("a", 0, { v: 0 }), "message", "e-1");
    const two = open();
    const b = two.follow("b");
    const c = two.follow("c");
    await run(200);
    const second = one.stream();
    assert.notEqual(second, first);
    assert.deepEqual(second?.names, ["a", "b", "c"], "both joins of tab two in one reopen");
    assert.doesNotMatch(second?.url ?? "", /lastEventId/, "new names need snapshots: no cursor");
    second?.open();
    second?.emit(snapshot("b", 0, { v: 0 }));
    second?.emit(snapshot("c", 0, { v: 0 }), "message", "e-2");
    await run();
    b.leave();
    await run(200);
    const third = one.stream();
    assert.deepEqual(third?.names, ["a", "c"]);
    assert.match(third?.url ?? "", /lastEventId=e-2/, "a leave loses nothing: resume after the cursor");
    c.leave();
    await run(200);
    assert.deepEqual(one.stream()?.names, ["a"]);
  });

  test("widgets that trickle in long after the election still open one stream", async () => {
    const { open, run, streams } = browser();
    const one = open();
    one.follow("a"); // the group (and the election) starts with the first widget...
    await run(900); // ...whose module import may take most of a second
    const first = one.stream();
    for (const name of ["b", "c"]) {
      one.follow(name);
      await run(40);
    }
    await run(200);
    assert.equal(one.sources.instances.length, 2, "one stream for a, one reopen for the burst of b and c");
    assert.notEqual(one.stream(), first);
    assert.deepEqual(one.stream()?.names, ["a", "b", "c"]);
    assert.equal(streams().length, 1);
  });

  test("a tab that joins late gets the current value of a signal the stream already carries", async () => {
    const { open, run } = browser();
    const one = open();
    const early = one.follow("a");
    await run(200);
    let stream = one.stream();
    stream?.open();
    stream?.emit(snapshot("a", 3, { v: 3 }), "message", "e-3");
    stream?.emit(change("a", 4, 4), "message", "e-4");
    await run();
    const two = open();
    const late = two.follow("a");
    await run(200);
    const first = stream;
    stream = one.stream();
    assert.notEqual(stream, first, "reopened for the newcomer");
    assert.doesNotMatch(stream?.url ?? "", /lastEventId/, "a snapshot for the newcomer");
    stream?.open();
    stream?.emit(snapshot("a", 4, { v: 4 }), "message", "e-4");
    await run();
    assert.deepEqual(late.values(), [{ v: 4 }]);
    assert.equal(late.status(), "live");
    assert.deepEqual(early.revs(), [3, 4], "the tab that had revision 4 sees no change");
  });

  test("when the tab holding the stream closes, the next takes over and resumes from the last cursor", async () => {
    const { open, run, streams } = browser();
    const one = open();
    const two = open();
    const three = open();
    one.follow("a");
    const a2 = two.follow("a");
    const b3 = three.follow("b");
    await run(200);
    const stream = one.stream();
    stream?.open();
    stream?.emit(snapshot("a", 0, { v: 0 }));
    stream?.emit(snapshot("b", 0, { v: 0 }), "message", "e-1");
    stream?.emit(change("a", 1, 1), "message", "e-2");
    await run();
    one.crash();
    await run();
    assert.equal(a2.status(), "stale", "a follower whose leader is gone says so");
    assert.equal(b3.status(), "stale");
    await run(200);
    const leaders = [two, three].filter((tab) => tab.leading());
    assert.equal(leaders.length, 1, "exactly one successor");
    assert.equal(streams().length, 1);
    const next = /** @type {NonNullable<ReturnType<typeof leaders[0]["stream"]>>} */ (leaders[0].stream());
    assert.deepEqual(next.names, ["a", "b"], "the union of the tabs still there");
    assert.match(next.url, /lastEventId=e-2/, "resume after the last cursor relayed");
    next.open();
    // The hub replays what the dead leader never relayed.
    next.emit(change("a", 2, 2), "message", "e-3");
    next.emit(change("b", 1, 1), "message", "e-4");
    await run();
    assert.deepEqual(a2.revs(), [0, 1, 2], "contiguous revisions across the hand-over");
    assert.deepEqual(a2.statuses().slice(-2), ["stale", "live"]);
    assert.equal(b3.status(), "live");
  });

  test("a hand-over resumes from the cursor of the tab that got least of the old leader's last frames", async () => {
    const { open, run, shared } = browser();
    const one = open();
    const two = open();
    const three = open();
    one.follow("a");
    const a2 = two.follow("a");
    const a3 = three.follow("a");
    await run(200);
    const stream = one.stream();
    stream?.open();
    stream?.emit(snapshot("a", 0, { v: 0 }), "message", "e-1");
    stream?.emit(change("a", 1, 1), "message", "e-2");
    await run();
    // The old leader's last frame reaches two, and reaches three only after two's
    // first message as leader: three, already following two, ignores it.
    shared.hold(one.view, three.view);
    stream?.emit(change("a", 2, 2), "message", "e-3");
    await run();
    one.crash();
    await run(20);
    assert.ok(two.leading());
    shared.release(one.view, three.view);
    await run(200);
    assert.equal(two.pool.groups[0].cursor, "e-3");
    assert.equal(three.pool.groups[0].cursor, "e-2", "three never took the old leader's last frame");
    const next = two.stream();
    assert.match(next?.url ?? "", /lastEventId=e-2/, "resume from three's cursor, not two's");
    next?.open();
    next?.emit(change("a", 2, 2), "message", "e-3"); // a duplicate for two, which ignores it
    next?.emit(change("a", 3, 3), "message", "e-4");
    await run();
    assert.deepEqual(a2.revs(), [0, 1, 2, 3]);
    assert.deepEqual(a3.revs(), [0, 1, 2, 3], "contiguous in every tab");
    assert.equal(a3.status(), "live");
  });

  test("a new leader waits for every other tab's want before its first stream, and not for ever", async () => {
    const { open, run, shared } = browser();
    const one = open();
    const two = open();
    const three = open();
    const four = open();
    one.follow("a");
    two.follow("a");
    three.follow("b");
    four.follow("c");
    await run(200);
    one.stream()?.open();
    one.stream()?.emit(snapshot("a", 0, { v: 0 }));
    one.stream()?.emit(snapshot("b", 0, { v: 0 }));
    one.stream()?.emit(snapshot("c", 0, { v: 0 }), "message", "e-1");
    await run();
    shared.hold(three.view, two.view); // three's want is slow to come
    four.freeze(); // and four, frozen, says nothing at all
    one.crash();
    await run(300);
    assert.ok(two.leading());
    assert.equal(two.stream(), null, "no stream before three and four said what they want");
    shared.release(three.view, two.view);
    await run(300);
    assert.equal(two.stream(), null, "four still holds its tab lock: wait on, within the deadline");
    await run(800);
    assert.deepEqual(two.stream()?.names, ["a", "b"], "at the deadline, without the names of four, which never answered");
    assert.match(two.stream()?.url ?? "", /lastEventId=e-1/);
  });

  test("per-signal stale and refused events reach the widgets of that signal in every tab", async () => {
    const { open, run } = browser();
    const one = open();
    const two = open();
    const a1 = one.follow("a");
    const a2 = two.follow("a");
    const b2 = two.follow("b");
    await run(200);
    const stream = one.stream();
    stream?.open();
    stream?.emit(snapshot("a", 0, { v: 0 }));
    stream?.emit(snapshot("b", 0, { v: 0 }), "message", "e-1");
    await run();
    stream?.emit({ name: "a", rev: 0 }, "stale");
    await run();
    assert.equal(a1.status(), "stale", "the leader's own widget");
    assert.equal(a2.status(), "stale", "a follower's, relayed");
    assert.equal(b2.status(), "live", "another signal stays live");
    stream?.emit({ name: "b", rev: 1, error: "too deep" }, "refused", "e-2");
    await run();
    assert.equal(b2.status(), "error");
    assert.equal(a2.status(), "stale");
    stream?.emit(snapshot("a", 1, { v: 0 }), "message", "e-3");
    await run();
    assert.equal(a2.status(), "live", "declared again");
    assert.equal(b2.status(), "error");
  });

  test("a leader that dies half-way through a batch of snapshots: the successor never claims the half batch", async () => {
    const { open, run } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    const a2 = two.follow("a");
    await run(200);
    let stream = one.stream();
    stream?.open();
    stream?.emit(snapshot("a", 0, { v: 0 }), "message", "e-5");
    await run();
    const b2 = two.follow("b");
    const c2 = two.follow("c");
    await run(200);
    stream = one.stream();
    stream?.open();
    // Only the last snapshot of a batch carries the cursor; the leader dies before it.
    stream?.emit(snapshot("a", 0, { v: 0 }));
    stream?.emit(snapshot("b", 2, { v: 2 }));
    one.crash();
    await run(200);
    assert.ok(two.leading());
    assert.equal(two.pool.groups[0].cursor, "e-5", "the cursor before the half batch");
    const next = two.stream();
    assert.doesNotMatch(next?.url ?? "", /lastEventId/, "c has no value yet: snapshots, not a replay");
    assert.equal(c2.values().length, 0);
    next?.open();
    next?.emit(snapshot("a", 1, { v: 1 }));
    next?.emit(snapshot("b", 2, { v: 2 }));
    next?.emit(snapshot("c", 7, { v: 7 }), "message", "e-9");
    await run();
    assert.deepEqual(a2.revs(), [0, 1]);
    assert.deepEqual(b2.revs(), [2]);
    assert.deepEqual(c2.revs(), [7]);
    assert.equal(c2.status(), "live");
  });

  test("a successor whose tabs all have values replays from the cursor, even after a half batch", async () => {
    const { open, run } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    const a2 = two.follow("a");
    await run(200);
    let stream = one.stream();
    stream?.open();
    stream?.emit(snapshot("a", 0, { v: 0 }), "message", "e-5");
    await run();
    const b2 = two.follow("b");
    await run(200);
    stream = one.stream();
    stream?.open();
    stream?.emit(snapshot("b", 2, { v: 2 }));
    one.crash(); // before the batch's last snapshot, a's, with the cursor
    await run(200);
    const next = two.stream();
    assert.match(next?.url ?? "", /lastEventId=e-5/);
    next?.open();
    next?.emit(change("a", 1, 1), "message", "e-6");
    next?.emit(change("b", 3, 3), "message", "e-7");
    await run();
    assert.deepEqual(a2.revs(), [0, 1]);
    assert.deepEqual(b2.revs(), [2, 3]);
  });

  test("a frozen leader that does not answer is replaced, and its own stream is closed when it wakes", async () => {
    const { open, run, streams } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    const a2 = two.follow("a");
    await run(200);
    const old = one.stream();
    old?.open();
    old?.emit(snapshot("a", 0, { v: 0 }), "message", "e-1");
    await run();
    one.freeze();
    await run(2_000 + 2_000 + 100);
    assert.ok(two.leading(), "the follower stole the lock");
    assert.match(two.log.lines.join("\n"), /\[nb_sse_signals\] the tab holding the connection .* does not answer; taking over/);
    const next = two.stream();
    assert.match(next?.url ?? "", /lastEventId=e-1/);
    next?.open();
    next?.emit(change("a", 1, 1), "message", "e-2");
    await run();
    assert.deepEqual(a2.revs(), [0, 1]);
    assert.equal(a2.status(), "live");
    one.thaw();
    await run(100);
    assert.equal(old?.readyState, 2, "the old leader learned it lost the lock and closed its stream");
    assert.ok(!one.leading());
    assert.equal(streams().length, 1);
  });

  test("a leader replaced while frozen follows the new leader when it wakes, and takes over if that one hangs", async () => {
    const { open, run } = browser();
    const one = open();
    const two = open();
    const a1 = one.follow("a");
    two.follow("a");
    await run(200);
    one.stream()?.open();
    one.stream()?.emit(snapshot("a", 0, { v: 0 }), "message", "e-1");
    await run();
    one.freeze();
    await run(2_000 + 2_000 + 100);
    assert.ok(two.leading());
    one.thaw();
    await run(100);
    const next = two.stream();
    next?.open();
    next?.emit(change("a", 1, 1), "message", "e-2");
    await run();
    assert.ok(!one.leading());
    assert.deepEqual(a1.revs().at(-1), 1, "the stepped-down tab hears its new leader");
    two.freeze(); // and watches it: a new leader that hangs in turn is replaced
    await run(2_000 + 2_000 + 100);
    assert.ok(one.leading(), "the stepped-down tab took over from the frozen one");
  });

  test("a tab about to be frozen hands the stream on at once", async () => {
    const { open, run } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    two.follow("a");
    await run(200);
    one.pool.freeze();
    await run(100);
    assert.ok(two.leading());
    assert.ok(!one.leading());
    one.pool.resume();
    await run(100);
    assert.ok(two.leading(), "resuming does not take it back");
  });

  test("a follower frozen and resumed queues for the lock again: it is next when the leader closes", async () => {
    const { open, run } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    two.follow("a");
    await run(200);
    two.pool.freeze(); // leaves the queue
    await run(100);
    two.pool.resume(); // queues again
    await run(100);
    assert.ok(one.leading() && !two.leading());
    one.pool.dispose(); // the lock is released: the next in the queue gets it at once
    await run(100);
    assert.ok(two.leading(), "the resumed tab took the lock without a take-over");
    assert.doesNotMatch(two.log.lines.join("\n"), /taking over/);
  });

  test("a tab frozen by the browser does not hold up a hand-over, and counts again once resumed", async () => {
    const { open, run } = browser();
    const one = open();
    const two = open();
    const three = open();
    one.follow("a");
    two.follow("a");
    three.follow("b");
    await run(200);
    one.stream()?.open();
    one.stream()?.emit(snapshot("a", 0, { v: 0 }));
    one.stream()?.emit(snapshot("b", 0, { v: 0 }), "message", "e-1");
    await run();
    three.pool.freeze(); // it said so: it releases its tab lock, and answers nobody
    three.freeze();
    await run(100); // (its farewell reached the old leader only)
    one.crash();
    await run(200);
    assert.ok(two.leading());
    assert.deepEqual(two.stream()?.names, ["a"], "within the batch window, not after the 1 s deadline");
    three.thaw();
    three.pool.resume();
    await run(200);
    assert.deepEqual(two.stream()?.names, ["a", "b"], "back in the union");
  });

  test("a closing tab leaves the union at once", async () => {
    const { open, run } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    two.follow("b");
    await run(200);
    assert.deepEqual(one.stream()?.names, ["a", "b"]);
    two.pool.dispose();
    await run(200);
    assert.deepEqual(one.stream()?.names, ["a"]);
  });

  test("a tab that crashes leaves the union within seconds", async () => {
    const { open, run } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    two.follow("b");
    await run(200);
    assert.deepEqual(one.stream()?.names, ["a", "b"]);
    two.crash(); // no pagehide, no goodbye: only its liveness lock goes
    await run(11_000);
    assert.deepEqual(one.stream()?.names, ["a"]);
  });

  test("a follower hearing frames does not ping; a quiet one does, and the leader answers", async () => {
    const { open, run } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    const a2 = two.follow("a");
    await run(200);
    const stream = one.stream();
    stream?.open();
    stream?.emit(snapshot("a", 0, { v: 0 }), "message", "e-0");
    for (let i = 1; i <= 30; i++) {
      stream?.emit(change("a", i, i), "message", `e-${i}`);
      await run(200);
    }
    await run(10_000); // quiet: pings, answered
    assert.ok(one.leading(), "no take-over while the leader answers");
    assert.equal(a2.status(), "live");
    assert.equal(a2.revs().length, 31);
  });

  test("a page put in the back-forward cache leaves and comes back with fresh snapshots", async () => {
    const { open, run } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    const b2 = two.follow("b");
    await run(200);
    let stream = one.stream();
    stream?.open();
    stream?.emit(snapshot("a", 0, 0));
    stream?.emit(snapshot("b", 0, 0), "message", "e-1");
    await run();
    two.pool.freeze();
    await run(200);
    assert.deepEqual(one.stream()?.names, ["a"]);
    two.pool.resume();
    await run(200);
    stream = one.stream();
    assert.deepEqual(stream?.names, ["a", "b"]);
    assert.doesNotMatch(stream?.url ?? "", /lastEventId/, "b may have missed changes: a snapshot");
    stream?.open();
    stream?.emit(snapshot("a", 0, 0));
    stream?.emit(snapshot("b", 4, 4), "message", "e-9");
    await run();
    assert.deepEqual(b2.revs(), [0, 4]);
    assert.equal(b2.status(), "live");
  });

  test("a signal one tab asks for and the hub does not know leaves the other tabs' signals flowing", async () => {
    const { open, run } = browser(new Set(["a"]));
    const one = open();
    const two = open();
    const a = one.follow("a");
    const typo = two.follow("typo");
    await run(200);
    let stream = one.stream();
    stream?.error(true); // the hub answered 404 for the stream of both
    await run(200);
    assert.equal(typo.status(), "error");
    stream = one.stream();
    assert.deepEqual(stream?.names, ["a"]);
    stream?.open();
    stream?.emit(snapshot("a", 0, 1), "message", "e-1");
    await run();
    assert.equal(a.status(), "live");
    assert.ok(!a.statuses().includes("error"), "a known signal never shows the other's error");
    assert.match(two.log.lines.join("\n"), /cannot subscribe to typo/);
  });

  test("a message on the channel that does not fit is dropped with one console line, and the real leader still rules", async () => {
    const { open, run, shared, clock } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    const a2 = two.follow("a");
    await run(200);
    assert.ok(one.leading());
    one.stream().open();
    one.stream().emit(snapshot("a", 0, { v: 1 }), "message", "e-1");
    await run();
    // Any script of the origin can post on the group's channel.
    const script = shared.tab();
    const channel = new script.BroadcastChannel(groupName(BASE, "", "http://host/"));
    const forged = [
      { t: "frame", term: Infinity, from: "evil", type: "message", data: JSON.stringify(snapshot("a", 9, { v: "forged" })), id: "" },
      { t: "state", term: clock.now + 1e12, from: "evil", status: "closed", names: [], unknown: [] },
      { t: "want", from: "evil", names: Array.from({ length: 20_000 }, (_, i) => `n${i}`), need: [], cursor: "" },
      { t: "bye", from: "evil", term: "1" },
      "not even an object",
    ];
    for (const message of forged) channel.postMessage(message);
    await run(100);
    const dropped = (/** @type {any} */ tab) => tab.log.lines.filter((/** @type {string} */ line) => line.includes("dropped a message on the tabs' channel"));
    assert.equal(dropped(two).length, forged.length, `one line per forged message:\n${two.log.lines.join("\n")}`);
    assert.equal(dropped(one).length, forged.length, "the leader drops them too");
    assert.match(dropped(two)[0], /expected "term" to be an integer/);
    // The real leader's next frame still reaches the follower.
    one.stream().emit(change("a", 1, 2), "message", "e-2");
    await run();
    assert.deepEqual(a2.values(), [{ v: 1 }, { v: 2 }], "never the forged value, and the real one after");
    assert.deepEqual(one.stream().names, ["a"], "the forged want did not reach the union");
  });

  test("a follower's lock missing at one roll call but there at the next keeps its want", async () => {
    const { open, run } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    two.follow("b");
    await run(200);
    assert.deepEqual(one.stream()?.names, ["a", "b"]);
    // As while a tab's lock is being granted again: one query does not list it.
    const query = one.locks.query.bind(one.locks);
    let misses = 1;
    one.locks.query = async () => {
      const found = await query();
      if (misses-- <= 0) return found;
      return { ...found, held: (found.held ?? []).filter((/** @type {{ name: string }} */ lock) => !lock.name.includes(" tab ")) };
    };
    await run(16_000); // three roll calls: missing, then there, then there
    assert.ok(misses < 0, "the leader looked at the locks");
    assert.deepEqual(one.stream()?.names, ["a", "b"], "dropped after missing only once");
  });

  test("a living follower's want outlasts every roll call: the shared stream is never reopened for it", async () => {
    const { open, run, streams } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    two.follow("b");
    await run(200);
    const stream = one.stream();
    assert.deepEqual(stream?.names, ["a", "b"]);
    stream?.open();
    await run(16_000); // three roll calls: a want is dropped after missing twice
    assert.equal(one.stream(), stream, "the same stream, never reopened");
    assert.equal(streams().length, 1);
  });

  test("of two followers of a frozen leader, exactly one takes over, once", async () => {
    const { open, run, streams } = browser();
    const one = open();
    const two = open();
    const three = open();
    one.follow("a");
    two.follow("a");
    three.follow("a");
    await run(200);
    one.stream()?.open();
    one.stream()?.emit(snapshot("a", 0, { v: 0 }), "message", "e-1");
    await run();
    one.freeze();
    await run(2_000 + 2_000 + 100);
    const leaders = [two, three].filter((tab) => tab.leading());
    assert.equal(leaders.length, 1, "one of them took over");
    const [leader] = leaders;
    const stream = leader.stream();
    const takeOvers = () => [two, three].filter((tab) => /taking over/.test(tab.log.lines.join("\n"))).length;
    assert.equal(takeOvers(), 1, "the other did not steal the lock as well");
    stream?.open();
    await run(5_000);
    assert.ok(leader.leading() && leader.stream() === stream, "it keeps the lead and its stream");
    assert.equal(takeOvers(), 1);
    assert.equal(streams().length, 1);
  });

  test("of two leaders of the same term, followers take the one with the greater id, in either order", async () => {
    const { open, run, shared } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    const a2 = two.follow("a");
    await run(200);
    one.stream()?.open();
    one.stream()?.emit(snapshot("a", 0, { v: 0 }), "message", "e-1");
    await run();
    const group = two.pool.groups[0];
    const { term, leaderId } = group;
    assert.equal(leaderId, one.pool.groups[0].tabId);
    // Another tab that also thinks it leads this term (two lock grants crossing).
    const rival = new (shared.tab().BroadcastChannel)(group.name);
    const frame = (/** @type {string} */ from, /** @type {number} */ rev, /** @type {string} */ value) => ({
      t: "frame", term, from, type: "message", data: JSON.stringify(change("a", rev, value)), id: `${from}-${rev}`,
    }); // prettier-ignore
    rival.postMessage(frame("0", 1, "from a lesser id"));
    await run();
    assert.equal(group.leaderId, leaderId, "a lesser id of the same term is not followed");
    assert.ok(!a2.values().some((v) => JSON.stringify(v).includes("lesser")), JSON.stringify(a2.values()));
    const greater = "z".repeat(16); // tab ids are 12 base-36 characters
    rival.postMessage(frame(greater, 1, "from a greater id"));
    await run();
    assert.equal(group.leaderId, greater, "a greater id of the same term is followed");
    one.stream()?.emit(change("a", 1, "from the old leader"), "message", "e-2");
    await run();
    assert.ok(!a2.values().some((v) => JSON.stringify(v).includes("old leader")), JSON.stringify(a2.values()));
    rival.close();
  });

  test("what another tab posts that is not ours, or not for us, changes nothing", async () => {
    const { open, run, shared } = browser();
    const one = open();
    const two = open();
    one.follow("a");
    const a2 = two.follow("a");
    await run(200);
    one.stream()?.open();
    one.stream()?.emit(snapshot("a", 0, { v: 0 }), "message", "e-1");
    await run();
    const group = two.pool.groups[0];
    const rival = new (shared.tab().BroadcastChannel)(group.name);
    /** @type {any[]} */
    const heard = [];
    rival.onmessage = (/** @type {any} */ event) => void heard.push(event.data);
    for (const junk of [null, "text", 42, { t: "nonsense" }]) rival.postMessage(junk);
    rival.postMessage({ t: "bye", from: "not-the-leader", term: group.term });
    await run(100);
    assert.equal(a2.status(), "live", "a bye from a tab we do not follow is not our leader leaving");
    assert.equal(group.leaderId, one.pool.groups[0].tabId);
    heard.length = 0;
    rival.postMessage({ t: "ping", from: "rival" });
    await run(100);
    const states = heard.filter((m) => m?.t === "state");
    assert.equal(states.length, 1, "only the leader answers a ping");
    assert.equal(states[0].from, one.pool.groups[0].tabId);
    rival.postMessage({ t: "want", from: "rival", names: ["b"], need: ["b"], cursor: "" });
    await run(200);
    assert.ok(!two.pool.groups[0].leading);
    assert.deepEqual(two.pool.groups[0].wants.size, 0, "a follower keeps no wants");
    assert.deepEqual(one.stream()?.names, ["a", "b"], "the leader takes the want");
    rival.close();
  });

  test("our leader's bye shows its stream closed in every follower at once, until it answers again; no other tab's bye does", async () => {
    const { open, run, shared } = browser();
    const one = open();
    const two = open();
    const a1 = one.follow("a");
    const a2 = two.follow("a");
    await run(200);
    one.stream()?.open();
    one.stream()?.emit(snapshot("a", 0, { v: 0 }), "message", "e-1");
    await run();
    const group = two.pool.groups[0];
    const leaderId = one.pool.groups[0].tabId;
    const rival = new (shared.tab().BroadcastChannel)(group.name);
    rival.postMessage({ t: "bye", from: "zzzzzzzzzzzz", term: group.term });
    await run();
    assert.equal(a2.status(), "live", "a bye from a tab we do not follow is not our leader leaving");
    assert.equal(group.streamStatus, "live");
    rival.postMessage({ t: "bye", from: leaderId, term: group.term });
    await run();
    assert.equal(a2.status(), "stale");
    assert.equal(group.streamStatus, "closed");
    assert.equal(a1.status(), "live", "a leader takes no bye for its own stream");
    await run(5_000); // quiet for quietMs, the follower asks; the leader is there and answers
    assert.equal(a2.status(), "live");
    assert.ok(one.leading() && !two.leading());
    rival.close();
  });

  test("what the leader says of its stream shows in its followers: retrying and closed are stale, a reopen is not, failed fails the widgets of the names it names", async () => {
    const { open, run, shared } = browser(new Set(["a"]));
    const one = open();
    const two = open();
    one.follow("a");
    const a2 = two.follow("a");
    const b2 = two.follow("b");
    await run(200);
    const group = two.pool.groups[0];
    const rival = new (shared.tab().BroadcastChannel)(group.name);
    const from = one.pool.groups[0].tabId;
    const say = async (/** @type {string} */ status, /** @type {string[]} */ unknown = []) => {
      rival.postMessage({ t: "state", term: group.term, from, status, names: ["a", "b"], unknown });
      await run();
    };
    await say("live");
    for (const name of ["a", "b"]) {
      rival.postMessage({ t: "frame", term: group.term, from, type: "message", data: JSON.stringify(snapshot(name, 0, 0)), id: "" });
    }
    await run();
    assert.deepEqual([a2.status(), b2.status()], ["live", "live"]);
    await say("retrying");
    assert.deepEqual([a2.status(), b2.status()], ["stale", "stale"]);
    await say("live");
    await say("connecting"); // it reopens for other names: what we show is not behind
    assert.deepEqual([a2.status(), b2.status()], ["live", "live"]);
    await say("live");
    await say("closed");
    assert.deepEqual([a2.status(), b2.status()], ["stale", "stale"]);
    await say("live");
    await say("failed", ["b"]);
    assert.equal(b2.status(), "error", "b is unknown: its widget says so");
    rival.close();
  });

  test("a failed stream that names no unknown signal fails every widget of the follower", async () => {
    const { open, run, shared } = browser(new Set(["a"]));
    const one = open();
    const two = open();
    one.follow("a");
    const b2 = two.follow("b");
    await run(200);
    const group = two.pool.groups[0];
    const rival = new (shared.tab().BroadcastChannel)(group.name);
    const from = one.pool.groups[0].tabId;
    rival.postMessage({ t: "state", term: group.term, from, status: "live", names: ["a", "b"], unknown: [] });
    rival.postMessage({ t: "frame", term: group.term, from, type: "message", data: JSON.stringify(snapshot("b", 0, 0)), id: "" });
    await run();
    assert.equal(b2.status(), "live");
    rival.postMessage({ t: "state", term: group.term, from, status: "failed", names: ["a", "b"], unknown: [] });
    await run();
    assert.equal(b2.status(), "error");
    rival.close();
  });

  test("the lock and channel name carry the version and absolute base, never the token", () => {
    const name = groupName("/user/a/", "s3cret-token", "http://127.0.0.1:8888/lab");
    assert.match(name, /^nb_sse_signals@0\.1\.0 http:\/\/127\.0\.0\.1:8888\/user\/a\/ [0-9a-z]+$/);
    assert.doesNotMatch(name, /s3cret/);
    assert.notEqual(name, groupName("/user/a/", "other", "http://127.0.0.1:8888/lab"));
    assert.equal(groupName("/", "", "http://h/"), "nb_sse_signals@0.1.0 http://h/ ");
  });
});

describe("without Web Locks or BroadcastChannel", () => {
  test("a page keeps a connection of its own, and says so once", () => {
    const log = quietLog();
    const sources = fakeEventSources();
    const pool = tabsOrPage({ navigator: {} }, { log, EventSource: sources.EventSource });
    assert.ok(pool instanceof ConnectionPool);
    assert.equal(log.lines.length, 1);
    assert.match(log.lines[0], /^\[nb_sse_signals\] this page has no Web Locks \(navigator\.locks.*\) and BroadcastChannel: it keeps a connection of its own/);
  });

  test("with both it shares", () => {
    const shared = fakeBrowser().tab();
    const log = quietLog();
    const pool = tabsOrPage({ navigator: { locks: shared.locks }, BroadcastChannel: shared.BroadcastChannel }, { log });
    assert.ok(pool instanceof TabPool);
    assert.equal(log.lines.length, 0);
  });
});
