// What a page's ConnectionPool and a tab group's leader share (streamwiring.js),
// held to its own promises: timers that belong to a lifetime, one fire per burst,
// events only from the current source, and the search for unknown names.
// connection.test.js and the tab tests drive the same code through its callers.
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, test } from "node:test";
import { Debounce, after, findUnknown, openEventSource, timersOf } from "../src/streamwiring.js";
import { fakeClock, fakeEventSources, fakeFetch } from "./fakes.js";

const BASE = "http://host/user/a/";

/** The clock's timers in the shape streamwiring.js takes. @param {ReturnType<typeof fakeClock>} clock */
const timersFrom = (clock) => timersOf({ setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout });

describe("timersOf", () => {
  test("without a test's clock, the page's timers run and clear", async () => {
    const timers = timersOf({});
    let ran = false;
    timers.set(() => (ran = true), 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(ran, true);
    let cleared = true;
    timers.clear(timers.set(() => (cleared = false), 1));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(cleared, true);
  });
});

describe("after", () => {
  test("a lifetime already over starts nothing", () => {
    const clock = fakeClock();
    const lifetime = new AbortController();
    lifetime.abort();
    let calls = 0;
    after(timersFrom(clock), lifetime.signal, 10, () => calls++);
    clock.tick(100);
    assert.equal(calls, 0);
    assert.equal(clock.pending, 0);
  });

  test("a timer that fired or was cleared leaves nothing on its lifetime (a long role starts thousands)", () => {
    const clock = fakeClock();
    const lifetime = new AbortController();
    let calls = 0;
    after(timersFrom(clock), lifetime.signal, 10, () => calls++);
    const clear = after(timersFrom(clock), lifetime.signal, 10, () => calls++);
    clear();
    clock.tick(100);
    assert.equal(calls, 1);
    assert.equal(getEventListeners(lifetime.signal, "abort").length, 0);
  });

  test("the end of its lifetime clears a timer not yet due", () => {
    const clock = fakeClock();
    const lifetime = new AbortController();
    let calls = 0;
    after(timersFrom(clock), lifetime.signal, 10, () => calls++);
    lifetime.abort();
    clock.tick(100);
    assert.equal(calls, 0);
    assert.equal(clock.pending, 0);
  });
});

describe("Debounce", () => {
  /** @param {{ hold?: () => boolean, signal?: AbortSignal }} [more] */
  function setup(more) {
    const clock = fakeClock();
    let fired = 0;
    const burst = new Debounce(timersFrom(clock), { batchMs: 50, maxBatchMs: 1_000 }, () => fired++, more);
    return { clock, burst, fired: () => fired };
  }

  test("pending from the first call of a burst until it fires", () => {
    const { clock, burst, fired } = setup();
    assert.equal(burst.pending, false);
    burst.schedule();
    clock.tick(30);
    assert.equal(burst.pending, true);
    clock.tick(30);
    assert.equal(fired(), 1);
    assert.equal(burst.pending, false);
  });

  test("a burst held past its pauses fires once, at its deadline, and never again", () => {
    const { clock, burst, fired } = setup({ hold: () => true });
    for (let i = 0; i < 5; i++) {
      burst.schedule();
      clock.tick(10);
    }
    clock.tick(950); // 1,000 ms after the first call
    assert.equal(fired(), 1);
    clock.tick(5_000);
    assert.equal(fired(), 1);
    assert.equal(clock.pending, 0);
  });

  test("a cancelled burst does not fire", () => {
    const { clock, burst, fired } = setup();
    burst.schedule();
    burst.cancel();
    clock.tick(5_000);
    assert.equal(fired(), 0);
    assert.equal(burst.pending, false);
  });

  test("its signal's abort cancels a burst under way and every later one", () => {
    const lifetime = new AbortController();
    const { clock, burst, fired } = setup({ signal: lifetime.signal });
    burst.schedule();
    lifetime.abort();
    clock.tick(5_000);
    burst.schedule();
    clock.tick(5_000);
    assert.equal(fired(), 0);
    assert.equal(clock.pending, 0);
  });
});

describe("openEventSource", () => {
  test("a source that is no longer current reaches nobody: no open, frames or errors", () => {
    const sources = fakeEventSources();
    /** @type {string[]} */
    const heard = [];
    let current = true;
    const source = openEventSource({ EventSource: sources.EventSource }, BASE, ["a"], {}, {
      isCurrent: (s) => current && s === source,
      open: () => heard.push("open"),
      event: (type) => heard.push(type),
      error: (gaveUp) => heard.push(`error ${gaveUp}`),
    });
    const fake = sources.instances[0];
    fake.open();
    fake.emit({ name: "a", rev: 1, patch: [] });
    fake.emit({}, "stale");
    fake.error(true);
    assert.deepEqual(heard, ["open", "message", "stale", "error true"]);
    current = false;
    fake.open();
    fake.emit({ name: "a", rev: 2, patch: [] });
    for (const type of ["closed", "stale", "refused"]) fake.emit({ name: "a" }, type);
    fake.error(false);
    assert.deepEqual(heard, ["open", "message", "stale", "error true"]);
  });
});

describe("findUnknown", () => {
  /** @param {Set<string>} known @param {number} [status] what a stream with an unknown name gets */
  function hub(known, status = 404) {
    return fakeFetch((url) => {
      const names = new URL(url).searchParams.getAll("signal");
      if (names.every((n) => known.has(n))) return { status: 200, body: [] };
      return { status, body: { error: "no" } };
    });
  }

  test("one name the hub does not know is unknown, asked about once", async () => {
    const { fetch, calls } = hub(new Set());
    const { answer, unknown } = await findUnknown({ fetch }, BASE, "", ["x"], false);
    assert.equal(answer.status, 404);
    assert.deepEqual(unknown, ["x"]);
    assert.equal(calls.length, 1);
  });

  test("after a 404 for several names, each is asked alone and only the unknown ones are named", async () => {
    const { fetch } = hub(new Set(["a", "c"]));
    const { unknown } = await findUnknown({ fetch }, BASE, "", ["a", "x", "c", "y"], false);
    assert.deepEqual(unknown, ["x", "y"]);
  });

  test("a rejection that is not a 404 (a token refused) names no unknown and asks nothing more", async () => {
    const { fetch, calls } = hub(new Set(["a"]), 403);
    const { answer, unknown } = await findUnknown({ fetch }, BASE, "", ["a", "x"], false);
    assert.equal(answer.status, 403);
    assert.deepEqual(unknown, []);
    assert.equal(calls.length, 1);
  });
});
