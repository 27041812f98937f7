import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Signal } from "../src/signal.js";
import { fakeClock, fakeFetch, quietLog, settle, snapshot } from "./fakes.js";

const URL_ = "/nb-sse-signals/snapshot?signal=s";

/**
 * A signal "s" with a hand-driven clock and a snapshot endpoint whose
 * answers the test resolves.
 */
function setup() {
  const clock = fakeClock();
  /** @type {((answer: { status: number, body: unknown }) => void)[]} */
  const pending = [];
  const { fetch, calls } = fakeFetch(() => new Promise((resolve) => pending.push(resolve)));
  /** @type {{ value: unknown, rev: number, state: string }[]} */
  const seen = [];
  const log = quietLog();
  const signal = new Signal("s", {
    snapshotUrl: URL_,
    onChange: (s) => seen.push({ value: s.value, rev: s.rev, state: s.state }),
    fetch,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    log,
  });
  /** Answer the oldest fetch still waiting. */
  const answer = async (/** @type {number} */ status, /** @type {unknown} */ body) => {
    const resolve = pending.shift();
    assert.ok(resolve, "a snapshot fetch should be waiting");
    resolve({ status, body });
    await settle();
  };
  return { signal, clock, calls, seen, log, answer };
}

/** @param {number} rev @param {number} n */
const setCount = (rev, n) => ({ name: "s", rev, patch: [{ op: "replace", path: "/count", value: n }] });

describe("Signal", () => {
  test("a value handed out never changes: the next change copies only what it touches", () => {
    const { signal } = setup();
    signal.receive(snapshot("s", 0, { ys: [1, 2], other: { a: 1 } }));
    const taken = /** @type {any} */ (signal.value);
    signal.receive({ name: "s", rev: 1, patch: [{ op: "add", path: "/ys/-", value: 3 }] });
    assert.deepEqual(taken, { ys: [1, 2], other: { a: 1 } });
    const next = /** @type {any} */ (signal.value);
    assert.deepEqual(next.ys, [1, 2, 3]);
    assert.equal(next.other, taken.other, "the untouched part is shared");
    signal.receive({ name: "s", rev: 2, patch: [{ op: "add", path: "/ys/-", value: 4 }] });
    assert.deepEqual(next.ys, [1, 2, 3], "taken again, kept again");
  });

  /** A signal whose onChange takes nothing (as with only live readers listening). */
  const untaken = () => new Signal("s", { snapshotUrl: URL_, fetch: () => new Promise(() => {}), log: quietLog() });

  test("while nobody takes the value, changes are made in place and counted", () => {
    const signal = untaken();
    signal.receive(snapshot("s", 0, { ys: [1, 2] }));
    signal.receive({ name: "s", rev: 1, patch: [{ op: "add", path: "/ys/-", value: 3 }] });
    const live = /** @type {any} */ (signal.live);
    const ys = live.ys;
    const version = signal.version;
    signal.receive({ name: "s", rev: 2, patch: [{ op: "add", path: "/ys/-", value: 4 }, { op: "remove", path: "/ys/0" }] });
    assert.equal(signal.live, live, "the same root");
    assert.equal(live.ys, ys, "the same array, appended to in place: no copy");
    assert.deepEqual(ys, [2, 3, 4]);
    assert.equal(signal.version, version + 1);
    assert.equal(signal.rev, 2);
  });

  test("a failed patch on the live value puts it back exactly and resyncs", () => {
    const signal = untaken();
    signal.receive(snapshot("s", 0, { ys: [1], n: 0 }));
    signal.receive({ name: "s", rev: 1, patch: [{ op: "add", path: "/ys/-", value: 2 }] });
    const live = /** @type {any} */ (signal.live);
    const version = signal.version;
    signal.receive({ name: "s", rev: 2, patch: [{ op: "add", path: "/ys/-", value: 3 }, { op: "replace", path: "/n", value: 1 }, { op: "remove", path: "/nope" }] });
    assert.equal(signal.live, live);
    assert.deepEqual(live, { ys: [1, 2], n: 0 });
    assert.equal(signal.version, version, "nothing changed");
    assert.equal(signal.state, "resync");
  });

  test("a snapshot that brings another value counts as a change; one of the same value does not", () => {
    const { signal } = setup();
    signal.receive(snapshot("s", 0, { n: 1 }));
    const version = signal.version;
    signal.receive(snapshot("s", 0, { n: 1 }));
    assert.equal(signal.version, version);
    signal.receive(snapshot("s", 1, { n: 2 }));
    assert.equal(signal.version, version + 1);
  });

  test("applies a snapshot, then contiguous patches", () => {
    const { signal, seen } = setup();
    assert.equal(signal.state, "empty");
    signal.receive(snapshot("s", 3, { count: 0 }));
    signal.receive(setCount(4, 1));
    signal.receive(setCount(5, 2));
    assert.deepEqual(signal.value, { count: 2 });
    assert.equal(signal.rev, 5);
    assert.equal(signal.state, "live");
    assert.deepEqual(seen.map((s) => s.rev), [3, 4, 5]);
  });

  test("ignores a duplicate revision", () => {
    const { signal, seen } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.receive(setCount(1, 1));
    const shown = signal.value;
    signal.receive(setCount(1, 99));
    signal.receive(setCount(0, 98));
    assert.equal(signal.value, shown);
    assert.equal(seen.length, 2, "a duplicate is not a change");
  });

  test("on a gap fetches a snapshot and applies the live patches buffered meanwhile", async () => {
    const { signal, clock, calls, answer } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.receive(setCount(3, 3)); // 1 and 2 are missing
    assert.equal(signal.state, "resync");
    assert.deepEqual(signal.value, { count: 0 }, "the last good value stays while resyncing");
    clock.tick(0);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].url, URL_);
    assert.equal(calls[0].init.credentials, "same-origin");
    signal.receive(setCount(4, 4));
    signal.receive(setCount(5, 5));
    await answer(200, [snapshot("s", 3, { count: 3 })]);
    assert.equal(signal.rev, 5);
    assert.deepEqual(signal.value, { count: 5 });
    assert.equal(signal.state, "live");
  });

  test("a failed patch starts a resync and never shows what it half did", async () => {
    const { signal, clock, seen, answer } = setup();
    signal.receive(snapshot("s", 0, { count: 0, items: [] }));
    const good = signal.value;
    signal.receive({
      name: "s",
      rev: 1,
      patch: [
        { op: "add", path: "/items/-", value: "half" },
        { op: "replace", path: "/count", value: 1 },
        { op: "remove", path: "/missing" },
      ],
    });
    assert.equal(signal.value, good, "the same object stays exposed");
    assert.deepEqual(good, { count: 0, items: [] }, "and it was not modified in place");
    assert.equal(signal.rev, 0);
    assert.equal(signal.state, "resync");
    for (const { value } of seen) assert.deepEqual(value, { count: 0, items: [] }, "no listener ever saw the half-applied patch");
    clock.tick(0);
    await answer(200, [snapshot("s", 1, { count: 1, items: ["whole"] })]);
    assert.deepEqual(signal.value, { count: 1, items: ["whole"] });
    assert.equal(signal.rev, 1);
  });

  test("a patch before any snapshot resyncs rather than patching nothing", () => {
    const { signal, clock, calls } = setup();
    signal.receive(setCount(7, 7));
    assert.equal(signal.state, "resync");
    clock.tick(0);
    assert.equal(calls.length, 1);
  });

  test("a snapshot on the stream ends a resync, and the fetch answer that follows is ignored", async () => {
    const { signal, clock, answer } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.receive(setCount(2, 2));
    clock.tick(0);
    signal.receive(snapshot("s", 6, { count: 6 }));
    assert.equal(signal.state, "live");
    await answer(200, [snapshot("s", 2, { count: 2 })]);
    assert.equal(signal.rev, 6);
    assert.deepEqual(signal.value, { count: 6 });
  });

  test("a snapshot of the revision it has keeps the same object, so views need not redraw", () => {
    const { signal } = setup();
    signal.receive(snapshot("s", 4, { deep: { list: [1, 2] } }));
    const shown = signal.value;
    signal.receive(snapshot("s", 4, { deep: { list: [1, 2] } }));
    assert.equal(signal.value, shown);
  });

  test("a snapshot replaces the value whatever the revision (the hub restarted)", () => {
    const { signal } = setup();
    signal.receive(snapshot("s", 9, { count: 9 }));
    signal.receive(snapshot("s", 0, { count: 0 }));
    assert.equal(signal.rev, 0);
    assert.deepEqual(signal.value, { count: 0 });
  });

  test("retries a failed snapshot fetch with a growing delay", async () => {
    const { signal, clock, calls, answer, log } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.receive(setCount(2, 2));
    clock.tick(0);
    await answer(503, { error: "busy" });
    assert.equal(calls.length, 1);
    assert.equal(signal.state, "resync");
    assert.match(log.lines.join("\n"), /answered 503/);
    clock.tick(249);
    assert.equal(calls.length, 1, "the retry waits");
    clock.tick(1);
    assert.equal(calls.length, 2);
    await answer(200, [snapshot("s", 2, { count: 2 })]);
    assert.deepEqual(signal.value, { count: 2 });
  });

  test("a snapshot answer without our signal is a failed resync", async () => {
    const { signal, clock, answer } = setup();
    signal.receive(setCount(1, 1));
    clock.tick(0);
    await answer(200, [snapshot("other", 1, {})]);
    assert.equal(signal.state, "resync");
    assert.equal(signal.rev, -1);
  });

  test("a gap left after the snapshot starts another resync", async () => {
    const { signal, clock, calls, answer } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.receive(setCount(2, 2));
    clock.tick(0);
    signal.receive(setCount(5, 5));
    await answer(200, [snapshot("s", 2, { count: 2 })]);
    assert.equal(signal.rev, 2);
    assert.equal(signal.state, "resync", "revisions 3 and 4 are still missing");
    clock.tick(1000);
    assert.equal(calls.length, 2);
  });

  test("closed keeps the value; a later revision than ours is fetched once", async () => {
    const { signal, clock, calls, answer, log } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.close(0);
    assert.equal(signal.state, "closed");
    assert.deepEqual(signal.value, { count: 0 });
    signal.close(3);
    assert.doesNotMatch(log.lines.join("\n"), /closed at revision/, "a close is news, not a warning");
    clock.tick(0);
    await answer(404, { error: "unknown" });
    clock.tick(60_000);
    assert.equal(calls.length, 1, "a closed signal is not retried");
    assert.equal(signal.state, "closed");
    assert.deepEqual(log.lines, [], "the fetch of a closed signal's last value warns of nothing");
  });

  test("a change after closed reopens it", () => {
    const { signal } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.close(0);
    signal.receive(setCount(1, 1));
    assert.equal(signal.state, "live");
  });

  test("after dispose, a fetch on its way changes nothing", async () => {
    const { signal, clock, seen, answer } = setup();
    signal.receive(setCount(1, 1));
    clock.tick(0);
    signal.dispose();
    const before = seen.length;
    await answer(200, [snapshot("s", 1, { count: 1 })]);
    assert.equal(signal.rev, -1);
    assert.equal(seen.length, before);
  });

  test("retries wait 0, then 250 ms doubling, and never more than 30 s", async () => {
    const clock = fakeClock();
    /** @type {number[]} */
    const delays = [];
    let fetches = 0;
    const signal = new Signal("s", {
      snapshotUrl: URL_,
      getSnapshot: async () => {
        fetches += 1;
        throw new Error("down");
      },
      setTimeout: (callback, ms) => {
        delays.push(ms);
        return clock.setTimeout(callback, ms);
      },
      clearTimeout: clock.clearTimeout,
      log: quietLog(),
    });
    signal.receive(setCount(1, 1));
    for (let i = 0; i < 20; i += 1) {
      clock.tick(/** @type {number} */ (delays.at(-1)));
      await settle();
    }
    assert.equal(fetches, 20);
    assert.deepEqual(delays.slice(0, 10), [0, 250, 500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    assert.ok(delays.every((ms) => ms <= 30_000), `the longest wait is ${Math.max(...delays)} ms`);
    assert.equal(signal.state, "resync");
    signal.dispose();
  });

  for (const [buffered, kept] of /** @type {[number, boolean][]} */ ([[10_000, true], [10_001, false]])) {
    test(`a resync keeps ${buffered.toLocaleString("en")} live patches ${kept ? "and applies them all" : "no more: past its bound it starts over"}`, async () => {
      const { signal, clock, calls, answer } = setup();
      signal.receive(snapshot("s", 0, { count: 0 }));
      const last = buffered + 1;
      for (let rev = 2; rev <= last; rev += 1) signal.receive(setCount(rev, rev)); // 1 is missing
      clock.tick(0);
      await answer(200, [snapshot("s", 1, { count: 1 })]);
      if (kept) {
        assert.equal(signal.rev, last);
        assert.deepEqual(signal.value, { count: last });
        assert.equal(signal.state, "live");
      } else {
        // Only the newest survived the bound: the ones before it are gone, so it
        // fetches again rather than holding an ever-growing buffer.
        assert.equal(signal.rev, 1);
        assert.equal(signal.state, "resync");
        clock.tick(250);
        assert.equal(calls.length, 2);
        await answer(200, [snapshot("s", last, { count: last })]);
        assert.equal(signal.state, "live");
      }
    });
  }

  test("stale: the value stays, shows stale, and a hub further than us is fetched once", async () => {
    const { signal, clock, calls, answer, log } = setup();
    signal.receive(snapshot("s", 2, { count: 2 }));
    signal.markOrphaned(2);
    assert.equal(signal.state, "orphaned");
    assert.equal(signal.orphaned, true);
    assert.equal(signal.fetching, false, "at our revision: nothing to fetch");
    clock.tick(60_000);
    assert.equal(calls.length, 0);
    signal.markOrphaned(4);
    assert.equal(signal.state, "resync");
    assert.equal(signal.fetching, true);
    assert.match(log.lines.join("\n"), /s: stale at revision 4, we have 2; fetching a snapshot/);
    clock.tick(0);
    assert.equal(calls.length, 1);
    await answer(200, [{ ...snapshot("s", 4, { count: 4 }), stale: true }]);
    assert.deepEqual(signal.value, { count: 4 });
    assert.equal(signal.state, "orphaned", "the hub marked the snapshot stale: still orphaned");
    assert.equal(signal.fetching, false);
  });

  test("a fetched snapshot past the stale revision, unmarked, ends the stale; at it, keeps it", async () => {
    const { signal, clock, answer } = setup();
    signal.receive(snapshot("s", 1, { count: 1 }));
    signal.markOrphaned(3);
    clock.tick(0);
    await answer(200, [snapshot("s", 3, { count: 3 })]);
    assert.equal(signal.state, "orphaned", "taken at the stale's own revision: may predate it");
    signal.resync("test");
    clock.tick(250); // no patch applied since the last resync: the second waits
    await answer(200, [snapshot("s", 4, { count: 4 })]);
    assert.equal(signal.state, "live", "declared again since (a newer revision, unmarked)");
    assert.equal(signal.orphaned, false);
  });

  test("a snapshot on the stream ends stale and closed; a change ends stale too", () => {
    const { signal } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.markOrphaned(0);
    signal.close(0);
    assert.equal(signal.state, "closed");
    signal.receive(snapshot("s", 1, { count: 1 }));
    assert.equal(signal.state, "live");
    assert.equal(signal.closed, false);
    signal.markOrphaned(1);
    signal.receive(setCount(2, 2));
    assert.equal(signal.state, "live");
    assert.equal(signal.orphaned, false);
  });

  test("a fetched snapshot after closed keeps it closed, and one marked stale marks it", async () => {
    const { signal, clock, answer } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.close(2);
    clock.tick(0);
    await answer(200, [{ ...snapshot("s", 2, { count: 2 }), stale: true }]);
    assert.equal(signal.closed, true);
    assert.equal(signal.orphaned, true);
    assert.equal(signal.state, "closed");
    assert.deepEqual(signal.value, { count: 2 });
  });

  test("refused: the last good value stays, nothing is fetched, and a snapshot serves it again", async () => {
    const { signal, clock, calls, log, seen } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.receive(setCount(2, 2)); // a gap: a resync starts
    signal.refuse({ name: "s", rev: 2, error: "too deep to write" });
    assert.equal(signal.state, "refused");
    assert.equal(signal.refused, "too deep to write");
    assert.equal(signal.fetching, false, "the resync is dropped");
    assert.deepEqual(signal.value, { count: 0 });
    assert.equal(seen.at(-1)?.state, "refused", "listeners hear of it");
    assert.match(log.lines.join("\n"), /s: the hub cannot serve it: too deep to write/);
    clock.tick(60_000);
    assert.equal(calls.length, 0);
    signal.refuse({ name: "s", rev: 2, error: "" });
    assert.equal(signal.refused, "refused", "a refusal without a reason still reads as one");
    signal.receive(snapshot("s", 3, { count: 3 }));
    assert.equal(signal.state, "live");
    assert.equal(signal.refused, "");
  });

  test("a fetch the hub answers with a refusal shows refused, not a value", async () => {
    const { signal, clock, answer } = setup();
    signal.receive(setCount(1, 1));
    clock.tick(0);
    await answer(200, [{ name: "s", rev: 1, error: "cannot write it" }]);
    assert.equal(signal.state, "refused");
    assert.equal(signal.rev, -1);
    assert.equal(signal.value, undefined);
  });

  test("states: empty before anything, live at revision 0", () => {
    const { signal } = setup();
    assert.equal(signal.state, "empty");
    assert.equal(signal.fetching, false);
    signal.receive(snapshot("s", 0, 0));
    assert.equal(signal.state, "live");
  });

  test("resync() fetches once however often it is asked, and says why", () => {
    const { signal, clock, calls, log, seen } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    const before = seen.length;
    signal.resync("a message could not be read");
    signal.resync("again");
    assert.equal(seen.length, before + 2, "each call tells the listeners");
    clock.tick(0);
    assert.equal(calls.length, 1);
    assert.match(log.lines.join("\n"), /s: a message could not be read; fetching a snapshot/);
    assert.doesNotMatch(log.lines.join("\n"), /again/);
  });

  test("the reasons a resync starts are logged as they are", async () => {
    const { signal, clock, answer, log } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.receive(setCount(2, 2));
    assert.match(log.lines.join("\n"), /s: expected revision 1, got 2; fetching a snapshot/);
    clock.tick(0);
    signal.receive(setCount(4, 4));
    await answer(200, [snapshot("s", 2, { count: 2 })]);
    assert.match(log.lines.join("\n"), /s: revisions after 2 are missing; fetching a snapshot/);
    clock.tick(250);
    await answer(200, [snapshot("s", 3, { count: 3, items: 1 })]);
    signal.receive({ name: "s", rev: 5, patch: [{ op: "remove", path: "/nothing" }] });
    assert.match(log.lines.join("\n"), /s: revision 5 does not apply \(/);
  });

  test("after dispose nothing is taken and nobody is told", () => {
    const { signal, clock, calls, seen } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.dispose();
    const before = seen.length;
    signal.receive(setCount(1, 1));
    signal.receive(snapshot("s", 5, { count: 5 }));
    signal.close(3);
    signal.markOrphaned(3);
    signal.refuse({ name: "s", rev: 3, error: "x" });
    signal.resync("x");
    clock.tick(60_000);
    assert.equal(seen.length, before);
    assert.equal(calls.length, 0);
    assert.equal(signal.rev, 0);
    assert.equal(signal.state, "live");
  });

  test("a failed fetch of a closed signal shows what it has, once, and is not retried", async () => {
    const { signal, clock, calls, answer, seen } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.close(1);
    clock.tick(0);
    const before = seen.length;
    await answer(500, { error: "gone" });
    assert.equal(seen.length, before + 1);
    assert.equal(signal.fetching, false);
    clock.tick(60_000);
    assert.equal(calls.length, 1);
  });

  test("the snapshot endpoint's answer must hold our snapshot or refusal", async () => {
    const { signal, clock, answer, log } = setup();
    signal.receive(setCount(1, 1));
    clock.tick(0);
    await answer(200, [{ name: "s", rev: 1, patch: [{ op: "add", path: "/x", value: 1 }] }]);
    assert.equal(signal.rev, -1, "a patch is not a snapshot");
    assert.match(log.lines.join("\n"), /the snapshot endpoint sent no snapshot of it/);
  });

  test("a snapshot of the same revision with another value replaces it (the hub restarted)", () => {
    const { signal } = setup();
    signal.receive(snapshot("s", 3, { count: 3 }));
    signal.receive(snapshot("s", 3, { count: 99 }));
    assert.deepEqual(signal.value, { count: 99 });
  });

  test("a patch that applies resets the backoff: the next gap is fetched at once", async () => {
    const { signal, clock, calls, answer } = setup();
    signal.receive(snapshot("s", 0, { count: 0 }));
    signal.receive(setCount(2, 2));
    clock.tick(0);
    await answer(200, [snapshot("s", 2, { count: 2 })]);
    signal.receive(setCount(3, 3)); // applies
    signal.receive(setCount(5, 5)); // a gap
    clock.tick(0);
    assert.equal(calls.length, 2, "no wait after a patch applied");
  });
});
