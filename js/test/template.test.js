// template.js with a real HTML parser (linkedom): a value from anyone can only
// ever be text or a checked attribute value.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseHTML } from "linkedom";
import { SignalsError } from "../src/errors.js";
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
      ["<svg><style>a{color:{/c}}</style></svg>", /inside <style> \(its text is code\)/],
      ["<svg><STYLE><tspan>{/c}</tspan></STYLE></svg>", /inside <style>/],
      ["<svg><script>{value}</script></svg>", /inside <script>/],
      ["<svg><script href='{value}'></script></svg>", /inside <script>/],
      ['<svg><a><animate attributeName="href" values="{/u}"/>x</a></svg>', /inside <animate> \(an SVG animation/],
      ['<svg><set attributeName="href" to="{/u}"/></svg>', /inside <set>/],
      ['<svg><animateMotion path="{/p}"/></svg>', /inside <animatemotion>/],
      ['<svg><animateTransform to="{/p}"/></svg>', /inside <animatetransform>/],
      ['<base href="{value}">', /inside <base> \(it acts on the whole page\)/],
      ['<link rel="stylesheet" href="{value}">', /inside <link>/],
      ['<meta http-equiv="refresh" content="0;url={value}">', /inside <meta>/],
      ['<svg><a xlink:onclick="{value}">x</a></svg>', /in the onclick attribute/],
      ['<svg STYLE="{value}"></svg>', /in the style attribute/],
    ];
    for (const [source, message] of refused) {
      assert.throws(() => new Template(doc, source), message, source);
    }
  });

  test("SVG links, xlink:href included, take only absolute http(s) URLs", () => {
    for (const attribute of ["href", "xlink:href"]) {
      const source = `<svg><a ${attribute}="{value}"><text>go</text></a><image ${attribute}="{value}"/></svg>`;
      for (const bad of ["javascript:alert(1)", "data:image/svg+xml,<svg onload=alert(1)>", "#x"]) {
        const { el } = render(source, bad);
        for (const element of el.querySelectorAll("a, image")) {
          assert.equal(element.getAttribute(attribute), null, `${attribute}=${bad} on <${element.localName}>`);
        }
      }
      const { el } = render(source, "https://example.org/");
      assert.equal(el.querySelector("a")?.getAttribute(attribute), "https://example.org/");
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
    // (imagesrcset is <link>'s, and <link> takes no placeholder at all: the attribute is
    // still checked by its name wherever it stands.)
    ["img", "imagesrcset"],
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

// A hostile-value corpus against templates built from HTML and SVG parts, both
// generated (fast-check): whatever the template, a template that is accepted
// never lets a value add an element, reach a sealed element (script, style,
// animation, base/link/meta), an event handler, `style` or `srcdoc`, or put
// anything but an absolute http(s) URL in a URL attribute; a template that is
// refused says which placeholder and why.
const HOSTILE = [
  "javascript:alert(1)", " JaVaScRiPt:alert(1)", "\u0001javascript:alert(1)", "java\tscript:alert(1)",
  "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "//evil.example/x", "https://ok.example/x",
  "<img src=x onerror=alert(1)>", "</style><script>alert(1)</script>", "}*{background:url(https://evil.example/)}",
  '" onmouseover="alert(1)', "'><svg onload=alert(1)>", "{value}", "\uE0000\uE001", "]]><script>x</script>",
]; // prettier-ignore
const RAW_TEXT = new Set(["noscript", "iframe", "noembed", "noframes", "xmp", "template", "plaintext"]);
const SEALED = new Set(["script", "style", "animate", "set", "animatemotion", "animatetransform", "animatecolor", "discard", "base", "link", "meta"]); // prettier-ignore
const URLS = new Set(["href", "src", "srcset", "action", "formaction", "cite", "poster", "background", "ping", "data", "codebase", "manifest", "longdesc", "usemap", "lowsrc", "dynsrc", "icon", "imagesrcset", "base"]); // prettier-ignore
const HTML_TAGS = ["div", "span", "a", "img", "form", "button", "iframe", "script", "style", "base", "link", "meta", "textarea", "title", "noscript", "object", "svg"]; // prettier-ignore
const SVG_TAGS = ["a", "image", "use", "script", "style", "animate", "set", "animateMotion", "animateTransform", "text", "tspan", "foreignObject", "feImage", "g"]; // prettier-ignore
const ATTRIBUTES = ["href", "xlink:href", "src", "style", "onload", "onclick", "title", "class", "attributeName", "values", "to", "srcdoc", "action", "formaction", "data", "rel", "content", "http-equiv", "xml:base", "srcset"]; // prettier-ignore

/** Random upper/lower case: the browser matches names without case. */
const anyCase = (/** @type {string[]} */ names) =>
  fc.tuple(fc.constantFrom(...names), fc.array(fc.boolean(), { minLength: 20, maxLength: 20 })).map(([name, upper]) =>
    [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(""),
  );
const placeholder = fc.constantFrom("{value}", "{/a}", "{/a/b}");
const attrValue = fc.oneof(fc.constantFrom("x", "https://author.example/", "#id"), placeholder, placeholder.map((p) => `https://${p}`), placeholder.map((p) => `a ${p} b`));
const attribute = fc.tuple(anyCase(ATTRIBUTES), attrValue).map(([name, value]) => ` ${name}="${value}"`);
const text = fc.oneof(fc.constantFrom("t", ""), placeholder, placeholder.map((p) => `a{${p}}`));

/** @param {string[]} tags @returns {fc.Arbitrary<string>} */
const elementOf = (tags) =>
  fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: "small", withCrossShrink: true }, text, tie("element")),
    element: fc
      .tuple(anyCase(tags), fc.array(attribute, { maxLength: 3 }), fc.array(tie("node"), { maxLength: 3 }))
      .map(([tag, attrs, children]) => `<${tag}${attrs.join("")}>${children.join("")}</${tag}>`),
  })).element;
const source = fc.oneof(elementOf(HTML_TAGS), elementOf(SVG_TAGS).map((inner) => `<svg>${inner}</svg>`));
const value = fc.oneof(fc.constantFrom(...HOSTILE), fc.string(), fc.record({ a: fc.constantFrom(...HOSTILE) }), fc.record({ a: fc.record({ b: fc.constantFrom(...HOSTILE) }) }));

/** @param {Element} element */
const lower = (element) => element.localName.slice(element.localName.lastIndexOf(":") + 1).toLowerCase();
/** @param {Attr} attribute */
const attrLocal = (attribute) => attribute.name.slice(attribute.name.lastIndexOf(":") + 1).toLowerCase();
/** @param {Element} element */
const sealed = (element) => {
  for (let at = /** @type {Element | null} */ (element); at && at.nodeType === 1; at = /** @type {Element | null} */ (at.parentNode)) {
    if (SEALED.has(lower(at))) return true;
  }
  return false;
};

describe("Template against hostile values (fast-check)", () => {
  test("an accepted template never lets a value become markup, code or a non-http(s) URL", () => {
    fc.assert(
      fc.property(source, value, (markup, hostile) => {
        const doc = newDocument();
        let template;
        try {
          template = new Template(doc, markup);
        } catch (error) {
          assert.ok(error instanceof SignalsError, String(error));
          assert.match(error.message, /^template: the placeholder \{(value|\/[^}]*)\} may not stand (in|inside) .+/);
          return;
        }
        const { nodes, fill } = template.instantiate();
        const holder = doc.createElement("div");
        holder.appendChild(nodes);
        const elementsBefore = [...holder.querySelectorAll("*")];
        const before = elementsBefore.map((element) => ({
          sealed: sealed(element) ? element.outerHTML : null,
          text: RAW_TEXT.has(lower(element)) ? element.textContent : null,
          attributes: new Map([...element.attributes].map((a) => [a.name, a.value])),
        }));
        fill(hostile);
        const elementsAfter = [...holder.querySelectorAll("*")];
        assert.deepEqual(elementsAfter, elementsBefore, "a value added or removed elements");
        elementsAfter.forEach((element, i) => {
          const was = before[i];
          if (was.sealed !== null) assert.equal(element.outerHTML, was.sealed, `a value reached <${element.localName}>`);
          if (was.text !== null) assert.equal(element.textContent, was.text, `a value reached <${element.localName}>'s text`);
          for (const attribute of element.attributes) {
            const local = attrLocal(attribute);
            const unchanged = was.attributes.get(attribute.name) === attribute.value;
            if (local.startsWith("on") || local === "style" || local === "srcdoc") {
              assert.ok(unchanged, `a value reached ${attribute.name}`);
            }
            if (URLS.has(local) && !unchanged) {
              assert.ok(isSafeUrl(attribute.value), `${attribute.name}=${JSON.stringify(attribute.value)}`);
            }
          }
        });
      }),
      { numRuns: 1500 },
    );
  });
});
