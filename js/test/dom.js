// A real DOM for the view tests: linkedom parses and serialises HTML as a
// browser does (innerHTML, textContent, attributes), so a view is checked
// against the DOM it will meet, not a stand-in of plain fields.
import { parseHTML } from "linkedom";

/**
 * A fresh, empty HTML document, at `href` (linkedom has no navigation: the
 * location is a plain object, as view code only reads `location.href`).
 *
 * @param {string} [href]
 */
export function newDocument(href = "http://host/lab/tree/x.ipynb") {
  const { document } = parseHTML("<!doctype html><html><head></head><body></body></html>");
  Object.defineProperty(document, "location", { value: { href }, configurable: true });
  return /** @type {Document} */ (/** @type {unknown} */ (document));
}
