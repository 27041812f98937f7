import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseHTML } from "linkedom";
import { Column } from "../src/chartbuffer.js";
import { ChartSeries } from "../src/chartdata.js";
import { ChartView, readTheme, seriesLabel } from "../src/chartview.js";
import { applyPatch } from "../src/patch.js";

// Node has no canvas and no animation frames: a recorder stands in for uPlot (the
// real one draws in tests/browser/test_chart_in_lab.py), and the test hands out
// frames and flips the page's visibility by hand. linkedom gives the DOM.

const spec = (/** @type {Partial<import("../src/chartdata.js").ChartSpec>} */ s = {}) => ({ x: "/x", y: ["/y"], window: null, ...s });

/** A fresh copy synced to `value`: its problem and its points. */
function synced(/** @type {unknown} */ value, /** @type {Partial<import("../src/chartdata.js").ChartSpec>} */ s = {}) {
  const series = new ChartSeries();
  const problem = series.sync(value, spec(s));
  return { problem, data: problem ? null : series.points() };
}

describe("Column", () => {
  test("appends, drops from the front, and keeps its items while it slides and grows", () => {
    const column = new Column();
    /** @type {number[]} */
    const mirror = [];
    let next = 0;
    // 5,000 rounds of 0-699 appends and 0-599 drops: many slides to the front, a few doublings.
    for (let round = 0; round < 5_000; round++) {
      const add = (round * 7919) % 700;
      const values = Array.from({ length: add }, () => next++);
      column.push(values, 0, add);
      mirror.push(...values);
      const drop = (round * 104729) % 600;
      column.drop(drop);
      mirror.splice(0, drop);
      assert.equal(column.length, mirror.length);
    }
    assert.deepEqual(Array.from(column.view()), mirror);
  });

  test("stores a gap (null) as NaN, and indices for x ''", () => {
    const column = new Column();
    column.push([1, null, 3], 1, 3);
    column.pushIndices(10, 2);
    assert.deepEqual(Array.from(column.view()), [NaN, 3, 10, 11]);
    column.clear();
    assert.equal(column.length, 0);
  });
});

describe("ChartSeries", () => {
  test("copies the series, x first", () => {
    const value = { x: [0, 1, 2], y: [5, null, 7], z: [1, 1, 1] };
    assert.deepEqual(synced(value, { y: ["/y", "/z"] }), { problem: "", data: [value.x, value.y, value.z] });
  });

  test("a window keeps the last points; x '' is the index", () => {
    const value = { y: [5, 6, 7, 8] };
    assert.deepEqual(synced(value, { x: "", window: 2 }).data, [[2, 3], [7, 8]]);
    assert.deepEqual(synced(value, { x: "", window: 10 }).data, [[0, 1, 2, 3], [5, 6, 7, 8]]);
    assert.deepEqual(synced({ x: [1, 2, 3], y: [4, 5, 6] }, { window: 2 }).data, [[2, 3], [5, 6]]);
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
      assert.deepEqual(synced(value), { data: null, problem: expected }, JSON.stringify(value));
    }
  });

  /**
   * Each change through patch.js, as the page gets it; after each, the copy must
   * equal a fresh copy of the whole value (what chartData did before).
   * @param {Partial<import("../src/chartdata.js").ChartSpec>} s
   * @param {unknown} start
   * @param {import("../src/protocol.js").Operation[][]} patches
   * @param {boolean} [inPlace] the arrays change in place (signal.js `live`), as the page's chart sees them
   */
  function follows(s, start, patches, inPlace = false) {
    const series = new ChartSeries();
    let value = inPlace ? structuredClone(start) : start;
    /** @type {WeakSet<object>} */
    const owned = new WeakSet();
    if (inPlace) for (const array of [value, ...Object.values(/** @type {object} */ (value))]) owned.add(array);
    assert.equal(series.sync(value, spec(s)), "");
    for (const patch of patches) {
      value = applyPatch(value, patch, inPlace ? owned : null);
      const problem = series.sync(value, spec(s));
      const fresh = synced(value, s);
      assert.equal(problem, fresh.problem, JSON.stringify(patch));
      if (!problem) assert.deepEqual(series.points(), fresh.data, JSON.stringify(patch));
    }
    return series;
  }

  const appendXY = (/** @type {number} */ x, /** @type {number | null} */ y) => [
    { op: "add", path: "/x/-", value: x },
    { op: "add", path: "/y/-", value: y },
  ];

  test("appends, a window that slides, points dropped at the front, replaced, resynced", () => {
    const start = { x: [0, 1, 2, 3], y: [0, 10, 20, 30] };
    /** @type {any[][]} */
    const patches = [
      appendXY(4, 40),
      [...appendXY(5, 50), ...appendXY(6, null)],
      // a rolling window kept by the kernel: the front goes, the end grows
      [{ op: "remove", path: "/x/0" }, { op: "remove", path: "/y/0" }, ...appendXY(7, 70)],
      [{ op: "remove", path: "/x/0" }, { op: "remove", path: "/y/0" }],
      // a point changed among those drawn: copied again
      [{ op: "replace", path: "/y/1", value: -1 }],
      appendXY(8, 80),
      // a resync: the same points in new arrays, then different ones
      [{ op: "replace", path: "", value: { x: [2, 3, 4, 5, 6, 7, 8], y: [20, -1, 40, 50, null, 70, 80] } }],
      [{ op: "replace", path: "", value: { x: [0, 1], y: [1, 2] } }],
      [{ op: "replace", path: "/x", value: [5, 6] }],
    ];
    for (const inPlace of [false, true]) {
      for (const window of [null, 3]) {
        const series = follows({ window }, start, patches, inPlace);
        assert.deepEqual(series.points(), [[5, 6], [1, 2]]);
      }
      follows({ x: "", window: 3 }, { y: [1, 2] }, [
        [{ op: "add", path: "/y/-", value: 3 }],
        [{ op: "add", path: "/y/-", value: 4 }, { op: "add", path: "/y/-", value: 5 }],
        [{ op: "remove", path: "/y/0" }],
        [{ op: "replace", path: "/y/3", value: 9 }],
      ], inPlace);
    }
  });

  test("an array changed in place, not only appended to, is copied again", () => {
    const series = new ChartSeries();
    const value = { x: [0, 1, 2], y: [5, 6, 7] };
    assert.equal(series.sync(value, spec()), "");
    value.y[1] = -6; // the very array seen last time, another item
    value.x.push(3);
    value.y.push(8);
    assert.equal(series.sync(value, spec()), "");
    assert.deepEqual(series.points(), [[0, 1, 2, 3], [5, -6, 7, 8]]);
  });

  test("a bad change leaves the copy as it was; the next good one is drawn", () => {
    const series = follows({}, { x: [0, 1], y: [0, 1] }, [
      appendXY(2, 2),
      appendXY(3, /** @type {any} */ ("NaN")),
    ]);
    assert.deepEqual(series.points(), [[0, 1, 2], [0, 1, 2]], "the last good copy");
    let value = applyPatch({ x: [0, 1, 2], y: [0, 1, 2] }, appendXY(1, 5));
    assert.equal(series.sync(value, spec()), "expected x ascending, item 3 (1) comes after 2");
    value = applyPatch({ x: [0, 1, 2], y: [0, 1, 2] }, appendXY(3, 3));
    assert.equal(series.sync(value, spec()), "");
    assert.deepEqual(series.points(), [[0, 1, 2, 3], [0, 1, 2, 3]]);
  });

  test("decimated keeps each pixel column's first, last, minimum, maximum and gap, in order", () => {
    const n = 100_000;
    const columns = 500;
    const x = Array.from({ length: n }, (_, i) => i * 0.5);
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const y = Array.from({ length: n }, () => random());
    const z = Array.from({ length: n }, () => random() * 100);
    for (const spike of [123, 45_678, 99_999]) y[spike] = 50 + spike;
    for (const gap of [500, 501, 70_000]) z[gap] = /** @type {any} */ (null);
    const series = new ChartSeries();
    assert.equal(series.sync({ x, y, z }, spec({ y: ["/y", "/z"] })), "");
    const [xs, ...ys] = series.decimated(columns);
    assert.ok(xs.length <= columns * 8, `few points: ${xs.length}`);
    for (let i = 1; i < xs.length; i++) assert.ok(xs[i] > xs[i - 1], "in order, each point once");
    assert.equal(xs[0], 0);
    assert.equal(xs.at(-1), x[n - 1]);
    // Each column's extremes over the full series are among the drawn points.
    const column = (/** @type {number} */ v) => Math.min(columns - 1, Math.floor((v * columns) / x[n - 1]));
    for (const [s, full] of [y, z].entries()) {
      /** @type {Map<number, number[]>} */
      const want = new Map();
      for (let i = 0; i < n; i++) {
        if (full[i] === null) continue;
        const c = column(x[i]);
        const [low, high] = want.get(c) ?? [Infinity, -Infinity];
        want.set(c, [Math.min(low, full[i]), Math.max(high, full[i])]);
      }
      /** @type {Map<number, number[]>} */
      const got = new Map();
      for (let i = 0; i < xs.length; i++) {
        const v = ys[s][i];
        if (v === null) continue;
        const c = column(xs[i]);
        const [low, high] = got.get(c) ?? [Infinity, -Infinity];
        got.set(c, [Math.min(low, v), Math.max(high, v)]);
      }
      assert.deepEqual(got, want, `series ${s}`);
    }
    assert.equal(ys[1].filter((v) => v === null).length, 2, "a gap in each column that has one");
    assert.deepEqual(series.decimated(n), series.points(), "few points: all of them");
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
  /** @type {{ options: any, data: any[][], sizes: any[], destroyed: boolean, widths: (number | undefined)[][] }[]} */
  const plots = [];
  class Plot {
    /** @param {any} options @param {any[]} data */
    constructor(options, data) {
      this.record = { options, data: [data], sizes: /** @type {any[]} */ ([]), destroyed: false, widths: [options.series.slice(1).map((/** @type {any} */ s) => s.width)] };
      plots.push(this.record);
      /** @type {{ width?: number }[]} uPlot's series: their options, changed in place */
      this.series = options.series.map((/** @type {any} */ s) => ({ ...s }));
    }
    /** @param {any[]} data */
    setData(data) {
      this.record.data.push(data);
      this.record.widths.push(this.series.slice(1).map((s) => s.width));
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

  test("a series denser than the pixel columns is drawn one device pixel wide, a sparser one 1.5 px", () => {
    // One device pixel is a hairline to a software raster: it costs the pixels, not the
    // thousands of segments that run up and down each column.
    const p = page();
    const view = new ChartView(p.el, { ...chartOptions, y: ["/y", "/z"] }, { Plot: p.Plot, frames: p.frames, log: p.log });
    const columns = 600; // linkedom lays nothing out: the view's fallback width, ratio 1
    const points = (/** @type {number} */ n) => ({ x: [...Array(n).keys()], y: Array(n).fill(1), z: Array(n).fill(2) });
    view.update(points(columns));
    p.frame();
    view.update(points(columns + 1));
    p.frame();
    view.update(points(10));
    p.frame();
    assert.deepEqual(p.plots[0].widths, [[1.5, 1.5], [1, 1], [1.5, 1.5]]);
    view.destroy();
    const dense = new ChartView(p.el, chartOptions, { Plot: p.Plot, frames: p.frames, log: p.log });
    dense.update(points(5 * columns));
    p.frame();
    assert.deepEqual(p.plots[1].widths, [[1]], "dense from its first drawing");
    dense.destroy();
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
    let width = 900;
    Object.defineProperty(view.root, "clientWidth", { configurable: true, get: () => width });
    view.update({ x: [0], y: [1] });
    p.frame();
    assert.equal(p.plots[0].options.axes[0].stroke, "#e0e0e0", "light text on dark");
    assert.equal(p.plots[0].options.width, 900);
    p.document.body.dataset.jpThemeLight = "true";
    width = 575; // without its plot, an output may shrink to the header's width
    await new Promise((resolve) => setImmediate(resolve)); // the MutationObserver's turn
    p.frame();
    assert.equal(p.plots[0].destroyed, true);
    assert.equal(p.plots[1].options.axes[0].stroke, "#212121", "dark text on light");
    assert.equal(p.plots[1].options.width, 900, "the width the plot had");
    assert.deepEqual(p.plots[1].data, [[[0], [1]]], "the same value, drawn again");
    view.destroy();
  });

  test("the legend names a series by its label, else by its pointer's last token, unescaped", () => {
    assert.equal(seriesLabel("/loss"), "loss");
    assert.equal(seriesLabel("/runs/0/val~1loss"), "val/loss");
    assert.equal(seriesLabel("/a~0b"), "a~b");
    assert.equal(seriesLabel(""), "value");
    const p = page();
    const options = { ...chartOptions, x: "/time~1s", y: ["/train/loss", "/val"], labels: [] };
    const view = new ChartView(p.el, options, { Plot: p.Plot, frames: p.frames, log: p.log });
    view.update({ "time/s": [0], train: { loss: [1] }, val: [2] });
    p.frame();
    assert.deepEqual(p.plots[0].options.series.map((/** @type {any} */ s) => s.label), ["time/s", "loss", "val"]);
    view.configure({ ...options, labels: ["training", "validation"] });
    p.frame();
    assert.deepEqual(p.plots[1].options.series.map((/** @type {any} */ s) => s.label), ["time/s", "training", "validation"]);
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
