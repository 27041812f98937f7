import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConnectionPool, REGISTRY_KEY, sharedPool } from "../src/connection.js";
import { readsLive } from "../src/signal.js";
import { fakeClock, fakeEventSources, fakeFetch, quietLog, settle, snapshot } from "./fakes.js";

const BASE = "http://host/user/a/";

/**
 * A pool with fake EventSource, clock, snapshot endpoint (answers from
 * `known`: a name not in it gets 404) and logger.
 */
function setup(known = new Set(["a", "b", "c"])) {
  const clock = fakeClock();
  const sources = fakeEventSources();
  const log = quietLog();
  const { fetch, calls } = fakeFetch((url) => {
    const names = new URL(url).searchParams.getAll("signal");
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length) return { status: 404, body: { error: `unknown signals: ${unknown.join(", ")}` } };
    return { status: 200, body: names.map((n) => snapshot(n, 0, null)) };
  });
  const pool = new ConnectionPool({ EventSource: sources.EventSource, fetch, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, log });
  /** Record what a listener hears. */
  const listener = () => {
    /** @type {any[]} */
    const events = [];
    const listen = (/** @type {any} */ event) => void events.push(event);
    return Object.assign(listen, {
      events,
      values: () => events.filter((e) => e.type === "value").map((e) => e.value),
      statuses: () => events.filter((e) => e.type === "status").map((e) => e.status),
    });
  };
  return { pool, clock, sources, log, calls, listener };
}

describe("ConnectionPool", () => {
  test("ten joins in one tick open exactly one EventSource with all ten names", () => {
    const { pool, clock, sources, listener } = setup();
    const names = Array.from({ length: 10 }, (_, i) => `k-1/s${i}`);
    for (const name of names) pool.join(BASE, name, listener());
    assert.equal(sources.instances.length, 0, "opening waits for the batch");
    clock.tick(50);
    assert.equal(sources.instances.length, 1);
    assert.deepEqual(sources.instances[0].names, [...names].sort());
    assert.ok(sources.instances[0].url.startsWith(`${BASE}nb-sse-signals/events?signal=k-1%2Fs0&`));
    assert.doesNotMatch(sources.instances[0].url, /lastEventId/);
  });

  test("joins that trickle in, each within the quiet period of the last, open one EventSource", () => {
    const { pool, clock, sources, listener } = setup();
    // As in JupyterLab: each widget model joins after importing its module, 20–40 ms apart.
    for (let i = 0; i < 10; i++) {
      pool.join(BASE, `k-1/s${i}`, listener());
      clock.tick(40);
    }
    assert.equal(sources.instances.length, 0, "still joining: not yet");
    clock.tick(10);
    assert.equal(sources.instances.length, 1);
    assert.equal(sources.instances[0].names.length, 10);
  });

  test("joins that never pause still open the stream within maxBatchMs of the first", () => {
    const { pool, clock, sources, listener } = setup();
    for (let i = 0; i < 30; i++) {
      pool.join(BASE, `k-1/s${i}`, listener());
      clock.tick(40);
      if (sources.instances.length) break;
    }
    assert.equal(sources.instances.length, 1, "opened while joins kept coming");
    assert.equal(sources.instances[0].names.length, 25, "at 1 s: the joins of 0, 40, …, 960 ms");
  });

  test("widgets of one signal share one subscription and each gets its messages", () => {
    const { pool, clock, sources, listener } = setup();
    const first = listener();
    const second = listener();
    const other = listener();
    pool.join(BASE, "a", first);
    pool.join(BASE, "a", second);
    pool.join(BASE, "b", other);
    clock.tick(50);
    const [source] = sources.instances;
    assert.deepEqual(source.names, ["a", "b"]);
    source.open();
    source.emit(snapshot("a", 0, { x: 1 }));
    source.emit(snapshot("b", 0, "bee"));
    source.emit({ name: "a", rev: 1, patch: [{ op: "replace", path: "/x", value: 2 }] });
    assert.deepEqual(first.values(), [{ x: 1 }, { x: 2 }]);
    assert.deepEqual(second.values(), [{ x: 1 }, { x: 2 }]);
    assert.equal(first.values()[1], second.values()[1], "one state machine, one value object");
    assert.deepEqual(other.values(), ["bee"]);
  });

  test("a listener that reads live values gets the live value, and changes are made in place while only such listen", () => {
    const { pool, clock, sources, listener } = setup();
    const chart = readsLive(listener());
    pool.join(BASE, "a", chart);
    clock.tick(50);
    const [source] = sources.instances;
    source.open();
    source.emit(snapshot("a", 0, { y: [1] }));
    source.emit({ name: "a", rev: 1, patch: [{ op: "add", path: "/y/-", value: 2 }] });
    const live = chart.events.at(-1).live;
    source.emit({ name: "a", rev: 2, patch: [{ op: "add", path: "/y/-", value: 3 }] });
    assert.equal(chart.events.at(-1).live, live, "changed in place");
    assert.deepEqual(live, { y: [1, 2, 3] });
    assert.deepEqual(chart.events.filter((/** @type {any} */ e) => e.type === "value").map((/** @type {any} */ e) => e.rev), [0, 1, 2]);
    // A widget that keeps values joins: from then on each change copies what it touches.
    const kept = listener();
    pool.join(BASE, "a", kept);
    source.emit({ name: "a", rev: 3, patch: [{ op: "add", path: "/y/-", value: 4 }] });
    assert.deepEqual(kept.values(), [{ y: [1, 2, 3] }, { y: [1, 2, 3, 4] }], "what it was given never changed");
    assert.deepEqual(chart.events.at(-1).live, { y: [1, 2, 3, 4] });
  });

  test("a widget joining a followed signal gets its current value at once, without reopening", () => {
    const { pool, clock, sources, listener } = setup();
    pool.join(BASE, "a", listener());
    clock.tick(50);
    sources.instances[0].open();
    sources.instances[0].emit(snapshot("a", 4, [1, 2]));
    const late = listener();
    pool.join(BASE, "a", late);
    clock.tick(50);
    assert.deepEqual(late.events, [
      { type: "value", value: [1, 2], rev: 4 },
      { type: "status", status: "live" },
    ]);
    assert.equal(sources.instances.length, 1);
  });

  test("leaving one of two listeners keeps the stream; leaving the last closes it", () => {
    const { pool, clock, sources, listener } = setup();
    const leaveFirst = pool.join(BASE, "a", listener());
    const leaveSecond = pool.join(BASE, "a", listener());
    clock.tick(50);
    leaveFirst();
    leaveFirst(); // idempotent
    clock.tick(50);
    assert.equal(sources.live().length, 1);
    leaveSecond();
    clock.tick(50);
    assert.equal(sources.live().length, 0);
    assert.equal(pool.size, 0, "an empty connection leaves the pool");
  });

  test("a join after a leave reopens the stream with the new set, without a cursor", () => {
    const { pool, clock, sources, listener } = setup();
    const leaveA = pool.join(BASE, "a", listener());
    pool.join(BASE, "b", listener());
    clock.tick(50);
    leaveA();
    pool.join(BASE, "c", listener());
    clock.tick(50);
    assert.equal(sources.instances.length, 2, "one reopen for the leave and the join together");
    assert.equal(sources.instances[0].readyState, 2);
    assert.deepEqual(sources.instances[1].names, ["b", "c"]);
    assert.doesNotMatch(sources.instances[1].url, /lastEventId/);
  });

  test("a leave and a join of the same name within the batch do not reopen", () => {
    const { pool, clock, sources, listener } = setup();
    const leave = pool.join(BASE, "a", listener());
    clock.tick(50);
    leave();
    pool.join(BASE, "a", listener());
    clock.tick(50);
    assert.equal(sources.instances.length, 1);
  });

  test("a reopen's snapshots do not disturb signals that already have them", () => {
    const { pool, clock, sources, listener } = setup();
    const a = listener();
    pool.join(BASE, "a", a);
    clock.tick(50);
    sources.instances[0].open();
    sources.instances[0].emit(snapshot("a", 2, { big: [1, 2, 3] }));
    pool.join(BASE, "b", listener());
    clock.tick(50);
    const [, reopened] = sources.instances;
    reopened.open();
    reopened.emit(snapshot("a", 2, { big: [1, 2, 3] }));
    reopened.emit(snapshot("b", 0, null));
    assert.equal(a.values().length, 1, "the same revision again is no change");
  });

  test("status: connecting, live, stale while the browser retries, live again, error when it gives up", async () => {
    const { pool, clock, sources, listener } = setup(new Set());
    const a = listener();
    pool.join(BASE, "a", a);
    clock.tick(50);
    const [source] = sources.instances;
    source.open();
    assert.deepEqual(a.statuses(), ["connecting"], "live needs a value first");
    source.emit(snapshot("a", 0, 1));
    source.error(false);
    source.open();
    source.error(true);
    await settle();
    assert.deepEqual(a.statuses(), ["connecting", "live", "stale", "live", "error"]);
  });

  test("a signal the hub does not know is left out, so the others keep flowing, and rejoined once it exists", async () => {
    const known = new Set(["a"]);
    const { pool, clock, sources, listener, log } = setup(known);
    const a = listener();
    const typo = listener();
    pool.join(BASE, "a", a);
    pool.join(BASE, "typo", typo);
    clock.tick(50);
    sources.instances[0].error(true); // the hub answered 404
    await settle();
    assert.equal(typo.statuses().at(-1), "error");
    assert.match(log.lines.join("\n"), /\[nb_sse_signals\] cannot subscribe to a, typo .*404 .*unknown signals: typo/);
    const retried = sources.live();
    assert.equal(retried.length, 1);
    assert.deepEqual(retried[0].names, ["a"]);
    retried[0].open();
    retried[0].emit(snapshot("a", 0, "ok"));
    assert.equal(a.statuses().at(-1), "live");
    assert.ok(!a.statuses().includes("error"), "a known signal never shows the other's error");
    clock.tick(2_000); // probe: still unknown
    await settle();
    assert.equal(sources.instances.length, 2);
    known.add("typo");
    clock.tick(4_000); // probe again: it exists now
    await settle();
    assert.equal(sources.instances.length, 3);
    assert.deepEqual(sources.instances[2].names, ["a", "typo"]);
  });

  test("a refused stream (403) is retried with backoff", async () => {
    const { pool, clock, sources, listener } = setup();
    pool.join(BASE, "a", listener());
    clock.tick(50);
    sources.instances[0].error(true);
    await settle();
    assert.equal(sources.live().length, 0);
    clock.tick(2_000);
    assert.equal(sources.live().length, 1);
  });

  test("a stale event (the hub lost Redis) shows stale until the hub's next event", () => {
    const { pool, clock, sources, listener } = setup();
    const a = listener();
    pool.join(BASE, "a", a);
    clock.tick(50);
    const [source] = sources.instances;
    source.open();
    source.emit(snapshot("a", 3, 3));
    source.emit({}, "stale");
    assert.equal(a.statuses().at(-1), "stale");
    assert.equal(a.values().at(-1), 3, "the last good value stays");
    source.emit(snapshot("a", 4, 4)); // resynced: the hub's snapshots
    assert.deepEqual(a.statuses().slice(-2), ["stale", "live"]);
  });

  test("a refused event marks only that signal's widgets error; the others on the stream stay live", () => {
    const { pool, clock, sources, listener, calls } = setup();
    const a = listener();
    const b = listener();
    pool.join(BASE, "a", a);
    pool.join(BASE, "b", b);
    clock.tick(50);
    const [source] = sources.instances;
    source.open();
    source.emit(snapshot("a", 0, { n: 0 }));
    source.emit(snapshot("b", 0, { n: 0 }), "message", "e-1");
    source.emit({ name: "a", rev: 1, error: "expected at most 250 levels of nesting" }, "refused", "e-2");
    assert.equal(a.statuses().at(-1), "error");
    assert.deepEqual(a.values(), [{ n: 0 }], "the last good value stays");
    assert.equal(b.statuses().at(-1), "live");
    source.emit({ name: "b", rev: 1, patch: [{ op: "replace", path: "/n", value: 1 }] }, "message", "e-3");
    assert.deepEqual(b.values(), [{ n: 0 }, { n: 1 }], "the others keep streaming");
    assert.equal(b.statuses().at(-1), "live");
    assert.equal(a.statuses().at(-1), "error", "still refused");
    clock.tick(60_000);
    assert.equal(calls.length, 0, "a refused signal fetches nothing: the hub sends a snapshot when it can");
    assert.equal(sources.live().length, 1, "the stream is not reopened");
    source.emit(snapshot("a", 5, { n: 5 }), "message", "e-4"); // served again
    assert.equal(a.statuses().at(-1), "live");
    assert.deepEqual(a.values().at(-1), { n: 5 });
  });

  test("a per-signal stale event (its publisher is gone) marks only that signal stale, until it is declared again", () => {
    const { pool, clock, sources, listener } = setup();
    const a = listener();
    const b = listener();
    pool.join(BASE, "a", a);
    pool.join(BASE, "b", b);
    clock.tick(50);
    const [source] = sources.instances;
    source.open();
    source.emit(snapshot("a", 2, 2));
    source.emit(snapshot("b", 0, 0), "message", "e-1");
    source.emit({ name: "a", rev: 2 }, "stale");
    assert.equal(a.statuses().at(-1), "stale");
    assert.equal(b.statuses().at(-1), "live");
    source.emit({ name: "b", rev: 1, patch: [{ op: "replace", path: "", value: 1 }] }, "message", "e-2");
    assert.equal(a.statuses().at(-1), "stale", "another signal's change does not end it");
    source.emit({ name: "a", rev: 3, patch: [{ op: "replace", path: "", value: 2 }] }, "message", "e-3");
    assert.deepEqual(a.statuses().slice(-2), ["stale", "live"]);
    assert.equal(a.values().at(-1), 2, "the same value, at the new revision");
  });

  test("a closed event reaches its signal's listeners", () => {
    const { pool, clock, sources, listener } = setup();
    const a = listener();
    pool.join(BASE, "a", a);
    clock.tick(50);
    sources.instances[0].open();
    sources.instances[0].emit(snapshot("a", 3, 3));
    sources.instances[0].emit({ name: "a", rev: 3 }, "closed");
    assert.equal(a.statuses().at(-1), "closed");
  });

  test("a bad message is logged and resyncs the signal it names", async () => {
    const { pool, clock, sources, listener, calls, log } = setup();
    pool.join(BASE, "a", listener());
    clock.tick(50);
    sources.instances[0].open();
    sources.instances[0].emit("{not json");
    sources.instances[0].emit({ name: "a", rev: 1, patch: "replace everything" });
    clock.tick(0);
    await settle();
    assert.match(log.lines.join("\n"), /expected JSON event data/);
    assert.match(log.lines.join("\n"), /expected "patch" to be an array/);
    assert.deepEqual(calls.map((c) => c.url), [`${BASE}nb-sse-signals/snapshot?signal=a`]);
  });

  test("a listener that throws does not starve the others", () => {
    const { pool, clock, sources, listener, log } = setup();
    const good = listener();
    pool.join(BASE, "a", () => {
      throw new Error("boom");
    });
    pool.join(BASE, "a", good);
    clock.tick(50);
    sources.instances[0].emit(snapshot("a", 0, 1));
    assert.deepEqual(good.values(), [1]);
    assert.match(log.lines.join("\n"), /a listener failed/);
  });

  test("a token goes in both URLs, and bases or tokens never share a stream", () => {
    const { pool, clock, sources, listener } = setup();
    pool.join("http://127.0.0.1:8765/", "a", listener(), { token: "t0k" });
    pool.join("http://127.0.0.1:8765/", "a", listener(), { token: "other" });
    pool.join(BASE, "a", listener());
    clock.tick(50);
    assert.equal(sources.instances.length, 3);
    assert.equal(sources.instances[0].url, "http://127.0.0.1:8765/nb-sse-signals/events?signal=a&token=t0k");
  });
});

describe("sharedPool", () => {
  test("one pool per key on globalThis; two versions never collide", () => {
    const one = Symbol.for("nb_sse_signals.connections@test-1");
    const two = Symbol.for("nb_sse_signals.connections@test-2");
    try {
      assert.equal(sharedPool(one), sharedPool(one), "each widget module finds the same pool");
      assert.notEqual(sharedPool(one), sharedPool(two));
    } finally {
      delete (/** @type {any} */ (globalThis))[one];
      delete (/** @type {any} */ (globalThis))[two];
    }
  });

  test("the default key names the package version", () => {
    assert.equal(REGISTRY_KEY, Symbol.for("nb_sse_signals.connections@0.1.0"));
  });
});
