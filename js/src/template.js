// A widget's `template`, safe by construction: the template (written by the
// notebook's author) is parsed once into DOM nodes; a signal's value (which may
// come from anyone: a sensor, a web API) only ever becomes a text node's data or
// an attribute's value, set through the DOM, never parsed as HTML. Where even
// an attribute value can run script or fetch (event handlers, `style`, URLs),
// placeholders are rejected or the value is checked (docs/security.md).
import { SignalsError } from "./errors.js";
import { select } from "./patch.js";

const PLACEHOLDER = /\{(value|\/[^{}]*)\}/g;
// Private-use characters the HTML parser keeps as they are, in text and attributes.
const OPEN = "\uE000";
const CLOSE = "\uE001";
const MARK = /\uE000(\d+)\uE001/g;

/**
 * Attributes whose value the browser loads or navigates to, by local name in
 * lower case (so `xlink:href` is `href`, and SVG's `xlink:href` too).
 */
const URL_ATTRIBUTES = new Set([
  "href", "src", "srcset", "action", "formaction", "cite", "poster", "background", "ping",
  "data", "codebase", "manifest", "longdesc", "usemap", "lowsrc", "dynsrc", "icon",
  "imagesrcset", "base", // `xml:base`
]); // prettier-ignore
/**
 * Elements in which no placeholder may stand at all (text, attributes, or
 * anything inside them), by local name in lower case, in every namespace: SVG
 * keeps its names' case (`animateMotion`) and has its own `<script>` and
 * `<style>`. Their text is code (`script`, `style`), they turn an attribute
 * value into another attribute (SVG animation: `<animate attributeName="href"
 * values="{x}">`), or they act on the whole page (`base`, `link`, `meta`).
 *
 * @type {Map<string, string>} local name → why
 */
const SEALED_ELEMENTS = new Map();
/** Elements whose text is markup (raw text): no placeholder in their text. */
const RAW_TEXT_ELEMENTS = new Set(["noscript", "iframe", "noembed", "noframes", "xmp", "template", "plaintext"]); // prettier-ignore
for (const [why, names] of [
  ["its text is code", ["script", "style"]],
  ["an SVG animation can set any attribute, links included", ["animate", "set", "animatemotion", "animatetransform", "animatecolor", "discard"]],
  ["it acts on the whole page", ["base", "link", "meta"]],
]) for (const name of /** @type {string[]} */ (names)) SEALED_ELEMENTS.set(name, /** @type {string} */ (why)); // prettier-ignore

/**
 * @typedef {(string | { key: string })[]} Parts text, and placeholders to fill
 * @typedef {{ node: Text, parts: Parts } | { element: Element, name: string, parts: Parts, url: boolean }} Binding
 */

/**
 * A value as text: strings as they are, nothing as "", the rest as JSON.
 *
 * @param {unknown} value
 */
export function display(value) {
  if (value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * Whether `url` may go into a URL attribute: an absolute http(s) URL only, so
 * no `javascript:`, `data:` or `vbscript:`, whatever the value.
 *
 * @param {string} url
 */
export function isSafeUrl(url) {
  return /^https?:\/\//i.test(url.trim());
}

export class Template {
  /** @type {DocumentFragment} */
  #fragment;
  /** @type {Binding[]} */
  #bindings = [];
  /** @type {string[]} */
  #keys = [];

  /**
   * Parse `source` once. Placeholders (`{value}`, `{/json/pointer}`) may stand in
   * text, or in an attribute value that is not an event handler, `style` or
   * `srcdoc`; not in a tag or attribute name, nor inside `<script>` or `<style>`.
   *
   * @param {Document} doc
   * @param {string} source
   * @throws {SignalsError} saying which placeholder stands where it may not
   */
  constructor(doc, source) {
    const marked = source.replace(PLACEHOLDER, (_, key) => `${OPEN}${this.#keys.push(key) - 1}${CLOSE}`);
    const holder = doc.createElement("template");
    holder.innerHTML = marked; // inert: nothing in a template element runs or loads
    this.#fragment = holder.content;
    this.#bind(this.#fragment);
  }

  /**
   * A fresh copy of the template's nodes and a function that fills them.
   *
   * @returns {{ nodes: DocumentFragment, fill: (value: unknown) => void }}
   */
  instantiate() {
    const nodes = /** @type {DocumentFragment} */ (this.#fragment.cloneNode(true));
    // The same walk order over the copy finds the same nodes.
    const copies = [...walk(nodes)];
    const originals = [...walk(this.#fragment)];
    const bindings = this.#bindings.map((binding) => {
      const index = originals.indexOf("node" in binding ? binding.node : binding.element);
      const copy = copies[index];
      return "node" in binding ? { ...binding, node: /** @type {Text} */ (copy) } : { ...binding, element: /** @type {Element} */ (copy) };
    });
    const keys = this.#keys;
    return {
      nodes,
      fill(value) {
        /** @param {Parts} parts */
        const text = (parts) =>
          parts.map((part) => (typeof part === "string" ? part : display(lookup(value, keys[Number(part.key)])))).join("");
        for (const binding of bindings) {
          if ("node" in binding) {
            binding.node.data = text(binding.parts);
          } else {
            const filled = text(binding.parts);
            if (binding.url && !isSafeUrl(filled)) {
              binding.element.removeAttribute(binding.name);
            } else {
              binding.element.setAttribute(binding.name, filled);
            }
          }
        }
      },
    };
  }

  /** @param {Node} root */
  #bind(root) {
    for (const node of walk(root)) {
      if (node.nodeType === 3) {
        const data = /** @type {Text} */ (node).data;
        if (!data.includes(OPEN)) continue;
        this.#rejectSealed(node.parentNode, data, true);
        this.#bindings.push({ node: /** @type {Text} */ (node), parts: split(data) });
      } else if (node.nodeType === 1) {
        const element = /** @type {Element} */ (node);
        if (element.tagName.includes(OPEN)) throw this.#reject(element.tagName, "in a tag name");
        for (const attribute of [...element.attributes]) {
          const { name, value } = attribute;
          if (name.includes(OPEN)) throw this.#reject(name, "in an attribute name (quote the value it belongs to)");
          if (!value.includes(OPEN)) continue;
          this.#rejectSealed(element, value, false);
          const local = localName(attribute);
          if (local.startsWith("on") || local === "style" || local === "srcdoc") {
            throw this.#reject(value, `in the ${local} attribute (a value there could run script or load things)`);
          }
          this.#bindings.push({ element, name, parts: split(value), url: URL_ATTRIBUTES.has(local) });
        }
      }
    }
  }

  /**
   * Reject a placeholder found in `marked` (text in `node`, or an attribute of
   * `node`) if `node` or an element around it is sealed, or the text is raw text.
   *
   * @param {Node | null} node
   * @param {string} marked
   * @param {boolean} text
   */
  #rejectSealed(node, marked, text) {
    for (let at = node; at && at.nodeType === 1; at = at.parentNode) {
      const name = localName(/** @type {Element} */ (at));
      const why = SEALED_ELEMENTS.get(name) ?? (text || at !== node ? RAW_TEXT_ELEMENTS.has(name) && "its text is markup" : "");
      if (why) throw this.#reject(marked, `inside <${name}> (${why})`);
    }
  }

  /**
   * @param {string} where the marked text the placeholder was found in
   * @param {string} why
   */
  #reject(where, why) {
    const index = Number(new RegExp(MARK.source).exec(where)?.[1] ?? 0);
    return new SignalsError(`template: the placeholder {${this.#keys[index]}} may not stand ${why}`);
  }
}

/**
 * A name as the browser matches it: the local name (no `xlink:` prefix) in lower
 * case, since SVG keeps its names' case (`animateMotion`, `<SCRIPT>` in SVG is
 * still a script) and `tagName` is upper case only for HTML elements.
 *
 * @param {Element | Attr} node
 */
function localName(node) {
  const name = node.localName || node.nodeName;
  return name.slice(name.lastIndexOf(":") + 1).toLowerCase();
}

/**
 * @param {unknown} value
 * @param {string} key "value", or a JSON Pointer
 */
function lookup(value, key) {
  if (key === "value") return value;
  try {
    return select(value, key);
  } catch {
    return undefined; // a part the value does not have shows as nothing
  }
}

/** @param {string} marked @returns {Parts} */
function split(marked) {
  /** @type {Parts} */
  const parts = [];
  let last = 0;
  for (const match of marked.matchAll(MARK)) {
    if (match.index > last) parts.push(marked.slice(last, match.index));
    parts.push({ key: match[1] });
    last = match.index + match[0].length;
  }
  if (last < marked.length) parts.push(marked.slice(last));
  return parts;
}

/**
 * Every node under `root`, in document order (not `root` itself).
 *
 * @param {Node} root
 * @returns {Generator<Node>}
 */
function* walk(root) {
  for (let child = root.firstChild; child; child = child.nextSibling) {
    yield child;
    yield* walk(child);
  }
}
