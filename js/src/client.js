// For plain web pages (no Jupyter, no widget): follow signals with the same
// shared connection, patch application and view the widget uses. The
// standalone server serves this bundle at /static/client.js.
import { sharedPool } from "./tabs.js";
import { View } from "./view.js";

export { View };

/**
 * Follow signal `name` on the server at `base` (absolute, ending in "/").
 *
 * @param {string} base
 * @param {string} name
 * @param {import("./connection.js").Listener} listener
 * @param {{ token?: string }} [options]
 * @returns {() => void} leave
 */
export function subscribe(base, name, listener, options = {}) {
  return sharedPool().join(base, name, listener, options);
}

/**
 * Show signal `name` in `el`, live; returns a function that stops.
 *
 * @param {HTMLElement} el
 * @param {string} base
 * @param {string} name
 * @param {{ token?: string, template?: string, formatJs?: string }} [options]
 */
export function show(el, base, name, { token = "", template = "", formatJs = "" } = {}) {
  const view = new View(el, { name, template, formatJs });
  const leave = subscribe(
    base,
    name,
    (event) => (event.type === "value" ? view.update(event.value) : view.setStatus(event.status)),
    { token },
  );
  return () => {
    leave();
    view.destroy();
  };
}
