import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { followComm } from "../src/comm.js";
import widget from "../src/widget.js";
import { fakeClock, fakeModel, quietLog, settle, snapshot } from "./fakes.js";

/** The kernel relays SSE events as [event, data] pairs (nb_sse_signals/_comm.py). */
const events = (/** @type {[string, unknown][]} */ ...pairs) => ({
  type: "events",
  events: pairs.map(([event, data]) => [event, JSON.stringify(data)]),
});
const change = (/** @type {number} */ rev, /** @type {number} */ n) => ({
  name: "s",
  rev,
  patch: [{ op: "replace", path: "/n", value: n }],
});

function setup() {
  const model = fakeModel({});
  const clock = fakeClock();
  /** @type {any[]} */
  const seen = [];
  const leave = followComm(model, "s", (event) => seen.push(event), {
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    log: quietLog(),
  });
  const values = () => seen.filter((e) => e.type === "value").map((e) => [e.rev, e.value]);
  const statuses = () => seen.filter((e) => e.type === "status").map((e) => e.status);
  return { model, clock, seen, leave, values, statuses };
}

describe("comm transport", () => {
  test("says hello, then applies the relayed snapshot and changes through Signal", () => {
    const { model, values, statuses, leave } = setup();
    assert.deepEqual(model.sent, [{ type: "hello" }]);
    assert.deepEqual(statuses(), ["connecting"]);
    model.receive(events(["message", snapshot("s", 0, { n: 0 })]));
    model.receive(events(["message", change(1, 1)], ["message", change(2, 2)]));
    assert.deepEqual(values(), [
      [0, { n: 0 }],
      [1, { n: 1 }],
      [2, { n: 2 }],
    ]);
    assert.deepEqual(statuses(), ["connecting", "live"]);
    leave();
  });

  test("a gap asks the kernel for a snapshot over the comm and replays what came meanwhile", async () => {
    const { model, clock, values, statuses, leave } = setup();
    model.receive(events(["message", snapshot("s", 0, { n: 0 })]));
    model.receive(events(["message", change(3, 3)]));
    assert.deepEqual(statuses(), ["connecting", "live", "stale"]);
    clock.tick(0);
    assert.deepEqual(model.sent.at(-1), { type: "snapshot" });
    model.receive(events(["message", change(4, 4)]));
    model.receive({ type: "snapshot", data: JSON.stringify(snapshot("s", 3, { n: 3 })) });
    await settle();
    assert.deepEqual(values().at(-1), [4, { n: 4 }]);
    assert.deepEqual(
      values().map(([rev]) => rev),
      [0, 4],
      "rev 3 only as the base for 4; never a value on the wrong base",
    );
    assert.equal(statuses().at(-1), "live");
    leave();
  });

  test("a snapshot request the busy kernel does not answer in time is asked again", async () => {
    const { model, clock, values, leave } = setup();
    model.receive(events(["message", change(5, 5)])); // no base yet
    clock.tick(0);
    assert.equal(model.sent.filter((m) => /** @type {any} */ (m).type === "snapshot").length, 1);
    clock.tick(10_000); // the kernel is busy: no answer in time
    await settle();
    clock.tick(1_000); // the retry after the first backoff step (250 ms)
    await settle();
    assert.equal(model.sent.filter((m) => /** @type {any} */ (m).type === "snapshot").length, 2);
    model.receive({ type: "snapshot", data: JSON.stringify(snapshot("s", 5, { n: 5 })) });
    await settle();
    assert.deepEqual(values(), [[5, { n: 5 }]]);
    leave();
  });

  test("closed events close the signal; other signals' events and bad data are ignored", () => {
    const { model, values, statuses, leave } = setup();
    model.receive(events(["message", snapshot("s", 0, { n: 0 })]));
    model.receive(events(["message", snapshot("other", 7, { n: 99 })]));
    model.receive({ type: "events", events: [["message", "{not json"]] });
    model.receive({ type: "nonsense" });
    model.receive(null);
    assert.deepEqual(values(), [[0, { n: 0 }]]);
    model.receive(events(["closed", { name: "s", rev: 0 }]));
    assert.equal(statuses().at(-1), "closed");
    leave();
  });

  test("stale and refused events over the comm; a refused snapshot answer ends the resync", async () => {
    const { model, clock, values, statuses, leave } = setup();
    model.receive(events(["message", snapshot("s", 0, { n: 0 })]));
    model.receive(events(["stale", { name: "s", rev: 0 }]));
    assert.equal(statuses().at(-1), "stale");
    model.receive(events(["message", snapshot("s", 1, { n: 0 })]));
    assert.equal(statuses().at(-1), "live");
    model.receive(events(["refused", { name: "other", rev: 1, error: "no" }]));
    assert.equal(statuses().at(-1), "live", "another signal's refusal is not ours");
    model.receive(events(["message", change(3, 3)])); // a gap: ask the kernel
    clock.tick(0);
    model.receive({ type: "snapshot", data: JSON.stringify({ name: "s", rev: 3, error: "too deep" }) });
    await settle();
    assert.equal(statuses().at(-1), "error");
    assert.deepEqual(values().at(-1), [1, { n: 0 }], "the last good value stays");
    leave();
  });

  test("a hub-wide stale over the comm shows stale until the hub sends the signal again, even a snapshot at the same revision", () => {
    const { model, values, statuses, leave } = setup();
    model.receive(events(["message", snapshot("s", 0, { n: 0 })]));
    model.receive(events(["stale", {}])); // the hub lost its backplane
    assert.equal(statuses().at(-1), "stale");
    model.receive(events(["closed", { name: "other", rev: 0 }]));
    assert.equal(statuses().at(-1), "stale", "another signal's end: the hub may still be behind");
    model.receive(events(["message", snapshot("s", 0, { n: 0 })])); // back in step, nothing changed meanwhile
    assert.equal(statuses().at(-1), "live");
    model.receive(events(["stale", {}]));
    model.receive(events(["message", change(1, 1)]));
    assert.deepEqual(statuses(), ["connecting", "live", "stale", "live", "stale", "live"]);
    assert.deepEqual(values(), [
      [0, { n: 0 }],
      [1, { n: 1 }],
    ]);
    leave();
  });

  test("leaving stops listening to the comm", () => {
    const { model, values, leave } = setup();
    leave();
    leave();
    model.receive(events(["message", snapshot("s", 0, { n: 0 })]));
    assert.deepEqual(values(), []);
    assert.equal(model.handlers.get("msg:custom")?.size ?? 0, 0);
  });

  test("the widget follows over the comm when its transport is comm, and opens no stream", () => {
    /** @type {any} */ (globalThis).EventSource = class {
      constructor() {
        throw new Error("no EventSource over the comm transport");
      }
    };
    try {
      const model = fakeModel({ url: "", token: "", name: "s", pointer: "/n", transport: "comm", value: null, rev: -1, status: "" });
      const cleanup = widget.initialize({ model });
      assert.deepEqual(model.sent, [{ type: "hello" }]);
      model.receive(events(["message", snapshot("s", 2, { n: 7 })]));
      assert.equal(model.state.value, 7);
      assert.equal(model.state.rev, 2);
      assert.equal(model.state.status, "live");
      assert.equal(model.saves, 0, "never saved back: the kernel has its own copy");
      cleanup();
    } finally {
      delete (/** @type {any} */ (globalThis)).EventSource;
    }
  });
});
