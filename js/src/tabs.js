// One EventSource per browser profile, server and token, for every tab.
//
// Browsers allow six HTTP/1.1 connections per host across all tabs, so one
// EventSource per tab freezes Jupyter from the sixth tab on. Here the tabs of
// one origin elect a leader with the Web Locks API; the leader holds the only
// EventSource, subscribed to the union of the names every tab wants, and
// relays each raw frame with its cursor over a BroadcastChannel. Every tab
// (the leader too) feeds the frames to its own ConnectionPool through a
// stand-in EventSource (`RelaySource`), so the revision rules of signal.js
// hold per tab exactly as with a stream of its own. docs/architecture.md says
// why locks and a channel rather than a SharedWorker.
import { ConnectionPool, sharedPool as pagePool } from "./connection.js";
import { TabGroup } from "./tabgroup.js";
import { VERSION } from "./version.js";

export { groupName, tag } from "./election.js";

/**
 * @typedef {import("./connection.js").Listener} Listener
 * @typedef {import("./tabgroup.js").TabOptions} TabOptions
 */

/** Where the page-wide tab pool lives (each anywidget model loads its own copy of this module). */
export const TABS_REGISTRY_KEY = Symbol.for(`nb_sse_signals.tabs@${VERSION}`);

/**
 * The pool every widget and the demo page use: shared across the tabs of the
 * browser where Web Locks and BroadcastChannel exist, else one connection
 * per page (said once in the console).
 *
 * @param {symbol} [key]
 * @returns {{ join: ConnectionPool["join"] }}
 */
export function sharedPool(key = TABS_REGISTRY_KEY) {
  const registry = /** @type {Record<symbol, { join: ConnectionPool["join"] } | undefined>} */ (/** @type {unknown} */ (globalThis));
  return (registry[key] ??= tabsOrPage(globalThis));
}

/**
 * @param {any} scope globalThis, or a stand-in in tests
 * @param {TabOptions} [options]
 * @returns {{ join: ConnectionPool["join"] }}
 */
export function tabsOrPage(scope, options = {}) {
  const locks = options.locks ?? scope.navigator?.locks;
  const Channel = options.BroadcastChannel ?? scope.BroadcastChannel;
  if (typeof locks?.request === "function" && typeof Channel === "function") {
    const pool = new TabPool({ ...options, locks, BroadcastChannel: Channel });
    // A tab that goes away says so, so that its names leave the union at once
    // and a leader's successor need not wait for the lock; a tab about to be
    // frozen hands its leadership on rather than freezing everyone's stream.
    // A page kept in the back-forward cache (`persisted`) may come back.
    scope.addEventListener?.("pagehide", (/** @type {{ persisted?: boolean }} */ event) => (event.persisted ? pool.freeze() : pool.dispose()));
    scope.addEventListener?.("pageshow", (/** @type {{ persisted?: boolean }} */ event) => event.persisted && pool.resume());
    scope.document?.addEventListener?.("freeze", () => pool.freeze());
    scope.document?.addEventListener?.("resume", () => pool.resume());
    return pool;
  }
  const hasLocks = typeof locks?.request === "function";
  const missing = [
    hasLocks ? "" : "Web Locks (navigator.locks; only secure contexts have them: https, localhost, 127.0.0.1)",
    typeof Channel === "function" ? "" : "BroadcastChannel",
  ].filter(Boolean);
  (options.log ?? console).warn(
    `[nb_sse_signals] this page has no ${missing.join(" and ")}: it keeps a connection of its own to each server ` +
      "instead of sharing one with the other tabs (browsers allow six per host across all tabs).",
  );
  if (options.EventSource || options.fetch) return new ConnectionPool(options);
  // Looked up at each join: the page's pool is connection.js's, wherever it lives.
  return { join: (...args) => pagePool().join(...args) };
}

/** Same interface as ConnectionPool; each server and token is one `TabGroup`. */
export class TabPool {
  /** @type {Map<string, TabGroup>} */
  #groups = new Map();
  /** @type {Map<string, ConnectionPool>} */
  #pools = new Map();
  /** @type {Required<Pick<TabOptions, "locks" | "BroadcastChannel">> & TabOptions} */
  #options;

  /** @param {Required<Pick<TabOptions, "locks" | "BroadcastChannel">> & TabOptions} options */
  constructor(options) {
    this.#options = options;
  }

  /**
   * @param {string} base
   * @param {string} name
   * @param {Listener} listener
   * @param {{ token?: string }} [options]
   * @returns {() => void} leave; idempotent
   */
  join(base, name, listener, { token = "" } = {}) {
    const key = `${base}\n${token}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      const group = new TabGroup(base, token, this.#options);
      this.#groups.set(key, group);
      pool = new ConnectionPool({ ...this.#options, EventSource: group.EventSource });
      this.#pools.set(key, pool);
    }
    return pool.join(base, name, listener, { token });
  }

  /** The groups of this tab, for tests and the console. */
  get groups() {
    return [...this.#groups.values()];
  }

  /** The tab goes away: leave every union, hand on any leadership. */
  dispose() {
    for (const group of this.#groups.values()) group.dispose();
  }

  freeze() {
    for (const group of this.#groups.values()) group.freeze();
  }

  resume() {
    for (const group of this.#groups.values()) group.resume();
  }
}
