// The default view: a status dot and either a live JSON tree that redraws
// only what changed, a `template` string, or a user `format_js` function.
import { SignalsError } from "./errors.js";
import { display, Template } from "./template.js";
import { VERSION } from "./version.js";

/** @typedef {(value: unknown) => string | Node} Formatter */

// Rows drawn per array or object; the rest is counted, not drawn.
const LIMIT = 200;

const CSS = `
.nb-sse-signals{display:flex;gap:.5em;align-items:baseline;font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,13px);color:var(--jp-content-font-color1,inherit)}
.nb-sse-signals-dot{flex:none;width:.6em;height:.6em;border-radius:50%;background:var(--jp-border-color1,#bdbdbd)}
.nb-sse-signals-status-live>.nb-sse-signals-dot{background:var(--jp-success-color1,#388e3c)}
.nb-sse-signals-status-stale>.nb-sse-signals-dot{background:var(--jp-warn-color1,#f57c00)}
.nb-sse-signals-status-error>.nb-sse-signals-dot{background:var(--jp-error-color1,#d32f2f)}
.nb-sse-signals-status-closed>.nb-sse-signals-dot{background:var(--jp-ui-font-color3,#9e9e9e)}
.nb-sse-signals-content{min-width:0;white-space:pre-wrap;overflow-wrap:anywhere}
.nb-sse-signals-tree .nb-sse-signals-tree{padding-left:1.5em}
.nb-sse-signals-array:empty::before{content:"[]"}
.nb-sse-signals-object:empty::before{content:"{}"}
.nb-sse-signals-key{color:var(--jp-mirror-editor-property-color,#00f)}
.nb-sse-signals-more,.nb-sse-signals-failed{color:var(--jp-ui-font-color2,#757575)}
`;

/**
 * Compile the source of `(value) => string | Node` once.
 *
 * @param {string} source
 * @returns {Formatter}
 * @throws {SignalsError} when the source does not evaluate to a function
 */
export function compileFormat(source) {
  let format;
  try {
    format = new Function(`"use strict";return (${source}\n);`)();
  } catch (error) {
    throw new SignalsError(`format_js: ${/** @type {Error} */ (error).message}`, { cause: error });
  }
  if (typeof format !== "function") throw new SignalsError(`format_js: expected a function, got ${typeof format}`);
  return format;
}

/** @param {unknown} value */
function kind(value) {
  if (Array.isArray(value)) return "array";
  return typeof value === "object" && value !== null ? "object" : "scalar";
}

/**
 * A JSON value as a DOM tree that, given the next value, redraws only the
 * subtrees that are not the very same objects (patch.js keeps unchanged
 * subtrees identical), and a scalar as one text node.
 */
export class JsonTree {
  /** @type {WeakMap<Node, { rows: Map<string, Element>, more: Element | null }>} */
  #containers = new WeakMap();

  /** @param {Document} doc */
  constructor(doc) {
    this.doc = doc;
    /** @type {unknown} */
    this.value = undefined;
    /** @type {Node} */
    this.node = this.#render(undefined, true);
  }

  /**
   * Show `value`; returns the root node, which is a new one only when the
   * kind of the root changed (the caller puts it in place).
   *
   * @param {unknown} value
   */
  update(value) {
    this.node = this.#patch(this.node, this.value, value, true);
    this.value = value;
    return this.node;
  }

  /**
   * @param {unknown} value
   * @param {boolean} root a root string shows without quotes
   * @returns {Node}
   */
  #render(value, root) {
    const kindOf = kind(value);
    if (kindOf === "scalar") return this.doc.createTextNode(root ? display(value) : JSON.stringify(value) ?? "");
    const el = this.doc.createElement("div");
    el.className = `nb-sse-signals-tree nb-sse-signals-${kindOf}`;
    this.#containers.set(el, { rows: new Map(), more: null });
    this.#rows(el, {}, /** @type {Record<string, unknown>} */ (value));
    return el;
  }

  /**
   * @param {Node} node
   * @param {unknown} old
   * @param {unknown} value
   * @param {boolean} root
   * @returns {Node}
   */
  #patch(node, old, value, root) {
    if (old === value) return node;
    const kindOf = kind(value);
    if (kindOf !== kind(old)) return this.#render(value, root);
    if (kindOf === "scalar") {
      /** @type {Text} */ (node).data = root ? display(value) : (JSON.stringify(value) ?? "");
      return node;
    }
    this.#rows(/** @type {Element} */ (node), /** @type {Record<string, unknown>} */ (old), /** @type {Record<string, unknown>} */ (value));
    return node;
  }

  /**
   * Make the rows of container `el` show `value`, reusing the rows of `old`.
   *
   * @param {Element} el
   * @param {Record<string, unknown>} old
   * @param {Record<string, unknown>} value
   */
  #rows(el, old, value) {
    const state = /** @type {{ rows: Map<string, Element>, more: Element | null }} */ (this.#containers.get(el));
    const keys = Object.keys(value);
    const shown = keys.slice(0, LIMIT);
    const keep = new Set(shown);
    for (const [key, row] of state.rows) {
      if (!keep.has(key)) {
        el.removeChild(row);
        state.rows.delete(key);
      }
    }
    for (const key of shown) {
      const row = state.rows.get(key);
      if (row) {
        const before = /** @type {Node} */ (row.lastChild);
        const after = this.#patch(before, old[key], value[key], false);
        if (after !== before) row.replaceChild(after, before);
      } else {
        const created = this.doc.createElement("div");
        created.className = "nb-sse-signals-row";
        const label = this.doc.createElement("span");
        label.className = "nb-sse-signals-key";
        label.textContent = key;
        created.appendChild(label);
        created.appendChild(this.doc.createTextNode(": "));
        created.appendChild(this.#render(value[key], false));
        el.insertBefore(created, state.more);
        state.rows.set(key, created);
      }
    }
    const hidden = keys.length - shown.length;
    if (hidden > 0) {
      if (!state.more) {
        state.more = this.doc.createElement("div");
        state.more.className = "nb-sse-signals-more";
        el.appendChild(state.more);
      }
      state.more.textContent = `… ${hidden} more`;
    } else if (state.more) {
      el.removeChild(state.more);
      state.more = null;
    }
  }
}

/**
 * The view's stylesheet, once per document (the chart's status dot uses it too).
 * @param {Document} doc
 */
export function addStyle(doc) {
  addSheet(doc, CSS, `nb-sse-signals-style-${VERSION}`);
}

/**
 * A stylesheet `css` in `doc`, once per document under `id` (views of every widget share it).
 * @param {Document} doc
 * @param {string} css
 * @param {string} id
 */
export function addSheet(doc, css, id) {
  if (!doc.head || doc.getElementById(id)) return;
  const style = doc.createElement("style");
  style.id = id;
  style.textContent = css;
  doc.head.appendChild(style);
}

/**
 * Show `status` on `el`, whose child `.nb-sse-signals-dot` takes its colour (the
 * stylesheet of addStyle), and say it in the tooltip with the signal's `name`.
 * @param {HTMLElement} el
 * @param {string} name
 * @param {string} status
 */
export function showStatus(el, name, status) {
  el.className = `nb-sse-signals nb-sse-signals-status-${status}`;
  el.title = name ? `${name}: ${status}` : status;
}

export class View {
  /** @type {JsonTree | null} */
  #tree = null;
  /** @type {Formatter | null} */
  #format = null;
  /** Fills the template's nodes with a value (template.js). @type {((value: unknown) => void) | null} */
  #fill = null;
  #status = "connecting";

  /**
   * @param {HTMLElement} el where to draw; the view adds one child
   * @param {{ name?: string, template?: string, formatJs?: string }} [options]
   *   `formatJs` wins over `template`; with neither, the JSON tree
   */
  constructor(el, { name = "", template = "", formatJs = "" } = {}) {
    const doc = /** @type {Document} */ (el.ownerDocument);
    addStyle(doc);
    this.name = name;
    this.template = template;
    this.root = doc.createElement("div");
    const dot = doc.createElement("span");
    dot.className = "nb-sse-signals-dot";
    this.content = doc.createElement("div");
    this.content.className = "nb-sse-signals-content";
    this.root.appendChild(dot);
    this.root.appendChild(this.content);
    el.appendChild(this.root);
    this.setStatus("connecting");
    if (formatJs) {
      try {
        this.#format = compileFormat(formatJs);
      } catch (error) {
        this.#failed(error);
      }
    } else if (template) {
      try {
        const { nodes, fill } = new Template(doc, template).instantiate();
        this.content.appendChild(nodes);
        this.#fill = fill;
      } catch (error) {
        this.#failed(error);
      }
    } else {
      this.#tree = new JsonTree(doc);
      this.content.appendChild(this.#tree.node);
    }
  }

  /** @param {unknown} value the (selected) signal value */
  update(value) {
    if (this.#tree) {
      const before = this.#tree.node;
      const after = this.#tree.update(value);
      if (after !== before) this.content.replaceChild(after, before);
    } else if (this.#format) {
      let shown;
      try {
        shown = this.#format(value);
      } catch (error) {
        this.#failed(error);
        return;
      }
      this.content.className = "nb-sse-signals-content";
      this.content.textContent = "";
      if (typeof shown === "object" && shown !== null && "nodeType" in shown) this.content.appendChild(shown);
      else this.content.textContent = String(shown);
    } else if (this.#fill) {
      this.#fill(value);
    }
  }

  /** @param {string} status */
  setStatus(status) {
    this.#status = status;
    showStatus(this.root, this.name, status);
  }

  get status() {
    return this.#status;
  }

  destroy() {
    this.root.parentNode?.removeChild(this.root);
  }

  /** @param {unknown} error */
  #failed(error) {
    console.error("[nb_sse_signals]", error);
    this.content.textContent = String(/** @type {Error} */ (error)?.message ?? error);
    this.content.className = "nb-sse-signals-content nb-sse-signals-failed";
  }
}
