import assert from "node:assert/strict";
import { describe, test } from "node:test";
import link, { linkTrait, setLocally, valueProblem } from "../src/link.js";
import { fakeModel, settle } from "./fakes.js";

// Node has no widget manager: fakeModel stands in for ipywidgets' models, with
// `_buffered_state_diff` kept the way WidgetModel.set keeps it (every set is
// remembered for the next save_changes).

/** @param {Record<string, unknown>} state */
function widgetModel(state) {
  const model = /** @type {ReturnType<typeof fakeModel> & { _buffered_state_diff: Record<string, unknown>, widget_manager?: any, views?: any }} */ (
    fakeModel(state)
  );
  model._buffered_state_diff = {};
  const set = model.set;
  model.set = (key, value) => {
    set(key, value);
    model._buffered_state_diff[key] = value;
  };
  return model;
}

const quiet = () => {
  /** @type {unknown[][]} */
  const errors = [];
  return { errors, error: (/** @type {unknown[]} */ ...data) => void errors.push(data) };
};

describe("linkTrait", () => {
  test("copies every value into the target and never saves it", () => {
    const source = widgetModel({ name: "s", value: [1, 2], rev: 3 });
    const target = widgetModel({ y: [0] });
    /** @type {string[]} */
    const reports = [];
    const stop = linkTrait(source, target, "y", (p) => reports.push(p));
    assert.deepEqual(target.get("y"), [1, 2], "the current value at once");
    source.set("value", [1, 2, 3]);
    assert.deepEqual(target.get("y"), [1, 2, 3]);
    assert.equal(target.saves, 0, "no save_changes");
    assert.deepEqual(target._buffered_state_diff, {}, "nothing left for another save to send");
    stop();
    source.set("value", [9]);
    assert.deepEqual(target.get("y"), [1, 2, 3], "unlinked: the target keeps its value");
    assert.deepEqual(reports, ["", ""]);
  });

  test("leaves the target alone before the signal's first value", () => {
    const source = widgetModel({ value: null, rev: -1 });
    const target = widgetModel({ value: 5 });
    /** @type {string[]} */
    const reports = [];
    linkTrait(source, target, "value", (p) => reports.push(p));
    assert.equal(target.get("value"), 5);
    assert.deepEqual(reports, []);
  });

  test("a value that does not fit is reported and not set; the next good one is", () => {
    const source = widgetModel({ value: { a: 1 }, rev: 0 });
    const target = widgetModel({ y: new Float64Array([1, 2]) });
    /** @type {string[]} */
    const reports = [];
    linkTrait(source, target, "y", (p) => reports.push(p));
    source.set("value", [1, "two"]);
    source.set("value", null);
    assert.deepEqual(target.get("y"), new Float64Array([1, 2]));
    source.set("value", [3, null]);
    assert.deepEqual(target.get("y"), [3, null], "null is a gap, not a bad value");
    assert.deepEqual(reports, [
      'expected a list, got an object with keys ["a"]',
      'expected a list of numbers, item 1 is string "two"',
      "the signal has no value there (yet?): got null",
      "",
    ]);
  });

  test("a view that throws inside set is reported, not thrown into the page", () => {
    const source = widgetModel({ value: 3, rev: 0 });
    const target = widgetModel({ value: 0 });
    target.on("change:value", () => {
      throw new Error("cannot draw");
    });
    /** @type {string[]} */
    const reports = [];
    assert.doesNotThrow(() => linkTrait(source, target, "value", (p) => reports.push(p)));
    assert.deepEqual(reports, ["the target rejected it: cannot draw"]);
  });
});

test("valueProblem takes the trait's current value for its type", () => {
  assert.equal(valueProblem(1, undefined), "the target has no such trait");
  assert.equal(valueProblem({ any: "thing" }, null), "");
  assert.equal(valueProblem(3.5, 1), "");
  assert.equal(valueProblem("3", 1), 'expected a number, got string "3"');
  assert.equal(valueProblem(1, "text"), "expected a string, got number 1");
  assert.equal(valueProblem(["a", 1], ["b"]), "", "a list of strings may hold anything");
  assert.equal(valueProblem([1, {}], [0]), "expected a list of numbers, item 1 is an object with keys []");
  assert.equal(valueProblem([1], { a: 1 }), "expected an object, got a list of 1");
  assert.equal(valueProblem(true, false), "");
});

test("setLocally leaves other buffered changes to be saved", () => {
  const target = widgetModel({ x: [], selected: null });
  target.set("selected", [1]);
  setLocally(target, "x", [1, 2]);
  assert.deepEqual(target._buffered_state_diff, { selected: [1] });
});

describe("the SignalLink module", () => {
  /** @param {Record<string, unknown>} models @param {Record<string, unknown>} state */
  const linkModel = (models, state) => {
    const model = widgetModel({ source: "IPY_MODEL_s", target: "IPY_MODEL_t", trait: "value", trace: -1, ...state });
    model.widget_manager = { get_model: (/** @type {string} */ id) => Promise.resolve(models[id]) };
    return model;
  };

  test("initialize resolves the references, links, says a problem once in the console and the model, and stops on cleanup", async () => {
    const source = widgetModel({ name: "k/n", pointer: "/count", value: 1, rev: 0 });
    const target = widgetModel({ _model_name: "IntProgressModel", value: 0 });
    const model = linkModel({ s: source, t: target }, {});
    const log = quiet();
    const cleanup = link.initialize({ model, log });
    await settle();
    assert.equal(target.get("value"), 1);
    for (let i = 0; i < 3; i++) source.set("value", [i]); // 30 a second, one message
    source.set("value", "bad");
    assert.equal(log.errors.length, 2, "each new problem once");
    assert.match(String(log.errors[0][0]), /^\[nb_sse_signals\] k\/n\/count → IntProgressModel\.value: expected a number, got a list of 1/);
    assert.equal(model.get("problem"), 'expected a number, got string "bad"');
    source.set("value", 7);
    assert.equal(model.get("problem"), "");
    assert.equal(target.get("value"), 7);
    cleanup();
    source.set("value", 8);
    assert.equal(target.get("value"), 7);
  });

  test("a target trait that does not exist is a problem, and other links keep working", async () => {
    const source = widgetModel({ name: "k/n", value: 1, rev: 0 });
    const target = widgetModel({ value: 0 });
    const log = quiet();
    const broken = linkModel({ s: source, t: target }, { trait: "nope" });
    const working = linkModel({ s: source, t: target }, {});
    link.initialize({ model: broken, log });
    link.initialize({ model: working, log });
    await settle();
    source.set("value", 2);
    assert.equal(broken.get("problem"), "the target has no such trait");
    assert.equal(target.get("value"), 2);
  });

  test("a reference that is not a widget is reported", async () => {
    const model = linkModel({}, { source: "3" });
    const log = quiet();
    link.initialize({ model, log });
    await settle();
    assert.equal(model.get("problem"), "expected source to be a widget, got 3");
  });

  test("a trace index follows a plotly figure's views", async () => {
    const gd = /** @type {any} */ ({ _fullLayout: {}, data: [{ x: [], y: [] }] });
    const calls = /** @type {string[]} */ ([]);
    const plotly = {
      extendTraces: (/** @type {any} */ g, /** @type {any} */ u) => {
        calls.push("extendTraces");
        g.data[0].x.push(...u.x[0]);
        return Promise.resolve();
      },
      restyle: (/** @type {any} */ g, /** @type {any} */ u) => {
        calls.push("restyle");
        g.data[0] = { x: u.x[0], y: u.y[0] };
        return Promise.resolve();
      },
    };
    const source = widgetModel({ name: "k/s", value: { x: [1], y: [1] }, rev: 0 });
    const figure = widgetModel({});
    figure.views = /** @type {any} */ ({ v: Promise.resolve({ el: gd }) });
    const model = linkModel({ s: source, t: figure }, { trait: "", trace: 0 });
    const cleanup = link.initialize({ model, log: quiet(), plotly: () => plotly });
    await settle();
    await settle();
    source.set("value", { x: [1, 2], y: [1, 2] });
    await settle();
    assert.deepEqual(calls, ["restyle", "extendTraces"]);
    assert.deepEqual(gd.data[0].x, [1, 2]);
    cleanup();
  });
});

test("render shows the link's problem", () => {
  const model = widgetModel({ problem: "" });
  const el = /** @type {any} */ ({ classList: { add() {} }, textContent: "", title: "" });
  const cleanup = link.render({ model, el });
  assert.equal(el.textContent, "linked");
  model.set("problem", "expected a number, got null");
  assert.equal(el.textContent, "⚠ expected a number, got null");
  cleanup();
});
