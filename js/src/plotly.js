// Following a signal into a trace of a plotly FigureWidget, in the browser
// (`link(source, (figure, trace))`, link.js, docs/plots.md): on each change of
// the signal it appends the new points to every view of the figure with
// Plotly.extendTraces, or redraws the trace with Plotly.restyle when the change is
// not an append (a window that slid is an append with maxPoints). Nothing goes to the
// kernel: the kernel's copy of the figure keeps the data it was made with.

/** @typedef {{x: unknown[], y: unknown[]}} Series */
/**
 * @typedef {{kind: "none"}
 *   | {kind: "extend", x: unknown[], y: unknown[], maxPoints: number}
 *   | {kind: "replace", x: unknown[], y: unknown[]}} Plan
 */
/**
 * What the bridge needs of plotly.js (the FigureWidget's bundle sets
 * `globalThis.Plotly` when it loads).
 * @typedef {{
 *   extendTraces(gd: HTMLElement, update: {x: unknown[][], y: unknown[][]},
 *     traces: number[], maxPoints?: number): Promise<unknown>,
 *   restyle(gd: HTMLElement, update: Record<string, unknown>, traces: number[]):
 *     Promise<unknown>,
 * }} PlotlyApi
 */
/**
 * The parts of an ipywidgets model used here: anywidget's model, and the real
 * WidgetModel that `widget_manager.get_model` returns (its `views` are promises).
 * @typedef {{
 *   get(name: string): any,
 *   on(event: string, callback: () => void): void,
 *   off(event: string, callback: () => void): void,
 *   views?: Record<string, Promise<{el: HTMLElement}>>,
 *   widget_manager?: {get_model(id: string): Promise<WidgetModel>},
 * }} WidgetModel
 */

// How often to look for views of the figure not drawn yet: a view still being
// plotted (plotly.js is a 5 MB module), or one shown later, after the signal
// stopped changing, must get the last value too.
const WATCH_MS = 250;

/**
 * Whether `next[0 .. n - shift)` equals `drawn[shift .. n)` item by item.
 * @param {unknown[]} drawn
 * @param {unknown[]} next
 * @param {number} shift
 */
function overlaps(drawn, next, shift) {
  const n = drawn.length - shift;
  if (next.length < n) return false;
  for (let i = 0; i < n; i++) if (next[i] !== drawn[i + shift]) return false;
  return true;
}

/**
 * What turns the trace that shows `drawn` into one that shows `next`: nothing, an
 * append (possibly dropping points from the front, as a sliding window does), or a
 * whole redraw. Compares items, O(length): correct for any change, and cheap beside
 * the redraw itself.
 * @param {Series | null} drawn
 * @param {Series} next
 * @returns {Plan}
 */
export function planUpdate(drawn, next) {
  const replace = /** @type {Plan} */ ({ kind: "replace", x: next.x, y: next.y });
  if (next.x.length !== next.y.length) return replace;
  if (drawn === null) return next.y.length ? replace : { kind: "none" };
  if (drawn.x === next.x && drawn.y === next.y) return { kind: "none" };
  const length = drawn.y.length;
  // The front moved by `shift` points; the first candidate whose overlap checks wins.
  for (let shift = 0; shift <= length; shift++) {
    if (shift < length && (drawn.x[shift] !== next.x[0] || drawn.y[shift] !== next.y[0]))
      continue;
    if (!overlaps(drawn.x, next.x, shift) || !overlaps(drawn.y, next.y, shift)) continue;
    const kept = length - shift;
    if (shift === length && length > 0) break; // nothing kept: not an append
    if (kept === next.y.length) return shift === 0 ? { kind: "none" } : replace;
    return {
      kind: "extend",
      x: next.x.slice(kept),
      y: next.y.slice(kept),
      maxPoints: next.y.length,
    };
  }
  return replace;
}

/**
 * Whether `value` holds two arrays `x` and `y`.
 * @param {unknown} value
 * @returns {value is Series}
 */
export function isSeries(value) {
  const v = /** @type {{x?: unknown, y?: unknown} | null} */ (value);
  return typeof v === "object" && v !== null && Array.isArray(v.x) && Array.isArray(v.y);
}

/**
 * Applies `plan` to the trace `trace` of the plot `gd`. Copies the arrays it hands to
 * plotly, which may grow them in place: the signal's arrays are shared and immutable.
 * `_doNotReportToPy` keeps the FigureWidget's view from sending the restyle to the
 * kernel (it would carry the whole series).
 * @param {PlotlyApi} plotly
 * @param {HTMLElement} gd
 * @param {number} trace
 * @param {Plan} plan
 */
export function applyPlan(plotly, gd, trace, plan) {
  if (plan.kind === "extend") {
    return plotly.extendTraces(gd, { x: [plan.x], y: [plan.y] }, [trace], plan.maxPoints);
  }
  if (plan.kind === "replace") {
    return plotly.restyle(
      gd,
      { x: [plan.x.slice()], y: [plan.y.slice()], _doNotReportToPy: true },
      [trace],
    );
  }
  return Promise.resolve();
}

/**
 * Why `value` cannot be drawn as a trace, or "" if it can.
 * @param {unknown} value
 */
export function seriesProblem(value) {
  if (!isSeries(value)) return `expected {x: [...], y: [...]}, got ${describe(value)}`;
  if (value.x.length !== value.y.length) {
    return `expected x and y of one length, got ${value.x.length} and ${value.y.length}`;
  }
  return "";
}

/**
 * A value for a message: its kind, and its length where it has one.
 * @param {unknown} value
 */
export function describe(value) {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === "object") return `an object with keys ${JSON.stringify(Object.keys(value).slice(0, 5))}`;
  return `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}

/**
 * Keeps trace `trace` of every view of `figure` equal to `source`'s value.
 * Returns the function that stops it. `report` hears why a value was not drawn
 * (a value that is not a series, plotly rejecting it), and "" once one is.
 * @param {WidgetModel} source
 * @param {WidgetModel} figure
 * @param {number} trace
 * @param {() => PlotlyApi | undefined} plotly
 * @param {(problem: string) => void} [report]
 */
export function follow(source, figure, trace, plotly, report = () => {}) {
  /** @type {WeakMap<HTMLElement, Series>} what each plot shows */
  const drawn = new WeakMap();
  let stopped = false;

  const sync = async () => {
    const value = source.get("value");
    const api = plotly();
    // Before the signal's first value (rev -1) there is nothing to draw yet.
    if (stopped || (source.get("rev") ?? 0) < 0) return;
    const problem = seriesProblem(value);
    if (problem) {
      report(problem);
      return;
    }
    const series = /** @type {Series} */ (value);
    const views = await Promise.all(Object.values(figure.views ?? {}));
    let waiting = !api;
    for (const { el } of views) {
      // A view whose newPlot has not finished has no layout yet: the watch comes back.
      if (!api || !(/** @type {{_fullLayout?: unknown}} */ (el)._fullLayout)) {
        waiting = true;
        continue;
      }
      const plan = planUpdate(drawn.get(el) ?? null, series);
      try {
        await applyPlan(api, el, trace, plan);
        drawn.set(el, series);
      } catch (error) {
        // Drawn or not, this view is redrawn whole next time.
        drawn.delete(el);
        throw error;
      }
    }
    if (!waiting) report("");
  };
  // One sync at a time, in order of the changes: each plan starts from what the
  // previous one drew.
  let queue = Promise.resolve();
  const enqueue = () => {
    queue = queue
      .then(sync)
      .catch((error) => report(`plotly rejected it: ${error instanceof Error ? error.message : String(error)}`));
  };
  let queued = false;
  const onChange = () => {
    // Changes faster than plotly draws: one sync runs with the latest value.
    if (queued) return;
    queued = true;
    queue = queue.then(() => {
      queued = false;
    });
    enqueue();
  };
  const watch = setInterval(async () => {
    const views = await Promise.all(Object.values(figure.views ?? {}));
    if (!stopped && views.some(({ el }) => !drawn.has(el))) onChange();
  }, WATCH_MS);
  source.on("change:value", onChange);
  onChange();
  return () => {
    stopped = true;
    clearInterval(watch);
    source.off("change:value", onChange);
  };
}
