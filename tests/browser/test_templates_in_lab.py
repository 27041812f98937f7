"""Templates in a real Chromium, in JupyterLab: HTML and SVG, against a hostile-value corpus.

The browser's own parser decides what a template's names are (SVG keeps their case,
``<svg><style>`` is an SVG element): only a real browser shows whether template.js
matches them as the browser does.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, expect

from ..jupyter import JupyterServer
from .lab import needs_chromium, notebook_page, run_all, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

# Each would run script, navigate, load, or restyle the page if a value reached
# a place that reads it as code, markup, CSS or a URL.
HOSTILE = [
    "javascript:window.__pwned=1",
    " JaVaScRiPt:window.__pwned=1",
    "\u0001javascript:window.__pwned=1",
    "data:text/html,<script>parent.__pwned=1</script>",
    "//evil.example/x",
    "<img src=x onerror=window.__pwned=1>",
    "</style><script>window.__pwned=1</script>",
    "red}*{background:url(https://evil.example/)}",
    '" onmouseover="window.__pwned=1',
    "'><svg onload=window.__pwned=1>",
]
N = len(HOSTILE)
SAFE = [f"https://example.org/{i}" for i in range(N)]


def _each(part: str) -> str:
    return "".join(part.replace("#", str(i)) for i in range(N))


ACCEPTED = {
    "html": _each('<a class="h" href="{/#}" title="{/#}"><b>{/#}</b></a><img src="{/#}">'),
    "svg": "<svg>"
    + _each('<a href="{/#}"><text>{/#}</text></a><a xlink:href="{/#}"><tspan>{/#}</tspan></a>')
    + _each('<image href="{/#}"/><use href="{/#}"/>')
    + "</svg>",
}
REJECTED = {
    "svg-style": ("<svg><style>text{fill:{/7}}</style></svg>", "inside <style>"),
    "svg-STYLE": ("<svg><STYLE>*{fill:{/7}}</STYLE></svg>", "inside <style>"),
    "svg-script": ("<svg><script>{/0}</script></svg>", "inside <script>"),
    "svg-animate": (
        '<svg><a><animate attributeName="href" values="{/0}"/><text>go</text></a></svg>',
        "inside <animate>",
    ),
    "svg-set": ('<svg><a><set attributeName="href" to="{/0}"/></a></svg>', "inside <set>"),
    "base": ('<base href="{/4}">', "inside <base>"),
    "link": ('<link rel="stylesheet" href="{/4}">', "inside <link>"),
    "html-style": ('<b style="{/7}">x</b>', "in the style attribute"),
}


def test_templates_in_html_and_svg_keep_hostile_values_data_and_rejected_ones_say_why(
    browser: Browser, lab: JupyterServer
) -> None:
    templates = {**ACCEPTED, **{k: source for k, (source, _) in REJECTED.items()}}
    name = write_notebook(
        lab,
        "templates.ipynb",
        "%load_ext nb_sse_signals\n"
        "import ipywidgets as widgets\n"
        "from nb_sse_signals import ServerSignal\n"
        f"hostile = ServerSignal('hostile', {json.dumps(HOSTILE)})\n"
        f"safe = ServerSignal('safe', {json.dumps(SAFE)})\n"
        f"templates = {json.dumps(templates)}",
        "widgets.VBox([hostile.widget(template=t).add_class(f'tpl-{k}') "
        "for k, t in templates.items()] + [safe.widget(template=t).add_class(f'tpl-safe-{k}') "
        f"for k, t in templates.items() if k in {list(ACCEPTED)!r}])",
    )
    with notebook_page(browser, lab, name) as (page, log):
        run_all(page)
        for key in ACCEPTED:
            expect(page.locator(f".tpl-{key} .nb-sse-signals-status-live")).to_have_count(1)
        for key, (_, why) in REJECTED.items():
            expect(page.locator(f".tpl-{key} .nb-sse-signals-failed")).to_contain_text(
                "may not stand " + why, timeout=20_000
            )
        found = page.evaluate(
            """(n) => {
                const html = document.querySelector('.tpl-html .nb-sse-signals-content');
                const svg = document.querySelector('.tpl-svg .nb-sse-signals-content');
                const XLINK = 'http://www.w3.org/1999/xlink';
                const hrefs = [...svg.querySelectorAll('a, image, use')].map((e) =>
                    e.getAttribute('href') ?? e.getAttributeNS(XLINK, 'href'));
                return {
                    pwned: window.__pwned ?? null,
                    htmlTags: [...html.querySelectorAll('*')].map((e) => e.localName).join(' '),
                    svgTags: [...svg.querySelectorAll('*')].map((e) => e.localName).join(' '),
                    htmlHrefs: [...html.querySelectorAll('a, img')].map((e) =>
                        e.getAttribute('href') ?? e.getAttribute('src')),
                    svgHrefs: hrefs,
                    titles: [...html.querySelectorAll('a')].map((e) => e.title),
                    texts: [...svg.querySelectorAll('text, tspan')].map((e) => e.textContent),
                    styles: [...document.querySelectorAll('style')]
                        .filter((s) => s.textContent.includes('evil.example')).length,
                    evilCss: getComputedStyle(document.body).backgroundImage,
                };
            }""",
            N,
        )
        assert found["pwned"] is None, "a value ran as script"
        assert found["htmlTags"] == " ".join(["a b img"] * N), found["htmlTags"]
        assert found["svgTags"] == "svg " + " ".join(["a text a tspan"] * N + ["image use"] * N), (
            found["svgTags"]
        )
        assert found["htmlHrefs"] == [None] * 2 * N, "a non-http(s) value became a URL"
        assert found["svgHrefs"] == [None] * 4 * N, "a non-http(s) value became an SVG link"
        assert found["titles"] == HOSTILE, "a value is an attribute's text, as it is"
        assert found["texts"] == [v for v in HOSTILE for _ in (0, 1)], "a value is text"
        assert found["styles"] == 0, "a value reached a style sheet"
        assert "evil" not in found["evilCss"], found["evilCss"]
        # An http(s) value does go in, in both namespaces.
        for key in ACCEPTED:
            expect(page.locator(f".tpl-safe-{key} .nb-sse-signals-status-live")).to_have_count(1)
        safe = page.evaluate(
            """() => [...document.querySelectorAll(
                '.tpl-safe-html :is(a, img), .tpl-safe-svg :is(a, image, use)')].map((e) =>
                e.getAttribute('href') ?? e.getAttribute('src')
                ?? e.getAttributeNS('http://www.w3.org/1999/xlink', 'href'))"""
        )
        assert safe == [u for u in SAFE for _ in (0, 1)] * 3, safe
        # Refused templates log why; the http(s) images load nothing on this closed
        # network (and <use> loads nothing cross-origin): those lines are expected.
        errors = [e for e in log.errors if "may not stand" not in e and "example.org/" not in e]
        assert errors == [], "the page logged errors:\n" + "\n".join(errors)
