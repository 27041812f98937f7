// The anywidget front end: `initialize` follows the signal (once per model),
// `render` draws it (once per view).
import { resolveBase } from "./baseurl.js";
import { followComm } from "./comm.js";
import { sharedPool } from "./tabs.js";
import { select } from "./patch.js";
import { readsLive } from "./signal.js";
import { View } from "./view.js";

/**
 * The part of anywidget's model this widget uses. Synced from Python:
 * `url`, `needs_token`, `name`, `pointer`, `template`, `format_js`, `transport`
 * ("sse": the stream at `url`; "comm": the kernel relays it over this
 * model's comm, see comm.js). Set here,
 * never saved back (the kernel keeps its own copy; N tabs must not echo
 * the value N times): `value`, `rev`, `status`.
 *
 * @typedef {{
 *   get(key: string): any,
 *   set(key: string, value: unknown): void,
 *   on(event: string, callback: (...args: any[]) => void): void,
 *   off(event: string, callback: (...args: any[]) => void): void,
 *   send(content: unknown): void,
 * }} Model
 */

const FOLLOW = ["change:url", "change:needs_token", "change:name", "change:transport"];

/**
 * The part of `value` the widget's pointer selects, or null.
 *
 * @param {unknown} value
 * @param {string} pointer
 */
function selected(value, pointer) {
  try {
    return select(value, pointer || "") ?? null;
  } catch (error) {
    console.error(`[nb_sse_signals] pointer ${JSON.stringify(pointer)}:`, /** @type {Error} */ (error).message);
    return null;
  }
}

/**
 * Join the page's shared stream without waiting for it (anywidget gives up on
 * a model whose initialize takes about 2 s).
 *
 * @param {{ model: Model }} context
 * @returns {() => void} leave
 */
function initialize({ model }) {
  return follow(model, false);
}

/**
 * `initialize` for a model whose views read its `value` again at each `rev` and keep
 * no part of it (SignalChart's): `value` is then the signal's live value (signal.js
 * `live`), which changes in place, with no copy per change; `change:rev` says when.
 *
 * @param {{ model: Model }} context
 * @returns {() => void} leave
 */
export function initializeLive({ model }) {
  return follow(model, true);
}

/**
 * @param {Model} model
 * @param {boolean} live whether `value` is the signal's live value
 * @returns {() => void} leave
 */
function follow(model, live) {
  let leave = () => {};
  /** @type {unknown} */
  let whole;
  let rev = -1;
  const join = () => {
    leave();
    leave = () => {};
    const name = model.get("name");
    if (!name) {
      console.error("[nb_sse_signals] the widget has no signal name");
      model.set("status", "error");
      return;
    }
    /** @type {import("./connection.js").Listener} */
    const listen = (event) => {
      if (event.type === "status") {
        model.set("status", event.status);
        return;
      }
      whole = live && "live" in event ? event.live : event.value;
      rev = event.rev;
      // rev first, so a `change:value` observer reads the matching rev.
      model.set("rev", rev);
      model.set("value", selected(whole, model.get("pointer")));
    };
    const onEvent = live ? readsLive(listen) : listen;
    if (model.get("transport") === "comm") {
      leave = followComm(model, name, onEvent);
      return;
    }
    const base = resolveBase(model.get("url"));
    if (!model.get("needs_token")) {
      leave = sharedPool().join(base, name, onEvent);
      return;
    }
    // The token never travels as widget state (a saved notebook would keep it):
    // the kernel sends it in a custom message, when asked or unasked.
    /** @param {any} content */
    const onToken = (content) => {
      if (content?.type !== "token" || typeof content.token !== "string") return;
      model.off("msg:custom", onToken);
      leave = sharedPool().join(base, name, onEvent, { token: content.token });
    };
    model.on("msg:custom", onToken);
    leave = () => model.off("msg:custom", onToken);
    model.send({ type: "hello" });
  };
  const reselect = () => {
    if (rev >= 0) model.set("value", selected(whole, model.get("pointer")));
  };
  for (const event of FOLLOW) model.on(event, join);
  model.on("change:pointer", reselect);
  join();
  return () => {
    for (const event of FOLLOW) model.off(event, join);
    model.off("change:pointer", reselect);
    leave();
  };
}

/**
 * @param {{ model: Model, el: HTMLElement }} context
 * @returns {() => void} remove the view
 */
function render({ model, el }) {
  /** @type {View} */
  let view;
  // Before the first value (rev -1) `value` is a placeholder null, which a
  // template or a user's format_js need not handle: show nothing yet.
  const hasValue = () => (model.get("rev") ?? -1) >= 0;
  const draw = () => {
    view?.destroy();
    view = new View(el, {
      name: model.get("name") || "",
      template: model.get("template") || "",
      formatJs: model.get("format_js") || "",
    });
    view.setStatus(model.get("status") || "connecting");
    if (hasValue()) view.update(model.get("value"));
  };
  const onValue = () => {
    if (hasValue()) view.update(model.get("value"));
  };
  const onStatus = () => view.setStatus(model.get("status") || "connecting");
  /** @type {[string, () => void][]} */
  const handlers = [
    ["change:value", onValue],
    ["change:status", onStatus],
    ["change:template", draw],
    ["change:format_js", draw],
    ["change:name", draw],
  ];
  for (const [event, handler] of handlers) model.on(event, handler);
  draw();
  return () => {
    for (const [event, handler] of handlers) model.off(event, handler);
    view.destroy();
  };
}

export default { initialize, render };
