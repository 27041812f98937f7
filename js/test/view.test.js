import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { applyPatch } from "../src/patch.js";
import { JsonTree, View, compileFormat } from "../src/view.js";
import { newDocument } from "./dom.js";

const asElement = (/** @type {unknown} */ el) => /** @type {HTMLElement} */ (el);

describe("compileFormat", () => {
  test("compiles an arrow function once", () => {
    const format = compileFormat("(value) => `${value.done}/${value.total}`");
    assert.equal(format({ done: 3, total: 4 }), "3/4");
  });
  test("says what is wrong with source that is not a function", () => {
    assert.throws(() => compileFormat("42"), /format_js: expected a function, got number/);
    assert.throws(() => compileFormat("(value) =>"), /format_js: /);
  });
});

describe("JsonTree", () => {
  test("a scalar root is one text node, updated in place", () => {
    const tree = new JsonTree(newDocument());
    const node = tree.update("training");
    assert.equal(/** @type {any} */ (node).data, "training", "a root string shows without quotes");
    assert.equal(tree.update(42), node);
    assert.equal(/** @type {any} */ (node).data, "42");
  });

  test("redraws only the subtrees a patch replaced", () => {
    const tree = new JsonTree(newDocument());
    const before = { stats: { loss: 0.5, acc: 0.7 }, history: [1, 2, 3] };
    const root = /** @type {any} */ (tree.update(before));
    const [statsRow, historyRow] = root.childNodes;
    const historyNode = historyRow.lastChild;
    const lossText = statsRow.lastChild.childNodes[0].lastChild;
    const after = applyPatch(before, [{ op: "replace", path: "/stats/loss", value: 0.4 }]);
    assert.equal(tree.update(after), root, "the root element stays");
    assert.equal(root.childNodes[1].lastChild, historyNode, "an untouched subtree keeps its nodes");
    assert.equal(root.childNodes[0].lastChild.childNodes[0].lastChild, lossText, "a changed scalar keeps its text node");
    assert.equal(lossText.data, "0.4");
  });

  test("adds and removes rows for added and removed keys and elements", () => {
    const tree = new JsonTree(newDocument());
    const root = /** @type {any} */ (tree.update({ a: 1, b: [1] }));
    const aRow = root.childNodes[0];
    tree.update({ a: 1, b: [1, 2], c: "new" });
    assert.equal(root.childNodes[0], aRow);
    assert.equal(root.childNodes.length, 3);
    assert.equal(root.childNodes[1].lastChild.childNodes.length, 2);
    assert.equal(root.childNodes[2].textContent, 'c: "new"');
    tree.update({ b: [1, 2] });
    assert.equal(root.childNodes.length, 1);
    assert.equal(root.childNodes[0].textContent, "b: 0: 11: 2");
  });

  test("keys and strings are text, never HTML", () => {
    const tree = new JsonTree(newDocument());
    const root = /** @type {any} */ (tree.update({ "<img src=x onerror=alert(1)>": "<b>bold?</b>" }));
    assert.equal(root.querySelector("img"), null);
    assert.equal(root.querySelector("b"), null);
    assert.equal(root.textContent, '<img src=x onerror=alert(1)>: "<b>bold?</b>"');
  });

  test("replaces a node whose kind changed", () => {
    const tree = new JsonTree(newDocument());
    const root = tree.update({ a: 1 });
    const next = /** @type {any} */ (tree.update([1]));
    assert.notEqual(next, root);
    assert.match(next.className, /nb-sse-signals-array/);
  });

  test("draws at most 200 rows and counts the rest", () => {
    const tree = new JsonTree(newDocument());
    const root = /** @type {any} */ (tree.update(Array.from({ length: 250 }, (_, i) => i)));
    assert.equal(root.childNodes.length, 201);
    assert.equal(root.lastChild.textContent, "… 50 more");
    tree.update([1]);
    assert.equal(root.childNodes.length, 1);
  });
});

describe("View", () => {
  /** @param {ConstructorParameters<typeof View>[1]} [options] */
  function setup(options) {
    const doc = newDocument();
    const el = doc.createElement("div");
    const view = new View(asElement(el), options);
    return { doc, el, view, content: /** @type {any} */ (view.content) };
  }

  test("shows the status as a class and a title, and adds its style once", () => {
    const { doc, view } = setup({ name: "k/count" });
    new View(asElement(doc.createElement("div")));
    view.setStatus("stale");
    assert.equal(view.root.className, "nb-sse-signals nb-sse-signals-status-stale");
    assert.equal(view.root.getAttribute("title"), "k/count: stale");
    assert.equal(doc.head.childNodes.length, 1);
  });

  test("draws the JSON tree by default", () => {
    const { view, content } = setup();
    view.update({ a: 1 });
    assert.equal(content.textContent, "a: 1");
  });

  test("fills a template (its own tests, with a real HTML parser: template.test.js)", () => {
    const doc = newDocument();
    const view = new View(asElement(doc.body), { template: "Count: <b>{value}</b>" });
    view.update(5);
    assert.equal(view.content.innerHTML, "Count: <b>5</b>");
    view.update("<i>6</i>");
    assert.equal(view.content.textContent, "Count: <i>6</i>", "a value is text, never HTML");
  });

  test("shows what format_js returns, as text or as a node", () => {
    const text = setup({ formatJs: "(v) => `<${v}>`" });
    text.view.update(1);
    assert.equal(text.content.textContent, "<1>", "a string is text, never HTML");
    // A real parser (linkedom) would make this markup an element, were it parsed.
    const markup = setup({ formatJs: "(v) => `<img src=x onerror=alert(1)><b>${v}</b>`" });
    markup.view.update(2);
    assert.equal(markup.content.querySelector("img"), null, "a string is text, never HTML");
    assert.equal(markup.content.textContent, "<img src=x onerror=alert(1)><b>2</b>");
    const node = setup({ formatJs: "(v) => { const b = document.createElement('b'); b.textContent = v; return b; }" });
    const doc = /** @type {any} */ (globalThis).document;
    /** @type {any} */ (globalThis).document = node.doc;
    try {
      node.view.update("bold");
    } finally {
      /** @type {any} */ (globalThis).document = doc;
    }
    assert.equal(node.content.childNodes[0].nodeName, "B");
    assert.equal(node.content.textContent, "bold");
  });

  test("shows a format_js error instead of a value", (t) => {
    t.mock.method(console, "error", () => {});
    const { view, content } = setup({ formatJs: "(v) => v.missing.deeper" });
    view.update({});
    assert.match(content.textContent, /Cannot read properties of undefined/);
    assert.match(content.className, /nb-sse-signals-failed/);
  });
});
