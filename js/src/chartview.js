// The SignalChart's view: a uPlot line chart of the signal's series, with
// the status dot, a title, the legend, and the problem (if any) in words.
// Redraws at most once per animation frame, never while the page is hidden,
// and follows JupyterLab's light or dark theme.
import { ChartSeries } from "./chartdata.js";
import { tokens } from "./patch.js";
import { VERSION } from "./version.js";
import { addSheet, addStyle, showStatus } from "./view.js";

/**
 * The part of uPlot the view uses (chart.js passes uPlot itself; tests a recorder,
 * as Node has no canvas).
 * @typedef {{
 *   setData(data: any[]): void, setSize(size: { width: number, height: number }): void, destroy(): void,
 *   series: { width?: number }[],
 * }} Plot
 * @typedef {new (options: any, data: any[], target: HTMLElement) => Plot} PlotClass
 * @typedef {{
 *   request(callback: () => void): unknown,
 *   cancel(handle: unknown): void,
 *   hidden(): boolean,
 *   onVisible(callback: () => void): () => void,
 * }} Frames when the page draws: animation frames and its visibility
 * @typedef {{ fg: string, grid: string, dark: boolean }} Theme
 * @typedef {{
 *   x: string, y: string[], window: number | null, labels: string[], height: number,
 *   title: string, name: string,
 * }} ChartOptions
 */

// Tableau's ten colours: told apart on a light and on a dark background.
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

// A line's width in CSS pixels while it has at most a point per pixel column. A denser
// series is drawn one device pixel wide: its line runs up and down each column (the
// decimated extremes), and a canvas without a GPU (Chromium's software raster) strokes
// a line of one device pixel as a hairline, at the cost of the pixels it covers, but
// a wider one as a polygon scan-converted at the cost of its thousands of segments:
// 24 ms a frame for 100,000 noisy points in JupyterLab, against about 1 ms.
const LINE_WIDTH = 1.5;

const CSS = `
.nb-sse-signals-chart{font-family:var(--jp-ui-font-family,sans-serif);font-size:var(--jp-ui-font-size1,13px);color:var(--jp-ui-font-color1,inherit)}
.nb-sse-signals-chart-head{display:flex;gap:.5em;align-items:center}
.nb-sse-signals-chart-title{font-weight:600}
.nb-sse-signals-chart-problem{color:var(--jp-error-color1,#d32f2f)}
.nb-sse-signals-chart-problem:empty{display:none}
.nb-sse-signals-chart .u-legend{color:var(--jp-ui-font-color1,inherit)}
`;

/**
 * The page's animation frames and visibility.
 * @param {Document} doc
 * @returns {Frames}
 */
export function pageFrames(doc) {
  const win = doc.defaultView ?? globalThis;
  return {
    request: (callback) => win.requestAnimationFrame(callback),
    cancel: (handle) => win.cancelAnimationFrame(/** @type {number} */ (handle)),
    hidden: () => doc.visibilityState === "hidden",
    onVisible(callback) {
      const listener = () => {
        if (doc.visibilityState !== "hidden") callback();
      };
      doc.addEventListener("visibilitychange", listener);
      return () => doc.removeEventListener("visibilitychange", listener);
    },
  };
}

/**
 * Colours for the axes, from JupyterLab's theme (`data-jp-theme-light` on the
 * body, its CSS variables), else from the browser's colour scheme.
 * @param {HTMLElement} el
 * @returns {Theme}
 */
export function readTheme(el) {
  const doc = /** @type {Document} */ (el.ownerDocument);
  const light = doc.body?.dataset?.jpThemeLight;
  const dark =
    light !== undefined ? light === "false" : Boolean(doc.defaultView?.matchMedia?.("(prefers-color-scheme: dark)").matches);
  const style = doc.defaultView?.getComputedStyle?.(el);
  const variable = (/** @type {string} */ name) => style?.getPropertyValue(name).trim() || "";
  return {
    dark,
    fg: variable("--jp-ui-font-color1") || (dark ? "#e0e0e0" : "#212121"),
    grid: variable("--jp-border-color2") || (dark ? "#424242" : "#e0e0e0"),
  };
}

/**
 * A series' default name in the legend: its pointer's last token, unescaped (RFC
 * 6901: "~1" is "/", "~0" is "~"), so "/loss" reads "loss" and "/a~1b" "a/b".
 * @param {string} pointer
 */
export function seriesLabel(pointer) {
  try {
    return tokens(pointer).at(-1) ?? "value";
  } catch {
    return pointer; // not a pointer: the chart says so where it draws
  }
}

export class ChartView {
  /** @type {Plot | null} */
  #plot = null;
  /** @type {unknown} the latest value, drawn at the next frame */
  #value = undefined;
  #dirty = false;
  /** @type {unknown} */
  #pending = null;
  #problem = "";
  #width = 0;
  #series = new ChartSeries();
  /** @type {(() => void)[]} */
  #cleanups = [];

  /**
   * @param {HTMLElement} el
   * @param {ChartOptions} options
   * @param {{ Plot: PlotClass, css?: string, frames?: Frames, log?: { error(...data: unknown[]): void } }} deps
   *   `css`: uPlot's stylesheet
   */
  constructor(el, options, { Plot, css = "", frames, log = console }) {
    const doc = /** @type {Document} */ (el.ownerDocument);
    addStyle(doc);
    addSheet(doc, CSS + css, `nb-sse-signals-chart-style-${VERSION}`);
    this.options = options;
    this.Plot = Plot;
    this.log = log;
    this.frames = frames ?? pageFrames(doc);
    const make = (/** @type {string} */ tag, /** @type {string} */ suffix) => {
      const made = doc.createElement(tag);
      made.className = `nb-sse-signals-${suffix}`;
      return made;
    };
    this.root = make("div", "chart");
    const head = make("div", "chart-head");
    this.status = doc.createElement("span");
    this.title = make("span", "chart-title");
    this.problem = make("span", "chart-problem");
    this.status.appendChild(make("span", "dot"));
    head.append(this.status, this.title, this.problem);
    this.canvas = doc.createElement("div");
    this.root.append(head, this.canvas);
    el.appendChild(this.root);
    // The uPlot instance, for whoever wants more of it than the view offers (an
    // export of the canvas, draw hooks), and every point of the series (uPlot gets
    // a few per pixel column): tests read back what is drawn through them.
    Object.defineProperty(this.root, "nbSseSignalsPlot", { configurable: true, get: () => this.#plot });
    Object.defineProperty(this.root, "nbSseSignalsData", { configurable: true, get: () => this.#series.points() });
    this.el = el;
    this.setStatus("connecting");
    this.configure(options);
    this.#cleanups.push(this.frames.onVisible(() => this.#schedule()));
    const win = doc.defaultView;
    if (win?.ResizeObserver) {
      const observer = new win.ResizeObserver(() => this.#resize());
      observer.observe(this.root);
      this.#cleanups.push(() => observer.disconnect());
    }
    if (win?.MutationObserver && doc.body) {
      // JupyterLab switches themes by these attributes: redraw in the new colours.
      const observer = new win.MutationObserver(() => this.#rebuild());
      observer.observe(doc.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
      this.#cleanups.push(() => observer.disconnect());
    }
  }

  /**
   * New series, window, labels or size: the plot is made again at the next frame.
   * @param {ChartOptions} options
   */
  configure(options) {
    this.options = options;
    this.#series = new ChartSeries();
    this.title.textContent = options.title;
    this.#rebuild();
  }

  /** @param {unknown} value the signal's value; drawn at the next frame the page shows */
  update(value) {
    this.#value = value;
    this.#dirty = true;
    this.#schedule();
  }

  /** @param {string} status */
  setStatus(status) {
    showStatus(this.status, this.options.name, status);
  }

  /** Whether a problem stops the latest value from being drawn, and which. */
  get shownProblem() {
    return this.#problem;
  }

  destroy() {
    if (this.#pending !== null) this.frames.cancel(this.#pending);
    this.#pending = null;
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    this.#plot?.destroy();
    this.#plot = null;
    this.root.remove();
  }

  #rebuild() {
    this.#plot?.destroy();
    this.#plot = null;
    this.canvas.textContent = "";
    if (this.#value !== undefined) this.#dirty = true;
    this.#schedule();
  }

  #schedule() {
    // A hidden page gets no frames anyway; waiting for `visibilitychange` says so.
    if (!this.#dirty || this.#pending !== null || this.frames.hidden()) return;
    this.#pending = this.frames.request(() => {
      this.#pending = null;
      this.#draw();
    });
  }

  #draw() {
    if (!this.#dirty || this.frames.hidden()) return;
    this.#dirty = false;
    const problem = this.#series.sync(this.#value, this.options);
    this.#setProblem(problem);
    if (problem) return; // the last good drawing stays
    // Measured once, before the first plot; a rebuild (a theme switch) keeps the width the
    // plot had, since without the plot in it the output may shrink to the header's width.
    if (!this.#plot && !this.#width) this.#width = this.#measure();
    const ratio = this.el.ownerDocument.defaultView?.devicePixelRatio || 1;
    const pixels = Math.round(this.#width * ratio);
    const data = this.#series.decimated(pixels);
    const width = this.#series.length > pixels ? 1 / ratio : LINE_WIDTH;
    if (!this.#plot) this.#plot = new this.Plot(this.#plotOptions(width), data, this.canvas);
    else {
      // uPlot reads a series' width when it draws it: set before the drawing setData asks for.
      for (const series of this.#plot.series.slice(1)) series.width = width;
      this.#plot.setData(data);
    }
    this.root.dataset.points = String(this.#series.length);
  }

  /** @param {string} problem */
  #setProblem(problem) {
    if (problem === this.#problem) return;
    this.#problem = problem;
    this.problem.textContent = problem ? `⚠ ${problem}` : "";
    if (problem) this.log.error(`[nb_sse_signals] chart of ${this.options.name}: ${problem}; the last good drawing stays`);
  }

  #measure() {
    return Math.max(200, this.root.clientWidth || this.el.clientWidth || 600);
  }

  #resize() {
    const width = this.#measure();
    if (this.#plot && width !== this.#width) {
      this.#width = width;
      this.#plot.setSize({ width, height: this.options.height });
      // Decimated for the old width: picked again for the new one.
      this.#dirty = this.#value !== undefined;
      this.#schedule();
    }
  }

  /** @param {number} width the lines' width, CSS pixels */
  #plotOptions(width) {
    const theme = readTheme(this.el);
    const { y, labels, x, height } = this.options;
    const axis = { stroke: theme.fg, grid: { stroke: theme.grid, width: 1 }, ticks: { stroke: theme.grid, width: 1 } };
    return {
      width: this.#width,
      height,
      scales: { x: { time: false } },
      series: [
        { label: x ? seriesLabel(x) : "index" },
        ...y.map((pointer, i) => ({
          label: labels[i] || seriesLabel(pointer),
          stroke: PALETTE[i % PALETTE.length],
          width,
          // Markers on 100,000 points would hide the line and cost a draw each.
          points: { show: false },
        })),
      ],
      axes: [axis, axis],
    };
  }
}
