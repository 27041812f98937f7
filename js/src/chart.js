// The anywidget module of SignalChart (nb_sse_signals/_chart.py): follows the
// signal as every signal widget does (widget.js) and draws its series with
// uPlot (chartview.js). A module of its own, so that widgets that do not chart
// never ship uPlot.
import uPlot from "uplot";
import css from "uplot/dist/uPlot.min.css";
import { ChartView } from "./chartview.js";
import { initializeLive } from "./widget.js";

/** @typedef {import("./widget.js").Model} Model */

/** @param {Model} model @returns {import("./chartview.js").ChartOptions} */
function optionsOf(model) {
  return {
    x: model.get("x") ?? "",
    y: model.get("y") ?? [],
    window: model.get("window") ?? null,
    labels: model.get("labels") ?? [],
    height: model.get("height") ?? 300,
    title: model.get("title") ?? "",
    name: model.get("name") ?? "",
  };
}

/**
 * @param {{ model: Model, el: HTMLElement }} context
 * @returns {() => void} remove the view
 */
function render({ model, el }) {
  const view = new ChartView(el, optionsOf(model), { Plot: uPlot, css });
  // Before the first value (rev -1) `value` is a placeholder null.
  // `value` is the signal's live value (widget.js `initializeLive`): changed in place,
  // so `change:rev` tells of a change as much as `change:value`.
  const onValue = () => {
    if ((model.get("rev") ?? -1) >= 0) view.update(model.get("value"));
  };
  const onStatus = () => view.setStatus(model.get("status") || "connecting");
  const onOptions = () => view.configure(optionsOf(model));
  /** @type {[string, () => void][]} */
  const handlers = [
    ["change:value", onValue],
    ["change:rev", onValue],
    ["change:status", onStatus],
    ...["x", "y", "window", "labels", "height", "title"].map((key) => /** @type {[string, () => void]} */ ([`change:${key}`, onOptions])),
  ];
  for (const [event, handler] of handlers) model.on(event, handler);
  onStatus();
  onValue();
  return () => {
    for (const [event, handler] of handlers) model.off(event, handler);
    view.destroy();
  };
}

export default { initialize: initializeLive, render };
