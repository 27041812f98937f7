// Where the Jupyter server serves our endpoints. Relative URLs would resolve
// against the page (`/lab/tree/…`), so every base we return is an absolute
// path or an absolute URL, and ends in "/".

/** @param {string} url */
function withSlash(url) {
  return url.endsWith("/") ? url : `${url}/`;
}

/**
 * The Jupyter server's base URL as the page tells it: JupyterLab 4 (and
 * Notebook 7) in `#jupyter-config-data`, the classic notebook in
 * `<body data-base-url>`, else "/".
 *
 * @param {Document | undefined} [doc]
 * @returns {string}
 */
export function jupyterBaseUrl(doc = globalThis.document) {
  /** @type {unknown} */
  let base;
  const config = doc?.getElementById("jupyter-config-data");
  if (config?.textContent) {
    try {
      base = JSON.parse(config.textContent).baseUrl;
    } catch {
      // Not ours to diagnose; fall through to the classic notebook's attribute.
    }
  }
  if (typeof base !== "string" || base === "") base = doc?.body?.dataset?.baseUrl;
  if (typeof base !== "string" || base === "") return "/";
  return withSlash(/^[a-z][a-z0-9+.-]*:/i.test(base) || base.startsWith("/") ? base : `/${base}`);
}

/**
 * The base to build endpoint URLs on: the widget's `url` when set (a
 * standalone server, `http://127.0.0.1:8765/`, or an absolute path),
 * else the Jupyter server's.
 *
 * @param {string | null | undefined} url
 * @param {Document | undefined} [doc]
 * @returns {string}
 */
export function resolveBase(url, doc = globalThis.document) {
  const jupyter = jupyterBaseUrl(doc);
  if (!url) return jupyter;
  const page = doc?.location?.href;
  // A relative `url` is relative to the server's base, never to the page.
  return withSlash(page ? new URL(url, new URL(jupyter, page)).href : url);
}
