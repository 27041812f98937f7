// template.js with a real HTML parser (linkedom): a value from anyone can only
// ever be text or a checked attribute value.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseHTML } from "linkedom";
import { Template, display, isSafeUrl } from "../src/template.js";

const newDocument = () =>
  /** @type {Document} */ (/** @type {unknown} */ (parseHTML("<!doctype html><html><head></head><body></body></html>").document));

/** @param {string} source @param {unknown} value */
function render(source, value) {
  const doc = newDocument();
  const { nodes, fill } = new Template(doc, source).instantiate();
  const el = doc.createElement("div");
  el.appendChild(nodes);
  fill(value);
  return { el, fill };
}

describe("Template", () => {
  test("fills {value} with the whole value and {/pointer} with a part", () => {
    assert.equal(render("Count: {value}", 3).el.innerHTML, "Count: 3");
    assert.equal(render("{/value} items, {/label}", { value: 12, label: "ok" }).el.textContent, "12 items, ok");
    assert.equal(render("{value}", { a: [1] }).el.textContent, '{"a":[1]}');
    assert.equal(render("[{/missing}]", {}).el.textContent, "[]", "a part the value lacks shows nothing");
  });

  test("a value is text, never HTML", () => {
    const { el } = render("<b>{value}</b>", "<img src=x onerror=alert(1)>");
    assert.equal(el.querySelector("img"), null);
    assert.equal(el.querySelector("b")?.textContent, "<img src=x onerror=alert(1)>");
  });

  test("refills the same nodes on every update", () => {
    const { el, fill } = render("<span class='n'>{/n}</span>", { n: 1 });
    const span = el.querySelector(".n");
    fill({ n: 2 });
    assert.equal(el.querySelector(".n"), span);
    assert.equal(span?.textContent, "2");
  });

  test("a quoted attribute value takes the value as an attribute, not markup", () => {
    const { el } = render('<span title="{value}">x</span>', '" onmouseover="alert(1)');
    const span = el.querySelector("span");
    assert.equal(span?.getAttribute("title"), '" onmouseover="alert(1)');
    assert.equal(span?.getAttribute("onmouseover"), null);
  });

  test("URL attributes take only absolute http(s) URLs", () => {
    const link = (/** @type {unknown} */ value) => render('<a href="{value}">go</a>', value).el.querySelector("a");
    assert.equal(link("https://example.org/x")?.getAttribute("href"), "https://example.org/x");
    for (const bad of ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<script>", "vbscript:x", "//evil", "/relative"]) {
      assert.equal(link(bad)?.getAttribute("href"), null, `refused: ${bad}`);
    }
    const img = render("<img src={value}>", "x").el.querySelector("img");
    assert.equal(img?.getAttribute("src"), null, "an unquoted src is still a checked URL attribute");
  });

  test("refuses placeholders where a value could run script or load things", () => {
    const doc = newDocument();
    /** @type {[string, RegExp][]} */
    const refused = [
      ['<div style="{value}">', /\{value\} may not stand in the style attribute/],
      ['<img onerror="{value}">', /in the onerror attribute/],
      ['<iframe srcdoc="{value}"></iframe>', /in the srcdoc attribute/],
      ["<img src=x {/p}>", /\{\/p\} may not stand in an attribute name/],
      ["<script>{value}</script>", /inside <script>/],
      ["<style>{value}</style>", /inside <style>/],
    ];
    for (const [source, message] of refused) {
      assert.throws(() => new Template(doc, source), message, source);
    }
  });

  test("the template's own markup stays the author's", () => {
    const { el } = render('<b class="x">{value}</b> <i>static</i>', 1);
    assert.equal(el.innerHTML, '<b class="x">1</b> <i>static</i>');
  });

  test("isSafeUrl", () => {
    assert.ok(isSafeUrl("http://a"));
    assert.ok(isSafeUrl("HTTPS://a/b?c"));
    assert.ok(!isSafeUrl("javascript:x"));
    assert.ok(!isSafeUrl("ftp://a"));
  });

  // Each attribute the browser loads or navigates to, on an element that uses it:
  // a `javascript:` value in any of them would run on a click or a load.
  /** @type {[string, string][]} */
  const urlAttributes = [
    ["a", "href"], ["img", "src"], ["img", "srcset"], ["form", "action"], ["button", "formaction"],
    ["input", "formaction"], ["blockquote", "cite"], ["video", "poster"], ["body", "background"],
    ["a", "ping"], ["object", "data"], ["object", "codebase"], ["html", "manifest"],
    ["img", "longdesc"], ["img", "usemap"], ["img", "lowsrc"], ["img", "dynsrc"], ["command", "icon"],
    ["link", "imagesrcset"],
  ]; // prettier-ignore
  for (const [tag, name] of urlAttributes) {
    test(`<${tag} ${name}> takes an http(s) URL and never a javascript: one`, () => {
      const element = (/** @type {string} */ value) => {
        const { el } = render(`<div><${tag} ${name}="{value}"></${tag}></div>`, value);
        const found = el.querySelector(`[${name}]`) ?? el.querySelector(tag) ?? el.firstElementChild;
        return found?.getAttribute(name) ?? null;
      };
      assert.equal(element("https://example.org/x"), "https://example.org/x");
      assert.equal(element("javascript:alert(1)"), null, `${name}: a javascript: URL was set`);
      assert.equal(element(" JaVaScRiPt:alert(1)"), null);
    });
  }

  test("<svg><a xlink:href> takes no javascript: URL either", () => {
    const link = (/** @type {string} */ value) =>
      render('<svg><a xlink:href="{value}"><text>x</text></a></svg>', value).el.querySelector("a")?.getAttribute("xlink:href") ?? null;
    assert.equal(link("https://example.org/"), "https://example.org/");
    assert.equal(link("javascript:alert(1)"), null);
  });

  for (const tag of ["script", "style", "noscript", "iframe", "noembed", "noframes", "xmp", "template"]) {
    test(`a placeholder inside <${tag}> is refused (its text is code or markup, not text)`, () => {
      assert.throws(() => new Template(newDocument(), `<${tag}>{value}</${tag}>`), new RegExp(`\\{value\\} may not stand inside <${tag}>`));
    });
  }

  test("eleven placeholders each fill their own part", () => {
    const source = Array.from({ length: 11 }, (_, i) => `<i>{/${i}}</i>`).join("");
    const values = Array.from({ length: 11 }, (_, i) => `v${i}`);
    assert.equal(render(source, values).el.textContent, values.join(""));
  });

  test("a URL is checked from its start: an http(s) URL inside a javascript: one is refused", () => {
    assert.ok(!isSafeUrl("javascript:alert('https://example.org/')"));
    assert.ok(!isSafeUrl("javascript://https://example.org/%0aalert(1)"));
    assert.ok(isSafeUrl("  https://example.org/"), "leading spaces, which browsers strip, are allowed");
  });

  test("nothing shows as nothing", () => {
    assert.equal(display(undefined), "");
    assert.equal(display(null), "null");
    assert.equal(display("text"), "text");
  });

  test("the author's own markup without placeholders is kept: comments, style, handlers", () => {
    const source = '<!-- a note --><style>b { color: red }</style><b style="font-weight: bold" onclick="void 0">{value}</b>';
    const { el } = render(source, 7);
    assert.equal(el.querySelector("b")?.textContent, "7");
    assert.equal(el.querySelector("b")?.getAttribute("onclick"), "void 0");
    assert.equal(el.querySelector("style")?.textContent, "b { color: red }");
  });

  test("a placeholder in a tag name is refused", () => {
    assert.throws(() => new Template(newDocument(), "<b{value}>x</b>"), /\{value\} may not stand in a tag name/);
  });
});
