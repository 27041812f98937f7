import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { applyPlan, follow, isSeries, planUpdate, seriesProblem } from "../src/plotly.js";

// The bridge runs in a page beside plotly.js; here a recording stand-in for
// Plotly and Backbone-like models stand in for the page.
const settle = () => new Promise((resolve) => setImmediate(resolve));
const wait = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {Record<string, unknown>} state @param {Record<string, Promise<{el: HTMLElement}>>} [views] */
function fakeModel(state, views) {
  /** @type {Map<string, Set<() => void>>} */
  const handlers = new Map();
  return {
    views,
    /** @param {string} key */
    get: (key) => state[key],
    /** @param {string} key @param {unknown} value */
    set(key, value) {
      state[key] = value;
      for (const handler of handlers.get(`change:${key}`) ?? []) handler();
    },
    /** @param {string} event @param {() => void} handler */
    on(event, handler) {
      (handlers.get(event) ?? handlers.set(event, new Set()).get(event))?.add(handler);
    },
    /** @param {string} event @param {() => void} handler */
    off(event, handler) {
      handlers.get(event)?.delete(handler);
    },
    /** @type {{get_model(id: string): Promise<any>} | undefined} */
    widget_manager: undefined,
  };
}

/** A plot element as plotly leaves it: `_fullLayout` once plotted, `data` per trace. */
function fakePlot(plotted = true) {
  return /** @type {HTMLElement & {data: {x: unknown[], y: unknown[]}[]}} */ (
    /** @type {unknown} */ ({ _fullLayout: plotted ? {} : undefined, data: [{ x: [], y: [] }] })
  );
}

/** Records calls and keeps each plot's trace 0 as plotly would. */
function fakePlotly() {
  /** @type {{call: string, update: any, traces: number[], maxPoints?: number}[]} */
  const calls = [];
  return {
    calls,
    /** @param {any} gd @param {{x: unknown[][], y: unknown[][]}} update @param {number[]} traces @param {number} [maxPoints] */
    extendTraces(gd, update, traces, maxPoints) {
      calls.push({ call: "extendTraces", update, traces, maxPoints });
      const trace = gd.data[traces[0]];
      const keep = (/** @type {unknown[]} */ a) => (maxPoints === undefined ? a : a.slice(-maxPoints));
      trace.x = keep([...trace.x, ...update.x[0]]);
      trace.y = keep([...trace.y, ...update.y[0]]);
      return Promise.resolve(gd);
    },
    /** @param {any} gd @param {Record<string, any>} update @param {number[]} traces */
    restyle(gd, update, traces) {
      calls.push({ call: "restyle", update, traces });
      // As plotly's own index check does (assertIndexArray).
      if (traces[0] >= gd.data.length) return Promise.reject(new Error("all values in indices array must be valid indices"));
      gd.data[traces[0]] = { x: update.x[0], y: update.y[0] };
      return Promise.resolve(gd);
    },
  };
}

describe("planUpdate", () => {
  const x = [0, 1, 2];
  const y = [5, 6, 7];

  test("an append extends with only the new points", () => {
    assert.deepEqual(planUpdate({ x, y }, { x: [...x, 3, 4], y: [...y, 8, 9] }), {
      kind: "extend",
      x: [3, 4],
      y: [8, 9],
      maxPoints: 5,
    });
  });

  test("a sliding window extends and drops the front with maxPoints", () => {
    assert.deepEqual(planUpdate({ x, y }, { x: [1, 2, 3], y: [6, 7, 8] }), {
      kind: "extend",
      x: [3],
      y: [8],
      maxPoints: 3,
    });
  });

  test("the first value draws the whole series, an empty one draws nothing", () => {
    assert.deepEqual(planUpdate(null, { x, y }), { kind: "replace", x, y });
    assert.deepEqual(planUpdate(null, { x: [], y: [] }), { kind: "none" });
    assert.deepEqual(planUpdate({ x: [], y: [] }, { x, y }), {
      kind: "extend",
      x,
      y,
      maxPoints: 3,
    });
  });

  test("the same points, in the same or in new arrays, need nothing", () => {
    assert.deepEqual(planUpdate({ x, y }, { x, y }), { kind: "none" });
    assert.deepEqual(planUpdate({ x, y }, { x: [...x], y: [...y] }), { kind: "none" });
  });

  test("an edit inside the series, a shrink or lengths that differ redraw it all", () => {
    const edited = { x, y: [5, 60, 7, 8] };
    assert.equal(planUpdate({ x, y }, { x: [...x, 3], y: [5, 60, 7, 8] }).kind, "replace", "edit");
    assert.equal(planUpdate({ x, y }, { x: [0, 1], y: [5, 6] }).kind, "replace", "shrink");
    assert.equal(planUpdate({ x, y }, { x: [1, 2], y: [6, 7] }).kind, "replace", "front dropped");
    assert.equal(planUpdate({ x, y }, edited).kind, "replace", "x and y of unequal length");
    assert.equal(planUpdate({ x, y }, { x: [9], y: [9] }).kind, "replace", "nothing kept");
  });

  test("a shift is taken only where the whole overlap holds", () => {
    const drawn = { x: [1, 2, 1, 3], y: [0, 0, 0, 0] };
    // x[2] also starts the next series, and there the overlap holds.
    assert.deepEqual(planUpdate(drawn, { x: [1, 3, 4], y: [0, 0, 0] }), {
      kind: "extend",
      x: [4],
      y: [0],
      maxPoints: 3,
    });
    // x[0] and x[2] start it, and no overlap holds.
    assert.equal(planUpdate(drawn, { x: [1, 2, 5], y: [0, 0, 0] }).kind, "replace");
  });
});

test("seriesProblem says what was expected and what arrived", () => {
  assert.equal(seriesProblem({ x: [1], y: [2] }), "");
  assert.equal(seriesProblem([1, 2]), "expected {x: [...], y: [...]}, got a list of 2");
  assert.equal(seriesProblem({ a: 1 }), 'expected {x: [...], y: [...]}, got an object with keys ["a"]');
  assert.equal(seriesProblem(null), "expected {x: [...], y: [...]}, got null");
});

test("isSeries accepts {x, y} arrays only", () => {
  assert.equal(isSeries({ x: [], y: [] }), true);
  assert.equal(isSeries({ x: [] }), false);
  assert.equal(isSeries([1, 2]), false);
  assert.equal(isSeries(null), false);
});

test("applyPlan hands plotly copies, and tells the FigureWidget not to report to the kernel", async () => {
  const plotly = fakePlotly();
  const gd = fakePlot();
  const x = [1, 2];
  const y = [3, 4];
  await applyPlan(plotly, gd, 0, { kind: "replace", x, y });
  const [call] = plotly.calls;
  assert.equal(call.update._doNotReportToPy, true);
  assert.notEqual(call.update.x[0], x, "plotly may grow the arrays it holds: never the signal's");
  assert.deepEqual(call.update.x[0], x);
  await applyPlan(plotly, gd, 0, { kind: "none" });
  assert.equal(plotly.calls.length, 1);
});

describe("follow", () => {
  test("every view of the figure ends on the signal's value, by appends", async () => {
    const plotly = fakePlotly();
    const plots = [fakePlot(), fakePlot()];
    const figure = fakeModel({}, { a: Promise.resolve({ el: plots[0] }), b: Promise.resolve({ el: plots[1] }) });
    const source = fakeModel({ value: { x: [0], y: [10] } });
    const stop = follow(source, figure, 0, () => plotly);
    await settle();
    for (let i = 1; i <= 3; i++) {
      const { x, y } = /** @type {{x: number[], y: number[]}} */ (source.get("value"));
      source.set("value", { x: [...x, i], y: [...y, 10 + i] });
      await settle();
    }
    for (const gd of plots) assert.deepEqual(gd.data[0], { x: [0, 1, 2, 3], y: [10, 11, 12, 13] });
    const kinds = plotly.calls.map((c) => c.call);
    assert.deepEqual(kinds, ["restyle", "restyle", ...Array(6).fill("extendTraces")]);
    stop();
    source.set("value", { x: [7], y: [7] });
    await settle();
    assert.equal(plotly.calls.length, 8, "a stopped bridge draws nothing");
  });

  test("changes that come faster than the plots are drawn end on the latest value", async () => {
    const plotly = fakePlotly();
    const gd = fakePlot();
    const figure = fakeModel({}, { a: Promise.resolve({ el: gd }) });
    const source = fakeModel({ value: { x: [], y: [] } });
    const stop = follow(source, figure, 0, () => plotly);
    for (let i = 0; i < 5; i++) source.set("value", { x: [i], y: [i] });
    await settle();
    assert.deepEqual(gd.data[0], { x: [4], y: [4] });
    stop();
  });

  test("a view still being plotted gets the last value once it is plotted", async () => {
    const plotly = fakePlotly();
    const gd = fakePlot(false);
    const figure = fakeModel({}, { a: Promise.resolve({ el: gd }) });
    const source = fakeModel({ value: { x: [0, 1], y: [2, 3] } });
    const stop = follow(source, figure, 0, () => plotly);
    await settle();
    assert.equal(plotly.calls.length, 0);
    /** @type {any} */ (gd)._fullLayout = {};
    await wait(300); // one watch period
    assert.deepEqual(gd.data[0], { x: [0, 1], y: [2, 3] });
    stop();
  });

  test("a value that is not {x, y} is left alone and reported, and the next good one draws", async () => {
    const plotly = fakePlotly();
    const gd = fakePlot();
    const figure = fakeModel({}, { a: Promise.resolve({ el: gd }) });
    const source = fakeModel({ value: 3 });
    /** @type {string[]} */
    const reports = [];
    const stop = follow(source, figure, 0, () => plotly, (p) => reports.push(p));
    await settle();
    source.set("value", { x: [1, 2], y: [1] });
    await settle();
    assert.equal(plotly.calls.length, 0);
    assert.deepEqual(reports, ['expected {x: [...], y: [...]}, got number 3', "expected x and y of one length, got 2 and 1"]);
    source.set("value", { x: [1], y: [1] });
    await settle();
    assert.deepEqual(gd.data[0], { x: [1], y: [1] });
    assert.equal(reports.at(-1), "", "a good value clears the problem");
    stop();
  });

  test("nothing is drawn before the signal's first value", async () => {
    const plotly = fakePlotly();
    const figure = fakeModel({}, { a: Promise.resolve({ el: fakePlot() }) });
    /** @type {string[]} */
    const reports = [];
    const stop = follow(fakeModel({ value: null, rev: -1 }), figure, 0, () => plotly, (p) => reports.push(p));
    await settle();
    assert.deepEqual([plotly.calls.length, reports], [0, []]);
    stop();
  });

  test("plotly refusing a trace is reported, not thrown, and the next change redraws", async () => {
    const plotly = fakePlotly();
    const gd = fakePlot();
    const figure = fakeModel({}, { a: Promise.resolve({ el: gd }) });
    const source = fakeModel({ value: { x: [0], y: [0] } });
    /** @type {string[]} */
    const reports = [];
    const stop = follow(source, figure, 3, () => plotly, (p) => reports.push(p));
    await settle();
    assert.match(reports[0], /^plotly rejected it: /);
    stop();
  });
});
