import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseHTML } from "linkedom";
import { chartData } from "../src/chartdata.js";
import { ChartView, readTheme } from "../src/chartview.js";
import { applyPatch } from "../src/patch.js";

// Node has no canvas and no animation frames: a recorder stands in for uPlot (the
// real one draws in tests/browser/test_chart_in_lab.py), and the test hands out
// frames and flips the page's visibility by hand. linkedom gives the DOM.

const spec = (/** @type {Partial<import("../src/chartdata.js").ChartSpec>} */ s = {}) => ({ x: "/x", y: ["/y"], window: null, ...s });

describe("chartData", () => {
  test("hands over the signal's own arrays, x first", () => {
    const value = { x: [0, 1, 2], y: [5, null, 7], z: [1, 1, 1] };
    const { data, problem } = chartData(value, spec({ y: ["/y", "/z"] }));
    assert.equal(problem, "");
    assert.ok(data);
    assert.equal(data[0], value.x, "no copy without a window");
    assert.deepEqual(data, [value.x, value.y, value.z]);
  });

  test("a window keeps the last points; x '' is the index", () => {
    const value = { y: [5, 6, 7, 8] };
    assert.deepEqual(chartData(value, spec({ x: "", window: 2 })).data, [[2, 3], [7, 8]]);
    assert.deepEqual(chartData(value, spec({ x: "", window: 10 })).data, [[0, 1, 2, 3], [5, 6, 7, 8]]);
    assert.deepEqual(chartData({ x: [1, 2, 3], y: [4, 5, 6] }, spec({ window: 2 })).data, [[2, 3], [5, 6]]);
  });

  test("says what was expected and what arrived, and draws nothing", () => {
    const cases = [
      [{ x: [1] }, 'no series at "/y" (yet?)'],
      [{ x: [1], y: { a: 1 } }, 'expected a list at "/y", got an object with keys ["a"]'],
      [{ x: [1, 2], y: [1, "2"] }, 'expected numbers at "/y", item 1 is string "2"'],
      [{ x: [1, null], y: [1, 2] }, 'expected numbers at "/x", item 1 is null'],
      [{ x: [1, 2], y: [1] }, 'expected 2 values at "/y" (as many as x), got 1'],
      [{ x: [2, 1], y: [1, 2] }, "expected x ascending, item 1 (1) comes after 2"],
      [[1, 2], 'no series at "/y" (yet?)'],
    ];
    for (const [value, expected] of cases) {
      assert.deepEqual(chartData(value, spec()), { data: null, problem: expected }, JSON.stringify(value));
    }
  });
});

/** The page, frames and a recording plot. */
function page({ light = "true" } = {}) {
  const { document } = parseHTML("<html><head></head><body></body></html>");
  document.body.dataset.jpThemeLight = light;
  /** @type {(() => void)[]} */
  let queued = [];
  /** @type {Set<() => void>} */
  const visible = new Set();
  const state = { hidden: false, frames: 0 };
  const frames = {
    request: (/** @type {() => void} */ callback) => {
      queued.push(callback);
      return queued.length;
    },
    cancel: () => void (queued = []),
    hidden: () => state.hidden,
    onVisible: (/** @type {() => void} */ callback) => {
      visible.add(callback);
      return () => visible.delete(callback);
    },
  };
  /** Run the frames asked for so far. */
  const frame = () => {
    const run = queued;
    queued = [];
    state.frames += 1;
    for (const callback of run) callback();
  };
  const show = () => {
    state.hidden = false;
    for (const callback of visible) callback();
  };
  /** @type {{ options: any, data: any[][], sizes: any[], destroyed: boolean }[]} */
  const plots = [];
  class Plot {
    /** @param {any} options @param {any[]} data */
    constructor(options, data) {
      this.record = { options, data: [data], sizes: /** @type {any[]} */ ([]), destroyed: false };
      plots.push(this.record);
    }
    /** @param {any[]} data */
    setData(data) {
      this.record.data.push(data);
    }
    /** @param {any} size */
    setSize(size) {
      this.record.sizes.push(size);
    }
    destroy() {
      this.record.destroyed = true;
    }
  }
  /** @type {string[]} */
  const errors = [];
  const log = { error: (/** @type {unknown[]} */ ...data) => void errors.push(data.join(" ")) };
  const el = /** @type {HTMLElement} */ (/** @type {unknown} */ (document.createElement("div")));
  document.body.appendChild(/** @type {any} */ (el));
  return { document, el, frames, frame, show, state, plots, Plot, errors, log, queued: () => queued.length };
}

const chartOptions = { x: "/x", y: ["/y"], window: null, labels: ["load"], height: 200, title: "load", name: "k/load" };

describe("ChartView", () => {
  test("draws at the next frame, once for all the changes before it, each patch's arrays", () => {
    const p = page();
    const view = new ChartView(p.el, chartOptions, { Plot: p.Plot, frames: p.frames, log: p.log });
    let value = { x: [0], y: [1] };
    view.update(value);
    assert.equal(p.plots.length, 0, "nothing before the frame");
    p.frame();
    assert.equal(p.plots.length, 1);
    const [plot] = p.plots;
    assert.deepEqual(plot.data, [[[0], [1]]]);
    assert.equal(plot.options.series[1].label, "load");
    assert.equal(plot.options.height, 200);
    // Appends as the stream brings them: two patches, one frame.
    for (const i of [1, 2]) {
      value = /** @type {any} */ (applyPatch(value, [{ op: "add", path: "/x/-", value: i }, { op: "add", path: "/y/-", value: i * 10 }]));
      view.update(value);
    }
    assert.equal(p.queued(), 1, "one frame asked for");
    p.frame();
    assert.deepEqual(plot.data.at(-1), [[0, 1, 2], [1, 10, 20]]);
    assert.equal(plot.data.length, 2);
    // A resync's snapshot is a whole new value: drawn the same way.
    view.update({ x: [5], y: [5] });
    p.frame();
    assert.deepEqual(plot.data.at(-1), [[5], [5]]);
    view.destroy();
    assert.equal(plot.destroyed, true);
    assert.equal(p.el.childNodes.length, 0);
  });

  test("a rolling window drops the oldest points", () => {
    const p = page();
    const view = new ChartView(p.el, { ...chartOptions, window: 3 }, { Plot: p.Plot, frames: p.frames, log: p.log });
    view.update({ x: [0, 1, 2, 3, 4], y: [0, 1, 2, 3, 4] });
    p.frame();
    assert.deepEqual(p.plots[0].data.at(-1), [[2, 3, 4], [2, 3, 4]]);
  });

  test("a hidden page is not drawn until it shows, then with the latest value", () => {
    const p = page();
    const view = new ChartView(p.el, chartOptions, { Plot: p.Plot, frames: p.frames, log: p.log });
    p.state.hidden = true;
    for (let n = 1; n <= 100; n++) view.update({ x: [...Array(n).keys()], y: Array(n).fill(1) });
    assert.equal(p.queued(), 0, "no frame asked for while hidden");
    p.show();
    p.frame();
    assert.equal(p.plots.length, 1);
    assert.equal(p.plots[0].data.length, 1, "one drawing");
    assert.equal(p.plots[0].data[0][0].length, 100);
    view.destroy();
  });

  test("a bad value shows a message once, keeps the last drawing, and the next good value clears it", () => {
    const p = page();
    const view = new ChartView(p.el, chartOptions, { Plot: p.Plot, frames: p.frames, log: p.log });
    view.update({ x: [0], y: [1] });
    p.frame();
    for (const bad of [{ x: [0, 1], y: [1, "NaN"] }, { x: [0, 1, 2], y: [1, "NaN", 2] }]) {
      view.update(bad);
      p.frame();
    }
    assert.equal(p.plots[0].data.length, 1, "the last good drawing stays");
    assert.equal(p.errors.length, 1, "the same problem, said once (updates come 30 a second)");
    assert.match(p.errors[0], /^\[nb_sse_signals\] chart of k\/load: expected numbers at "\/y", item 1 is string "NaN"/);
    assert.equal(view.shownProblem, 'expected numbers at "/y", item 1 is string "NaN"');
    assert.match(p.el.textContent ?? "", /⚠ expected numbers/);
    view.update({ x: [0, 1], y: [1, 2] });
    p.frame();
    assert.equal(view.shownProblem, "");
    assert.doesNotMatch(p.el.textContent ?? "", /⚠/);
    assert.deepEqual(p.plots[0].data.at(-1), [[0, 1], [1, 2]]);
  });

  test("follows JupyterLab's theme, and a theme switch redraws in the new colours", async () => {
    const p = page({ light: "false" });
    assert.equal(readTheme(p.el).dark, true);
    const view = new ChartView(p.el, chartOptions, { Plot: p.Plot, frames: p.frames, log: p.log });
    view.update({ x: [0], y: [1] });
    p.frame();
    assert.equal(p.plots[0].options.axes[0].stroke, "#e0e0e0", "light text on dark");
    p.document.body.dataset.jpThemeLight = "true";
    await new Promise((resolve) => setImmediate(resolve)); // the MutationObserver's turn
    p.frame();
    assert.equal(p.plots[0].destroyed, true);
    assert.equal(p.plots[1].options.axes[0].stroke, "#212121", "dark text on light");
    assert.deepEqual(p.plots[1].data, [[[0], [1]]], "the same value, drawn again");
    view.destroy();
  });

  test("status shows as the view's dot class", () => {
    const p = page();
    const view = new ChartView(p.el, chartOptions, { Plot: p.Plot, frames: p.frames, log: p.log });
    view.setStatus("stale");
    assert.match(view.status.className, /nb-sse-signals-status-stale/);
    view.destroy();
  });
});
