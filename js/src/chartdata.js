// What a SignalChart draws, from the signal's value: the x array and the y
// series at their JSON Pointers, checked and windowed. Pure, no DOM.
import { select } from "./patch.js";
import { describe } from "./plotly.js";

/**
 * uPlot's data: x first, then one array per y series, all of one length.
 * @typedef {[number[], ...(number | null)[][]]} ChartData
 * @typedef {{ x: string, y: string[], window: number | null }} ChartSpec
 *   `x`: pointer to the x values ("" for the index); `y`: one pointer per series;
 *   `window`: only the last `window` points
 */

/**
 * Where `values` is not a list of numbers (null allowed where `gaps`), or "".
 * @param {unknown[]} values
 * @param {string} where
 * @param {boolean} gaps
 */
function numbersProblem(values, where, gaps) {
  for (let i = 0; i < values.length; i++) {
    const item = values[i];
    if (typeof item === "number" || (gaps && item === null)) continue;
    return `expected numbers at ${where}, item ${i} is ${describe(item)}`;
  }
  return "";
}

/**
 * The arrays at `pointer` in `value`, or why not.
 * @param {unknown} value
 * @param {string} pointer
 * @returns {unknown[] | string}
 */
function listAt(value, pointer) {
  let found;
  try {
    found = select(value, pointer);
  } catch (error) {
    return /** @type {Error} */ (error).message;
  }
  if (found === undefined) return `no series at ${JSON.stringify(pointer)} (yet?)`;
  if (!Array.isArray(found)) return `expected a list at ${JSON.stringify(pointer)}, got ${describe(found)}`;
  return found;
}

/** Index arrays by start and length, reused while the window slides. */
const indexCache = { start: -1, values: /** @type {number[]} */ ([]) };

/**
 * @param {number} start
 * @param {number} length
 */
function indices(start, length) {
  if (indexCache.start !== start || indexCache.values.length !== length) {
    indexCache.start = start;
    indexCache.values = Array.from({ length }, (_, i) => start + i);
  }
  return indexCache.values;
}

/**
 * What to draw for `value`, or why it cannot be drawn. Checks every item (a loop
 * of typeof tests, well under a millisecond at 100,000 points), since one string
 * in a series would draw nonsense: numbers in every series (null is a gap in y),
 * x ascending (uPlot needs it), all series of x's length.
 * @param {unknown} value
 * @param {ChartSpec} spec
 * @returns {{ data: ChartData, problem: "" } | { data: null, problem: string }}
 */
export function chartData(value, spec) {
  const ys = [];
  for (const pointer of spec.y) {
    const found = listAt(value, pointer);
    if (typeof found === "string") return { data: null, problem: found };
    const problem = numbersProblem(found, JSON.stringify(pointer), true);
    if (problem) return { data: null, problem };
    ys.push(/** @type {(number | null)[]} */ (found));
  }
  const length = ys.length ? ys[0].length : 0;
  /** @type {number[]} */
  let xs;
  if (spec.x === "") {
    xs = indices(0, length);
  } else {
    const found = listAt(value, spec.x);
    if (typeof found === "string") return { data: null, problem: found };
    const problem = numbersProblem(found, JSON.stringify(spec.x), false);
    if (problem) return { data: null, problem };
    xs = /** @type {number[]} */ (found);
    for (let i = 1; i < xs.length; i++) {
      if (!(xs[i] >= xs[i - 1])) {
        return { data: null, problem: `expected x ascending, item ${i} (${xs[i]}) comes after ${xs[i - 1]}` };
      }
    }
  }
  for (const [i, y] of ys.entries()) {
    if (y.length !== xs.length) {
      return { data: null, problem: `expected ${xs.length} values at ${JSON.stringify(spec.y[i])} (as many as x), got ${y.length}` };
    }
  }
  const from = spec.window && xs.length > spec.window ? xs.length - spec.window : 0;
  if (from === 0) return { data: [xs, ...ys], problem: "" };
  const windowed = spec.x === "" ? indices(from, xs.length - from) : xs.slice(from);
  return { data: [windowed, ...ys.map((y) => y.slice(from))], problem: "" };
}
