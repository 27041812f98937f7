import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { REGISTRY_KEY } from "../src/connection.js";
import widget, { initializeLive } from "../src/widget.js";
import { newDocument } from "./dom.js";
import { fakeEventSources, fakeModel, snapshot } from "./fakes.js";

// The widget uses the page's globals (EventSource, the registry on
// globalThis, real timers); these tests stand in for the page.
const wait = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

const defaults = { url: "http://127.0.0.1:8765/", token: "", name: "k/count", pointer: "", template: "", format_js: "", value: null, rev: -1, status: "" };

describe("widget", () => {
  /** @type {ReturnType<typeof fakeEventSources>} */
  let sources;
  beforeEach(() => {
    sources = fakeEventSources();
    /** @type {any} */ (globalThis).EventSource = sources.EventSource;
  });
  afterEach(() => {
    delete (/** @type {any} */ (globalThis)).EventSource;
    delete (/** @type {any} */ (globalThis))[REGISTRY_KEY];
  });

  test("initialize sets value, rev and status from the stream and never saves them", async () => {
    const model = fakeModel({ ...defaults, pointer: "/value" });
    const other = fakeModel({ ...defaults });
    const cleanup = widget.initialize({ model });
    const cleanupOther = widget.initialize({ model: other });
    assert.equal(model.state.status, "connecting", "initialize returns before the network answers");
    await wait(100);
    assert.equal(sources.instances.length, 1, "two widgets of one signal share one stream");
    const [source] = sources.instances;
    source.open();
    source.emit(snapshot("k/count", 2, { value: 2 }));
    assert.equal(model.state.value, 2, "the pointer selects a part");
    assert.deepEqual(other.state.value, { value: 2 });
    assert.equal(model.state.rev, 2);
    assert.equal(model.state.status, "live");
    source.emit({ name: "k/count", rev: 3, patch: [{ op: "replace", path: "/value", value: 3 }] });
    assert.equal(model.state.value, 3);
    model.set("pointer", "");
    assert.deepEqual(model.state.value, { value: 3 }, "a new pointer reselects at once");
    assert.equal(model.saves + other.saves, 0, "the kernel has its own copy: nothing is sent back");
    cleanup();
    cleanupOther();
    await wait(100);
    assert.equal(sources.live().length, 0, "the last widget to go closes the stream");
  });

  test("initializeLive gives the model the live value, changed in place, and a new rev at each change", async () => {
    const model = fakeModel({ ...defaults });
    const cleanup = initializeLive({ model });
    await wait(100);
    const [source] = sources.instances;
    source.open();
    source.emit(snapshot("k/count", 0, { y: [1] }));
    source.emit({ name: "k/count", rev: 1, patch: [{ op: "add", path: "/y/-", value: 2 }] });
    const value = model.state.value;
    /** @type {number[]} */
    const revs = [];
    model.on("change:rev", () => revs.push(Number(model.state.rev)));
    source.emit({ name: "k/count", rev: 2, patch: [{ op: "add", path: "/y/-", value: 3 }] });
    assert.equal(model.state.value, value, "the same object, changed in place");
    assert.deepEqual(value, { y: [1, 2, 3] });
    assert.deepEqual(revs, [2]);
    cleanup();
    await wait(100);
  });

  test("a widget that needs a token waits for the kernel to send it, and never has it as state", async () => {
    const model = fakeModel({ ...defaults, needs_token: true });
    const cleanup = widget.initialize({ model });
    assert.deepEqual(model.sent, [{ type: "hello" }], "asks the kernel for the token");
    await wait(100);
    assert.equal(sources.instances.length, 0, "no stream without the token");
    model.receive({ type: "token", token: "s3cret" });
    await wait(100);
    assert.equal(sources.instances.length, 1);
    assert.match(sources.instances[0].url, /token=s3cret/);
    assert.ok(!Object.values(model.state).includes("s3cret"), "the token is not model state");
    model.receive({ type: "token", token: "again" }); // offered again: already following
    await wait(100);
    assert.equal(sources.instances.length, 1);
    cleanup();
  });

  test("initialize follows a new signal name", async () => {
    const model = fakeModel({ ...defaults });
    const cleanup = widget.initialize({ model });
    await wait(100);
    model.set("name", "k/other");
    await wait(100);
    assert.deepEqual(sources.live().map((s) => s.names), [["k/other"]]);
    cleanup();
  });

  test("render draws the model's value and follows its changes until cleaned up", () => {
    // A real HTML parser: a template becomes DOM nodes (template.js).
    const doc = newDocument();
    const el = doc.createElement("div");
    const model = fakeModel({ ...defaults, value: 1, rev: 1, status: "live", template: "n={value}" });
    const cleanup = widget.render({ model, el: /** @type {any} */ (el) });
    const root = /** @type {any} */ (el.childNodes[0]);
    assert.equal(root.childNodes[1].innerHTML, "n=1");
    model.set("value", 2);
    model.set("status", "stale");
    assert.equal(root.childNodes[1].innerHTML, "n=2");
    assert.match(root.className, /nb-sse-signals-status-stale/);
    cleanup();
    assert.equal(el.childNodes.length, 0);
    assert.equal([...model.handlers.values()].reduce((n, s) => n + s.size, 0), 0, "no handler left behind");
  });

  test("render shows nothing, and never calls format_js, before the first value", () => {
    const doc = newDocument();
    const el = doc.createElement("div");
    /** @type {unknown[]} */
    const seen = [];
    const format_js = "(v) => { globalThis.__seen.push(v); return `loss ${v.loss}`; }";
    /** @type {any} */ (globalThis).__seen = seen;
    try {
      // The kernel's first state: no value yet (null), rev -1.
      const model = fakeModel({ ...defaults, status: "connecting", format_js });
      const cleanup = widget.render({ model, el: /** @type {any} */ (el) });
      const root = /** @type {any} */ (el.childNodes[0]);
      assert.deepEqual(seen, [], "a formatter would get a placeholder null");
      assert.equal(root.childNodes[1].textContent, "");
      model.set("rev", 0);
      model.set("value", { loss: 0.5 });
      assert.deepEqual(seen, [{ loss: 0.5 }]);
      assert.equal(root.childNodes[1].textContent, "loss 0.5");
      cleanup();
    } finally {
      delete (/** @type {any} */ (globalThis)).__seen;
    }
  });
});
