import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { jupyterBaseUrl, resolveBase } from "../src/baseurl.js";
import { newDocument } from "./dom.js";

/** A page as JupyterLab 4 serves it. @param {string} config */
function labPage(config) {
  const doc = newDocument();
  const script = doc.createElement("script");
  script.id = "jupyter-config-data";
  script.textContent = config;
  doc.body.appendChild(script);
  return /** @type {Document} */ (/** @type {unknown} */ (doc));
}

describe("jupyterBaseUrl", () => {
  test("reads JupyterLab's page config", () => {
    assert.equal(jupyterBaseUrl(labPage('{"baseUrl": "/user/alice/", "appUrl": "/lab"}')), "/user/alice/");
  });
  test("adds the slashes a base needs", () => {
    assert.equal(jupyterBaseUrl(labPage('{"baseUrl": "prefix"}')), "/prefix/");
  });
  test("falls back to the classic notebook's body attribute", () => {
    const doc = newDocument();
    doc.body.dataset.baseUrl = "/classic/";
    assert.equal(jupyterBaseUrl(/** @type {any} */ (doc)), "/classic/");
  });
  test("survives a broken config and no page at all", () => {
    assert.equal(jupyterBaseUrl(labPage("{oops")), "/");
    assert.equal(jupyterBaseUrl(undefined), "/");
  });
});

describe("resolveBase", () => {
  test("uses the Jupyter server when the widget names no URL", () => {
    assert.equal(resolveBase("", labPage('{"baseUrl": "/prefix/"}')), "/prefix/");
  });
  test("keeps an absolute URL, ending it in a slash", () => {
    assert.equal(resolveBase("http://127.0.0.1:8765", labPage('{"baseUrl": "/"}')), "http://127.0.0.1:8765/");
  });
  test("resolves a relative URL against the server's base, never the page's /lab/tree/", () => {
    assert.equal(resolveBase("hub/", labPage('{"baseUrl": "/prefix/"}')), "http://host/prefix/hub/");
    assert.equal(resolveBase("/other/", labPage('{"baseUrl": "/prefix/"}')), "http://host/other/");
  });
});
