// `nb_sse_signals.link(source, (target, "trait"))` in the browser: the anywidget
// module of SignalLink (nb_sse_signals/_link.py). Once per page (anywidget runs
// `initialize` once per model per page, in every tab), it copies the signal
// widget's `value` into the target model with `model.set` and never saves it:
// no bytes go to the kernel, so ipywidgets has nothing to echo to the other
// tabs, each of which does the same from its own copy of the signal.
// `link(source, (figure, trace))` follows a plotly FigureWidget's trace instead
// (plotly.js: extendTraces for appends).
import { describe, follow } from "./plotly.js";

/**
 * The parts of an ipywidgets model used here: anywidget's model proxy (the link's
 * own), and the real WidgetModels that `widget_manager.get_model` returns.
 * `_buffered_state_diff` is ipywidgets' running diff of `set`s, sent at the next
 * `save_changes`.
 * @typedef {{
 *   get(name: string): any,
 *   set(name: string, value: unknown): void,
 *   on(event: string, callback: () => void): void,
 *   off(event: string, callback: () => void): void,
 *   views?: Record<string, Promise<{el: HTMLElement}>>,
 *   widget_manager?: {get_model(id: string): Promise<LinkedModel>},
 *   _buffered_state_diff?: Record<string, unknown>,
 * }} LinkedModel
 * @typedef {{ error(...data: unknown[]): void }} Logger
 */

const PREFIX = "IPY_MODEL_";

/**
 * Why `value` should not go into a trait that now holds `current`, or "" if it may.
 * The trait's current value stands for its type (a link can target any widget's
 * trait, and the browser knows no trait types): a list stays a list (of numbers if it
 * holds numbers), a number a number, a string a string, a flag a flag. A trait that
 * holds null takes anything.
 * @param {unknown} value
 * @param {unknown} current
 */
export function valueProblem(value, current) {
  if (current === undefined) return "the target has no such trait";
  if (current === null) return "";
  if (value === null || value === undefined) {
    return "the signal has no value there (yet?): got null";
  }
  if (Array.isArray(current) || ArrayBuffer.isView(current)) {
    if (!Array.isArray(value)) return `expected a list, got ${describe(value)}`;
    const numeric = ArrayBuffer.isView(current) || typeof (/** @type {unknown[]} */ (current))[0] === "number";
    if (numeric) {
      for (let i = 0; i < value.length; i++) {
        const item = value[i];
        if (typeof item !== "number" && item !== null) return `expected a list of numbers, item ${i} is ${describe(item)}`;
      }
    }
    return "";
  }
  if (typeof current === "number") {
    return typeof value === "number" ? "" : `expected a number, got ${describe(value)}`;
  }
  if (typeof current === "string" || typeof current === "boolean") {
    return typeof value === typeof current ? "" : `expected a ${typeof current}, got ${describe(value)}`;
  }
  if (typeof current === "object" && (typeof value !== "object" || Array.isArray(value))) {
    return `expected an object, got ${describe(value)}`;
  }
  return "";
}

/**
 * Set `trait` of `target` in this page only. ipywidgets keeps a running diff of every
 * `set` for the next `save_changes`, which any view may call (a click on the plot):
 * ours is dropped from it, so the linked value never goes to the kernel.
 * @param {LinkedModel} target
 * @param {string} trait
 * @param {unknown} value
 */
export function setLocally(target, trait, value) {
  target.set(trait, value);
  if (target._buffered_state_diff) delete target._buffered_state_diff[trait];
}

/**
 * Keep `target`'s `trait` equal to `source`'s value, in this page; returns the
 * function that stops. A value that does not fit is not set: `report` hears why,
 * and "" once a value fits again. Never throws into the page.
 * @param {LinkedModel} source a signal widget's model
 * @param {LinkedModel} target
 * @param {string} trait
 * @param {(problem: string) => void} report
 */
export function linkTrait(source, target, trait, report) {
  const copy = () => {
    if ((source.get("rev") ?? -1) < 0) return; // no value yet: leave the target as it is
    const value = source.get("value");
    const problem = valueProblem(value, target.get(trait));
    if (problem) {
      report(problem);
      return;
    }
    try {
      setLocally(target, trait, value);
      report("");
    } catch (error) {
      // A view of the target that could not take it (Backbone runs them inside `set`).
      report(`the target rejected it: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  source.on("change:value", copy);
  copy();
  return () => source.off("change:value", copy);
}

/**
 * The model behind a widget reference ("IPY_MODEL_<id>").
 * @param {LinkedModel} model
 * @param {string} name
 */
function referenced(model, name) {
  const ref = String(model.get(name));
  if (!ref.startsWith(PREFIX) || !model.widget_manager) {
    return Promise.reject(new TypeError(`expected ${name} to be a widget, got ${ref}`));
  }
  return model.widget_manager.get_model(ref.slice(PREFIX.length));
}

/**
 * What the link says about itself in messages: "series/y → LinesModel.y".
 * @param {LinkedModel} source
 * @param {LinkedModel} target
 * @param {LinkedModel} model the link
 */
function title(source, target, model) {
  const trace = model.get("trace");
  const into = trace >= 0 ? `trace ${trace}` : model.get("trait");
  return `${source.get("name")}${source.get("pointer") || ""} → ${target.get("_model_name") ?? "widget"}.${into}`;
}

/**
 * @param {{ model: LinkedModel, log?: Logger, plotly?: () => import("./plotly.js").PlotlyApi | undefined }} context
 *   `log` and `plotly` default to the console and `globalThis.Plotly` (which a
 *   FigureWidget's bundle sets when it loads)
 */
function initialize({ model, log = console, plotly }) {
  let stop = () => {};
  let closed = false;
  let last = "";
  let name = "link";
  /** @param {string} problem */
  const report = (problem) => {
    if (problem === last) return; // at 30 updates a second, say it once
    last = problem;
    model.set("problem", problem);
    if (problem) log.error(`[nb_sse_signals] ${name}: ${problem}; the target keeps its last good value`);
  };
  // anywidget gives up on a model whose initialize takes ~2 s: do not await here.
  Promise.all([referenced(model, "source"), referenced(model, "target")])
    .then(([source, target]) => {
      if (closed) return;
      name = title(source, target, model);
      const trace = Number(model.get("trace"));
      if (trace >= 0) {
        const api = plotly ?? (() => /** @type {{Plotly?: import("./plotly.js").PlotlyApi}} */ (globalThis).Plotly);
        stop = follow(source, target, trace, api, report);
      } else {
        stop = linkTrait(source, target, String(model.get("trait")), report);
      }
    })
    .catch((error) => report(error instanceof Error ? error.message : String(error)));
  return () => {
    closed = true;
    stop();
  };
}

/**
 * Shown only if the user displays the link: what it links, or why it does not.
 * @param {{ model: LinkedModel, el: HTMLElement }} context
 */
function render({ model, el }) {
  el.classList.add("nb-sse-signals-link");
  const draw = () => {
    const problem = model.get("problem");
    el.textContent = problem ? `⚠ ${problem}` : "linked";
    el.title = problem;
  };
  model.on("change:problem", draw);
  draw();
  return () => model.off("change:problem", draw);
}

export default { initialize, render };
