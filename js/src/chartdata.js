// What a SignalChart draws, from the signal's value: its own copy of the x array
// and the y series at their JSON Pointers (chartbuffer.js), checked and windowed,
// brought up to date at each frame by the change alone, and the few points per
// pixel column that uPlot gets. Pure, no DOM.
import { Column } from "./chartbuffer.js";
import { select } from "./patch.js";
import { describe } from "./plotly.js";

/**
 * uPlot's data: x first, then one array per y series, all of one length.
 * @typedef {[number[], ...(number | null)[][]]} ChartData
 * @typedef {{ x: string, y: string[], window: number | null }} ChartSpec
 *   `x`: pointer to the x values ("" for the index); `y`: one pointer per series;
 *   `window`: only the last `window` points
 * @typedef {ArrayLike<unknown>} Source an array of the signal's value
 * @typedef {{ length: number, first: number }} Seen
 *   the length of the arrays the columns copy, and the index of the first item copied
 */

/**
 * The array at `pointer` in `value`, or why not.
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

/**
 * The first index of ascending `sorted` (from `lo` on) whose item is not below `value`.
 * @param {Float64Array} sorted
 * @param {number} value
 * @param {number} lo
 */
function lowerBound(sorted, value, lo) {
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Whether `source[from .. to)` equals `column[at ..)` (null where the column has NaN).
 * @param {Source} source
 * @param {Float64Array} column
 * @param {number} from
 * @param {number} to
 * @param {number} at
 */
function same(source, column, from, to, at) {
  for (let i = from, k = at; i < to; i++, k++) {
    const v = source[i];
    if (v !== column[k] && !(v === null && column[k] !== column[k])) return false;
  }
  return true;
}

/**
 * Add to `chosen` (from `m` on) the indices of the minimum, the maximum and the
 * first gap (NaN) of `y[start .. end)`, where there are; returns the new count.
 * @param {Float64Array} y
 * @param {number} start
 * @param {number} end
 * @param {Int32Array} chosen
 * @param {number} m
 */
function extremes(y, start, end, chosen, m) {
  let low = -1;
  let high = -1;
  let gap = -1;
  let lowest = Infinity;
  let highest = -Infinity;
  for (let i = start; i < end; i++) {
    const v = y[i];
    // NaN compares false both ways: only the gap test sees it.
    if (v < lowest) {
      lowest = v;
      low = i;
    }
    if (v > highest) {
      highest = v;
      high = i;
    }
    if (v !== v && gap < 0) gap = i;
  }
  if (low >= 0) chosen[m++] = low;
  if (high >= 0) chosen[m++] = high;
  if (gap >= 0) chosen[m++] = gap;
  return m;
}

/** @param {Float64Array} values NaN (a gap) as null, for uPlot */
function nullable(values) {
  return Array.from(values, (v) => (v === v ? v : null));
}

/** The chart's copy of its series: x and one column per y, of one length. */
export class ChartSeries {
  x = new Column();
  /** @type {Column[]} */
  ys = [];
  /** @type {Seen | null} */
  #seen = null;

  get length() {
    return this.x.length;
  }

  /**
   * Bring the copy up to `value`. Only the change is checked and copied when the
   * copied points are still there, in place (appends) or moved to the front (points
   * dropped before them, as by a rolling window); that they are is one comparison
   * per copied point, in a tight loop (no allocation). Else the copy is made again.
   * @param {unknown} value
   * @param {ChartSpec} spec
   * @returns {string} why `value` cannot be drawn ("" if it can); then the copy is left as it was
   */
  sync(value, spec) {
    /** @type {Source[]} */
    const ys = [];
    for (const pointer of spec.y) {
      const found = listAt(value, pointer);
      if (typeof found === "string") return found;
      ys.push(found);
    }
    /** @type {Source | null} */
    let xs = null;
    if (spec.x !== "") {
      const found = listAt(value, spec.x);
      if (typeof found === "string") return found;
      xs = found;
    }
    const length = xs ? xs.length : ys.length ? ys[0].length : 0;
    for (const [i, y] of ys.entries()) {
      if (y.length !== length) return `expected ${length} values at ${JSON.stringify(spec.y[i])} (as many as x), got ${y.length}`;
    }
    const first = spec.window && length > spec.window ? length - spec.window : 0;
    if (this.ys.length !== ys.length) {
      this.ys = ys.map(() => new Column());
      this.#seen = null;
    }
    const seen = this.#seen;
    const shift = this.#kept(xs, ys, first, length);
    // The source's items from `from` on are new to the copy.
    const from = shift === null || !seen ? first : seen.length - shift;
    const problem = this.#check(xs, ys, spec, from, length, shift === null ? -Infinity : this.#lastX());
    if (problem) return problem;
    if (shift === null || !seen) for (const column of [this.x, ...this.ys]) column.clear();
    else for (const column of [this.x, ...this.ys]) column.drop(first + shift - seen.first);
    if (xs) this.x.push(/** @type {ArrayLike<number>} */ (xs), from, length);
    else this.x.pushIndices(from, length - from);
    for (const [i, y] of ys.entries()) this.ys[i].push(/** @type {ArrayLike<number | null>} */ (y), from, length);
    this.#seen = { length, first };
    return "";
  }

  /**
   * The shift `d` such that the source's item `i` is the copy's old source item
   * `i + d` for every copied item still drawn, or null when the copy must be made
   * again. Tried: 0 (appends), and with an x array, where the copy has the
   * source's first drawn x (points dropped from the front).
   * @param {Source | null} xs
   * @param {Source[]} ys
   * @param {number} first
   * @param {number} length
   */
  #kept(xs, ys, first, length) {
    const seen = this.#seen;
    if (!seen || !this.length || first >= length) return null;
    const candidates = [0];
    if (xs && typeof xs[first] === "number") {
      const at = lowerBound(this.x.view(), /** @type {number} */ (xs[first]), 0);
      if (at > 0) candidates.push(seen.first + at - first);
    }
    for (const d of candidates) {
      const end = seen.length - d; // the source's index just after the copied points
      if (first + d < seen.first || end > length || end <= first) continue;
      const at = first + d - seen.first;
      // Item by item, never by identity: the signal may change its arrays in place
      // (signal.js `live`), so the very array seen last time may hold other items.
      const unchanged = (/** @type {Source} */ source, /** @type {Column} */ column) => same(source, column.view(), first, end, at);
      if (xs && !unchanged(xs, this.x)) continue;
      if (ys.every((y, i) => unchanged(y, this.ys[i]))) return d;
    }
    return null;
  }

  #lastX() {
    return this.length ? this.x.view()[this.length - 1] : -Infinity;
  }

  /**
   * Why the source's items `from .. length` cannot be drawn, or "": numbers in
   * every series (null is a gap in y), x ascending from `lastX` on.
   * @param {Source | null} xs
   * @param {Source[]} ys
   * @param {ChartSpec} spec
   * @param {number} from
   * @param {number} length
   * @param {number} lastX the x before the first new item
   */
  #check(xs, ys, spec, from, length, lastX) {
    for (const [s, y] of ys.entries()) {
      for (let i = from; i < length; i++) {
        const item = y[i];
        if (typeof item !== "number" && item !== null) return `expected numbers at ${JSON.stringify(spec.y[s])}, item ${i} is ${describe(item)}`;
      }
    }
    if (!xs) return "";
    let previous = lastX;
    for (let i = from; i < length; i++) {
      const item = xs[i];
      if (typeof item !== "number") return `expected numbers at ${JSON.stringify(spec.x)}, item ${i} is ${describe(item)}`;
      if (!(item >= previous)) return `expected x ascending, item ${i} (${item}) comes after ${previous}`;
      previous = item;
    }
    return "";
  }

  /** Every point of the copy, as uPlot takes them (what tests read back). */
  points() {
    return /** @type {ChartData} */ ([Array.from(this.x.view()), ...this.ys.map((y) => nullable(y.view()))]);
  }

  /**
   * What uPlot draws across `columns` pixel columns: every point when there are
   * at most 4 per column; else, in each column, its first and last point and each
   * series' minimum, maximum and first gap, in order. The line then reaches every
   * extreme that the full series would (no peak lost).
   * @param {number} columns
   * @returns {ChartData}
   */
  decimated(columns) {
    const n = this.length;
    if (n <= 4 * columns) return this.points();
    const xs = this.x.view();
    const ys = this.ys.map((y) => y.view());
    const x0 = xs[0];
    const span = xs[n - 1] - x0;
    /** @type {number[]} */
    const picked = [];
    const chosen = new Int32Array(2 + 3 * ys.length);
    for (let c = 1, start = 0; start < n; c++) {
      // Column c - 1 holds the points with x in [x0 + span (c-1)/columns, x0 + span c/columns).
      const end = c >= columns || span === 0 ? n : lowerBound(xs, x0 + (span * c) / columns, start);
      if (end === start) continue;
      let m = 0;
      chosen[m++] = start;
      chosen[m++] = end - 1;
      for (const y of ys) m = extremes(y, start, end, chosen, m);
      // A few indices: insertion sort, then each once.
      for (let i = 1; i < m; i++) {
        const v = chosen[i];
        let j = i - 1;
        for (; j >= 0 && chosen[j] > v; j--) chosen[j + 1] = chosen[j];
        chosen[j + 1] = v;
      }
      for (let i = 0; i < m; i++) if (i === 0 || chosen[i] !== chosen[i - 1]) picked.push(chosen[i]);
      start = end;
    }
    return /** @type {ChartData} */ ([
      picked.map((i) => xs[i]),
      ...ys.map((y) => picked.map((i) => (y[i] === y[i] ? y[i] : null))),
    ]);
  }
}
