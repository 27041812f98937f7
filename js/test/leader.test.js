// The leader (leader.js): one stream for the union of what every tab wants,
// relayed to the others. Real TabPools in one fake browser (fakes.js: Node has
// no Web Locks or BroadcastChannel across tabs).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fakeTabs, snapshot } from "./fakes.js";

const change = (/** @type {string} */ name, /** @type {number} */ rev, /** @type {unknown} */ value) => ({
  name,
  rev,
  patch: [{ op: "replace", path: "", value }],
});

/** Tabs following "a", the first leading, its stream live with a snapshot of 0. */
async function leading(count = 2) {
  const tabs = fakeTabs();
  const all = Array.from({ length: count }, () => tabs.open());
  const widgets = all.map((tab) => tab.follow("a"));
  await tabs.run(200);
  all[0].stream().open();
  all[0].stream().emit(snapshot("a", 0, 0), "message", "e-0");
  await tabs.run();
  return { ...tabs, tabs: all, widgets };
}

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

  test("late frames of the previous leader are taken until the new leader's own stream opens, and only its own", async () => {
    const { run, channel, shared, tabs, widgets } = await leading();
    const [one, two] = tabs;
    const a2 = widgets[1];
    const previous = { term: two.group().term, from: one.group().tabId };
    const rival = channel();
    const frame = (/** @type {{ term: number, from: string }} */ by, /** @type {number} */ rev, /** @type {string} */ value) => ({
      t: "frame", ...by, type: "message", data: JSON.stringify(change("a", rev, value)), id: `e-${rev}`,
    }); // prettier-ignore
    shared.hold(one.view, two.view);
    one.stream().emit(change("a", 1, "late"), "message", "e-1"); // still on its way to two
    await run();
    one.crash();
    await run(); // two leads; its first stream waits for its batch
    assert.ok(two.leading());
    assert.equal(two.stream(), null);
    rival.postMessage(frame({ term: previous.term, from: "z".repeat(12) }, 1, "another tab"));
    rival.postMessage(frame({ term: previous.term - 1, from: previous.from }, 1, "an older term"));
    await run();
    assert.deepEqual(a2.values(), [0], "nothing but the previous leader's frames");
    shared.release(one.view, two.view);
    await run();
    assert.deepEqual(a2.values(), [0, "late"], "the previous leader's last frame");
    await run(200);
    const stream = two.stream();
    assert.match(stream.url, /lastEventId=e-1/, "resumes after it");
    stream.open();
    rival.postMessage(frame(previous, 2, "after our stream opened"));
    await run();
    assert.deepEqual(a2.values(), [0, "late"], "once our own stream is open, its replay is what counts");
    rival.close();
  });

  test("when every widget of every tab left, the stream closes and the followers hear that it is closed", async () => {
    const { run, tabs, widgets, overheard } = await leading();
    const heard = overheard();
    for (const widget of widgets) widget.leave();
    await run(200);
    assert.equal(tabs[0].stream(), null, "no stream for nothing");
    assert.ok(tabs[0].leading(), "the leader stays, ready for the next widget");
    assert.equal(heard.filter((m) => m.t === "state").at(-1)?.status, "closed");
    assert.equal(tabs[1].group().streamStatus, "closed");
    const again = tabs[1].follow("b");
    await run(200);
    assert.deepEqual(tabs[0].stream()?.names, ["b"]);
    tabs[0].stream().open();
    tabs[0].stream().emit(snapshot("b", 2, "bee"), "message", "e-5");
    await run();
    assert.equal(again.values().at(-1), "bee");
  });

  test("a tab that asks for a name whose snapshot is already on its way gets it from that stream: no reopen", async () => {
    const { open, run, tabs } = await leading();
    const [one] = tabs;
    const b = tabs[1].follow("b");
    await run(200);
    const stream = one.stream();
    assert.deepEqual(stream.names, ["a", "b"]);
    assert.doesNotMatch(stream.url, /lastEventId/, "b needs its snapshot: the stream sends all of them");
    stream.open();
    const three = open();
    const b3 = three.follow("b"); // needs b too, whose snapshot the open stream is about to send
    await run(200);
    assert.equal(one.stream(), stream, "not reopened");
    stream.emit(snapshot("a", 0, 0));
    stream.emit(snapshot("b", 0, "bee"), "message", "e-1");
    await run();
    assert.equal(b.values().at(-1), "bee");
    assert.equal(b3.values().at(-1), "bee");
    // Once an event with a cursor came, the batch of snapshots is over: a need reopens.
    const four = open();
    const b4 = four.follow("b");
    await run(200);
    assert.notEqual(one.stream(), stream, "reopened for the newcomer's snapshot");
    assert.doesNotMatch(one.stream().url, /lastEventId/);
    one.stream().open();
    one.stream().emit(snapshot("a", 0, 0));
    one.stream().emit(snapshot("b", 0, "bee"), "message", "e-1");
    await run();
    assert.equal(b4.values().at(-1), "bee");
  });

  test("a shared stream the browser retries shows stale in every tab, and live again once it reopens", async () => {
    const { run, tabs, widgets } = await leading();
    const stream = tabs[0].stream();
    stream.error(false); // dropped: the browser retries with Last-Event-ID
    await run();
    assert.deepEqual(widgets.map((w) => w.status()), ["stale", "stale"]);
    stream.open();
    await run();
    assert.deepEqual(widgets.map((w) => w.status()), ["live", "live"]);
    assert.equal(tabs[0].stream(), stream, "the browser's retry, not a new stream");
  });

  test("a shared stream refused for a reason other than an unknown name is not reopened at once: the tabs' pools retry with their backoff", async () => {
    const { run, tabs, widgets, calls } = await leading();
    tabs[0].stream().error(true); // e.g. 403 for a token the server no longer takes; every name is known
    await run(300);
    assert.ok(calls.some((call) => call.init?.method === "HEAD"), "the leader asked why");
    assert.equal(tabs[0].stream(), null, "no new stream right away");
    assert.ok(widgets.every((w) => w.status() === "error"), JSON.stringify(widgets.map((w) => w.statuses())));
  });

  test("a hand-over from a frozen leader does not wait for the frozen tab's want", async () => {
    const { run, tabs } = await leading(3);
    const [one, two, three] = tabs;
    one.freeze();
    await run(2_000 + 2_000 + 100);
    const next = [two, three].find((tab) => tab.leading());
    assert.ok(next, "a follower took over");
    assert.deepEqual(next.stream()?.names, ["a"], "within its batch window, not at the 1 s deadline");
  });

  test("a want that says nothing new costs nothing: no batch, no state, the same stream", async () => {
    const { run, channel, overheard, tabs } = await leading();
    const [one] = tabs;
    const heard = overheard();
    const rival = channel(); // a tab of the group, as the test writes its messages
    const want = (/** @type {string[]} */ names, /** @type {string[]} */ need = []) => ({ t: "want", from: "rival", names, need, cursor: "e-0" });
    rival.postMessage(want(["b"], ["b"]));
    await run(200);
    const stream = one.stream();
    assert.deepEqual(stream.names, ["a", "b"]);
    stream.open();
    stream.emit(snapshot("a", 0, 0));
    stream.emit(snapshot("b", 0, 0), "message", "e-1");
    await run();
    heard.length = 0;
    rival.postMessage(want(["b"])); // the same names again, nothing needed
    rival.postMessage({ t: "want", from: "gone", names: [], need: [], cursor: "" }); // a tab that wanted nothing says so
    await run(500); // past any batch (and before the followers' first ping)
    assert.deepEqual(heard.filter((m) => m.t === "state"), [], "no batch ran: nothing to say");
    assert.equal(one.stream(), stream);
    rival.postMessage(want(["b"], ["b"])); // the same names, but it lost b's value: a snapshot
    await run(200);
    assert.notEqual(one.stream(), stream);
    assert.doesNotMatch(one.stream().url, /lastEventId/);
    rival.close();
  });

  test("a want whose names, run together, spell its old ones is still a new want: the stream follows it", async () => {
    const { open, run, channel } = fakeTabs({ known: new Set(["a", "x", "y", "xy"]) });
    const one = open();
    one.follow("a").leave(); // the leader's own want, of nothing, leaves the rival's names alone in the union
    await run(200);
    const rival = channel(); // a tab of the group, as the test writes its messages
    const want = (/** @type {string[]} */ names) => ({ t: "want", from: "rival", names, need: [], cursor: "e-0" });
    // "x" and "y" run together are "xy": only a separator tells the wants apart.
    for (const names of [["x", "y"], ["xy"], ["x", "y"]]) {
      rival.postMessage(want(names));
      await run(200);
      assert.deepEqual(one.stream()?.names, names);
      one.stream().open();
    }
    rival.close();
  });

  test("a tab that wants nothing is not among the wants: neither another tab nor the leader itself", async () => {
    const { run, channel, tabs, widgets } = await leading();
    const [one, two] = tabs;
    widgets[0].leave(); // the leader's own widget
    await run(200);
    const rival = channel();
    rival.postMessage({ t: "want", from: "rival", names: [], need: [], cursor: "" });
    await run(200);
    assert.deepEqual([...one.group().wants.keys()], [two.group().tabId]);
    rival.close();
  });

  test("a name the hub does not know stays out of the stream while a tab keeps asking for it, and finding it out is HEADs only", async () => {
    const { run, channel, calls, tabs } = await leading(1);
    const [one] = tabs;
    const rival = channel(); // a tab that asks for "zz" and, unlike a pool, does not withdraw it when refused
    const want = (/** @type {string[]} */ names) => ({ t: "want", from: "rival", names, need: [], cursor: "e-0" });
    rival.postMessage(want(["zz"]));
    await run(200);
    assert.deepEqual(one.stream()?.names, ["a", "zz"]);
    const before = calls.length;
    one.stream().error(true); // the hub answers 404: "zz" is unknown
    await run(300);
    assert.deepEqual(calls.slice(before).map((call) => call.init?.method), ["HEAD", "HEAD", "HEAD"], "the status only: all, then each name");
    rival.postMessage(want(["b", "zz"])); // a new name, and the unknown one again
    await run(200);
    assert.deepEqual(one.stream()?.names, ["a", "b"]);
    rival.close();
  });

  test("a follower that asks while the stream stays refused hears which names are unknown: its other widgets are left alone", async () => {
    const { run, channel, tabs, widgets } = await leading();
    const [one] = tabs;
    const rival = channel(); // a tab that asks for "zz" and, unlike a pool, does not withdraw it when refused
    rival.postMessage({ t: "want", from: "rival", names: ["zz"], need: [], cursor: "e-0" });
    await run(200);
    one.stream().error(true); // the hub answers 404: "zz" is unknown
    await run(300);
    const before = widgets[1].statuses().length;
    await run(5_000); // the follower hears nothing, and pings: the leader answers with its state
    assert.deepEqual(widgets[1].statuses().slice(before), [], "a is known: its widget does not fail");
    rival.close();
  });

  test("a tab asking again for the same names after the stream was refused gets a stream again", async () => {
    const { run, channel, tabs, widgets } = await leading(1);
    const [one] = tabs;
    widgets[0].leave();
    await run(200);
    const rival = channel(); // a tab whose want stayed as it was (a pool withdraws it on failure, then asks again)
    const want = { t: "want", from: "rival", names: ["b"], need: [], cursor: "e-0" };
    rival.postMessage(want);
    await run(200);
    one.stream().error(true); // refused, every name known (a token the server no longer takes)
    await run(300);
    assert.equal(one.stream(), null);
    rival.postMessage(want);
    await run(200);
    assert.deepEqual(one.stream()?.names, ["b"]);
    rival.close();
  });

  test("the stream asks for its names in order, whichever tab wanted which first", async () => {
    const { open, run, channel } = fakeTabs();
    const one = open();
    one.follow("c");
    await run(200);
    const rival = channel();
    rival.postMessage({ t: "want", from: "rival", names: ["a", "b"], need: [], cursor: "" });
    await run(200);
    assert.deepEqual(one.stream()?.names, ["a", "b", "c"]);
    rival.close();
  });

  test("a snapshot without a cursor does not end the batch of snapshots: a tab needing one of its names still waits for it", async () => {
    const { open, run, tabs } = await leading();
    const [one, two] = tabs;
    two.follow("b");
    await run(200);
    const stream = one.stream();
    assert.doesNotMatch(stream.url, /lastEventId/);
    stream.open();
    stream.emit(snapshot("a", 0, 0)); // the batch's first snapshot: no id yet
    await run();
    const b3 = open().follow("b");
    await run(200);
    assert.equal(one.stream(), stream, "not reopened: b's snapshot is still to come");
    stream.emit(snapshot("b", 0, "bee"), "message", "e-1");
    await run();
    assert.equal(b3.values().at(-1), "bee");
  });

  test("once the first stream of a term is open, a reopen resumes from the leader's own cursor, not a slower tab's", async () => {
    const { run, channel, tabs } = await leading();
    const [one] = tabs;
    for (let rev = 1; rev <= 3; rev++) one.stream().emit(change("a", rev, rev), "message", `e-${rev}`);
    await run();
    const rival = channel(); // a tab that says it got only as far as e-0
    rival.postMessage({ t: "want", from: "rival", names: ["b"], need: [], cursor: "e-0" });
    await run(200);
    assert.deepEqual(one.stream()?.names, ["a", "b"]);
    assert.match(one.stream().url, /lastEventId=e-3/);
    rival.close();
  });

  test("a new leader does not wait for the deadline when a tab it waits for answers, late, that it wants nothing", async () => {
    const { open, run, shared, tabs } = await leading(2);
    const [one, two] = tabs;
    const three = open();
    three.follow("b").leave(); // in the group, with nothing to show
    await run(200);
    shared.hold(three.view, two.view); // three's answer is slow to come
    one.pool.dispose();
    await run(200);
    assert.ok(two.leading());
    assert.equal(two.stream(), null, "it waits for three's want");
    shared.release(three.view, two.view); // which says nothing
    await run(200);
    assert.deepEqual(two.stream()?.names, ["a"], "within a batch of the answer, not at the 1 s deadline");
  });

  test("a tab that never answers holds up only the first stream of a term: later wants are batched as usual", async () => {
    const { run, tabs } = await leading(3);
    const [one, two, three] = tabs;
    three.freeze(); // frozen without warning: it keeps its lock, and will never say what it wants
    one.pool.dispose();
    await run(1_100);
    assert.ok(two.leading());
    assert.deepEqual(two.stream()?.names, ["a"], "at the deadline");
    two.follow("b");
    await run(200);
    assert.deepEqual(two.stream()?.names, ["a", "b"], "within a batch, not another 1 s deadline");
  });

  test("a new leader whose look at the tabs comes after its deadline says nothing more once it has", async () => {
    const { run, clock, overheard, tabs } = await leading(2);
    const [one, two] = tabs;
    const query = two.locks.query.bind(two.locks);
    // The lock manager is slow: its answer comes after the first stream opened, at the 1 s deadline.
    two.locks.query = () => new Promise((resolve) => void clock.setTimeout(() => resolve(query()), 1_500));
    one.pool.dispose();
    await run(1_100);
    const stream = two.stream();
    assert.deepEqual(stream?.names, ["a"]);
    stream.open();
    stream.emit(snapshot("a", 0, 0), "message", "e-0");
    await run();
    const heard = overheard();
    await run(600); // the answer comes, and a batch would have ended
    assert.deepEqual(heard.filter((m) => m.t === "state"), [], "no batch: nothing to say");
    assert.equal(two.stream(), stream);
  });

  test("a leader whose every widget left says nothing to a want of nothing", async () => {
    const { run, channel, overheard, tabs, widgets } = await leading(1);
    widgets[0].leave();
    await run(200);
    assert.equal(tabs[0].stream(), null);
    const heard = overheard();
    const rival = channel();
    rival.postMessage({ t: "want", from: "gone", names: [], need: [], cursor: "" });
    await run(500);
    assert.deepEqual(heard.filter((m) => m.t === "state"), []);
    rival.close();
  });

  test("a roll call that finds every tab says nothing and opens nothing", async () => {
    const { run, overheard, tabs } = await leading();
    const heard = overheard();
    const stream = tabs[0].stream();
    for (let rev = 1; rev <= 16; rev++) {
      stream.emit(change("a", rev, rev), "message", `e-${rev}`); // frames keep the follower from pinging
      await run(1_000);
    }
    assert.deepEqual(heard.filter((m) => m.t === "state"), [], "three roll calls, no batch");
    assert.equal(tabs[0].stream(), stream);
  });

  test("a stream's first event shows it live in every tab, even before its open event", async () => {
    const tabs = fakeTabs();
    const one = tabs.open();
    const two = tabs.open();
    const a1 = one.follow("a");
    const a2 = two.follow("a");
    await tabs.run(200);
    one.stream().emit(snapshot("a", 0, 0), "message", "e-0"); // a split stream's part may speak before the others open
    await tabs.run();
    assert.deepEqual([a1.status(), a2.status()], ["live", "live"]);
    assert.equal(two.group().streamStatus, "live");
  });

  test("a new leader whose look at the tabs is slow opens its stream soon after the answer, not at the deadline", async () => {
    const { run, clock, tabs } = await leading(3);
    const [one, two, three] = tabs;
    for (const tab of [two, three]) {
      const query = tab.locks.query.bind(tab.locks);
      // The lock manager is another process: its answer takes 200 ms here.
      tab.locks.query = () => new Promise((resolve) => void clock.setTimeout(() => resolve(query()), 200));
    }
    one.pool.dispose();
    await run(100);
    const next = [two, three].find((tab) => tab.leading());
    assert.ok(next);
    assert.equal(next.stream(), null, "it waits for the answer");
    await run(200); // the answer came at 200 ms; every tab it names has said what it wants
    assert.deepEqual(next.stream()?.names, ["a"], "within a batch of the answer, not at the 1 s deadline");
  });
});
