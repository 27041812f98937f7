// One multiplexed EventSource per page, server base and token, shared by
// every signal widget. Browsers allow six HTTP/1.1 connections per host
// across all tabs; a connection per widget would freeze JupyterLab.
import { REFUSED_EVENT, STALE_EVENT, parseClosed, parseMessage, parseRefused, parseStale, snapshotUrl } from "./protocol.js";
import { Signal, readsLive, valueEvent, wantsLive } from "./signal.js";
import { Debounce, findUnknown, openEventSource, timersOf } from "./streamwiring.js";
import { probe } from "./splitsource.js";
import { VERSION } from "./version.js";

/**
 * @typedef {import("./protocol.js").Status} Status one of STATUSES (protocol.js)
 * @typedef {{ type: "value", value: unknown, rev: number, live?: unknown } | { type: "status", status: Status }} SignalEvent
 *   `value`: the signal's value, never modified afterwards; `live`, for a listener
 *   marked by signal.js `readsLive`: the same value without that promise.
 * @typedef {(event: SignalEvent) => void} Listener
 * @typedef {{ error(...data: unknown[]): void, warn(...data: unknown[]): void }} Logger
 * @typedef {{
 *   EventSource?: typeof globalThis.EventSource,
 *   fetch?: typeof globalThis.fetch,
 *   setTimeout?: (callback: () => void, ms: number) => unknown,
 *   clearTimeout?: (handle: any) => void,
 *   log?: Logger,
 *   batchMs?: number,
 *   maxBatchMs?: number,
 * }} PoolOptions
 * @typedef {{ signal: Signal, listeners: Set<Listener>, failed: boolean, sent: { version?: number, rev: number, status?: Status } }} Entry
 */

/** Where the page-wide pool lives: one per package version, so two versions on a page never share state. */
export const REGISTRY_KEY = Symbol.for(`nb_sse_signals.connections@${VERSION}`);

const FIRST_RETRY_MS = 2_000;
const MAX_RETRY_MS = 60_000;

/**
 * The pool shared by every widget of this package version on the page (each
 * anywidget model loads its own copy of this module, so it lives on globalThis).
 *
 * @param {symbol} [key]
 * @returns {ConnectionPool}
 */
export function sharedPool(key = REGISTRY_KEY) {
  const registry = /** @type {Record<symbol, ConnectionPool | undefined>} */ (/** @type {unknown} */ (globalThis));
  return (registry[key] ??= new ConnectionPool());
}

export class ConnectionPool {
  /** @type {Map<string, Connection>} */
  #connections = new Map();
  /** @type {PoolOptions} */
  #options;

  /** @param {PoolOptions} [options] globals by default; tests inject fakes */
  constructor(options = {}) {
    this.#options = options;
  }

  /** Number of connections (open or about to open). */
  get size() {
    return this.#connections.size;
  }

  /**
   * Follow signal `name` on the server at `base`. The listener gets the
   * current value and status at once if known, then every change. Joins and
   * leaves reopen the stream once they pause for `batchMs` (50 ms), or at the
   * latest `maxBatchMs` (1 s) after the first of them.
   *
   * @param {string} base server prefix ending in "/" (see baseurl.js)
   * @param {string} name signal key
   * @param {Listener} listener
   * @param {{ token?: string }} [options] `token` for a cross-origin standalone server
   * @returns {() => void} leave; idempotent
   */
  join(base, name, listener, { token = "" } = {}) {
    const key = `${base}\n${token}`;
    let connection = this.#connections.get(key);
    if (!connection) {
      connection = new Connection(base, token, this.#options, () => {
        if (this.#connections.get(key) === connection) this.#connections.delete(key);
      });
      this.#connections.set(key, connection);
    }
    return connection.join(name, listener);
  }
}

class Connection {
  /** @type {Map<string, Entry>} */
  entries = new Map();
  /** @type {EventSource | null} */
  source = null;
  /** @type {Exclude<Status, "closed">} */
  status = "connecting";
  /** The names `source` subscribes to, joined by "\n". */
  #subscribed = "";
  /** Reopens once for a burst of joins and leaves. */
  #burst;
  /** @type {unknown} */
  #retry = undefined;
  #retries = 0;
  #log;
  #timers;

  /**
   * @param {string} base
   * @param {string} token
   * @param {PoolOptions} options
   * @param {() => void} onEmpty called when the last listener has left and the stream is closed
   */
  constructor(base, token, options, onEmpty) {
    this.base = base;
    this.token = token;
    this.options = options;
    this.onEmpty = onEmpty;
    this.#log = options.log ?? console;
    this.#timers = timersOf(options);
    this.#burst = new Debounce(this.#timers, options, () => this.#open());
  }

  /**
   * @param {string} name
   * @param {Listener} listener
   */
  join(name, listener) {
    let entry = this.entries.get(name);
    if (!entry) {
      const created = {
        signal: new Signal(name, {
          snapshotUrl: snapshotUrl(this.base, [name], { token: this.token }),
          onChange: () => this.#publish(created),
          fetch: this.options.fetch,
          setTimeout: this.options.setTimeout,
          clearTimeout: this.options.clearTimeout,
          log: this.options.log,
        }),
        listeners: new Set(),
        failed: false,
        sent: { rev: -1 },
      };
      entry = created;
      entry.sent.status = this.#statusOf(entry);
      this.entries.set(name, entry);
      this.#burst.schedule();
    }
    // A fresh function per join, so the same listener can join twice and leave twice.
    /** @type {Listener} */
    const own = (event) => listener(event);
    if (wantsLive(listener)) readsLive(own);
    entry.listeners.add(own);
    const { signal } = entry;
    if (signal.rev >= 0) this.#emit(own, valueEvent(signal, own));
    this.#emit(own, { type: "status", status: this.#statusOf(entry) });
    const joined = entry;
    return () => {
      if (!joined.listeners.delete(own) || joined.listeners.size > 0) return;
      joined.signal.dispose();
      this.entries.delete(name);
      this.#burst.schedule();
    };
  }

  #open() {
    const names = [...this.entries].filter(([, entry]) => !entry.failed).map(([name]) => name).sort();
    const subscribed = names.join("\n");
    if (this.source && subscribed === this.#subscribed) return;
    this.source?.close();
    this.source = null;
    this.#subscribed = subscribed;
    if (names.length === 0) {
      if (this.entries.size === 0) {
        this.#timers.clear(this.#retry);
        this.onEmpty();
      }
      return;
    }
    // No cursor: the new names need snapshots, and the others ignore a
    // snapshot of the revision they have. The browser itself sends
    // Last-Event-ID when it reconnects this source.
    this.source = openEventSource(this.options, this.base, names, { token: this.token }, {
      isCurrent: (source) => source === this.source,
      open: () => {
        this.#retries = 0;
        this.#setStatus("live");
      },
      event: (type, event) => {
        if (type === "message") this.#message(event.data);
        else if (type === "closed") this.#closed(event.data);
        // `{}`: the hub lost its backplane (Redis): what it shows may be behind until
        // its next event (the snapshots it sends once it is back in step). With a
        // name: that signal's publisher is gone; only its widgets show it.
        else if (type === STALE_EVENT) this.#onStaleEvent(event.data);
        // The hub cannot serve one signal: only its widgets show `error`.
        else if (type === REFUSED_EVENT) this.#onRefusedEvent(event.data);
      },
      error: (gaveUp) => {
        if (gaveUp) this.#fail(names);
        else this.#setStatus("stale"); // the browser retries by itself
      },
    });
    this.#setStatus("connecting");
  }

  /** @param {string} data */
  #message(data) {
    this.#setStatus("live");
    let message;
    try {
      message = parseMessage(data);
    } catch (error) {
      const reason = /** @type {Error} */ (error).message;
      this.#log.error(`[nb_sse_signals] ignoring a bad message: ${reason}`);
      // If we can tell whose it was, that signal may have missed a change.
      this.entries.get(nameIn(data))?.signal.resync(`a message could not be read (${reason})`);
      return;
    }
    this.entries.get(message.name)?.signal.receive(message);
  }

  /** @param {string} data */
  #closed(data) {
    try {
      const { name, rev } = parseClosed(data);
      this.entries.get(name)?.signal.close(rev);
    } catch (error) {
      this.#log.error(`[nb_sse_signals] ignoring a bad closed event: ${/** @type {Error} */ (error).message}`);
    }
  }

  /** @param {string} data */
  #onStaleEvent(data) {
    try {
      const stale = parseStale(data);
      if (stale) this.entries.get(stale.name)?.signal.markOrphaned(stale.rev);
      else this.#setStatus("stale");
    } catch (error) {
      this.#log.error(`[nb_sse_signals] ignoring a bad stale event: ${/** @type {Error} */ (error).message}`);
    }
  }

  /** @param {string} data */
  #onRefusedEvent(data) {
    try {
      const refused = parseRefused(data);
      this.entries.get(refused.name)?.signal.refuse(refused);
    } catch (error) {
      this.#log.error(`[nb_sse_signals] ignoring a bad refused event: ${/** @type {Error} */ (error).message}`);
    }
  }

  /**
   * The browser gave up on the stream (403, 404, …) and cannot tell us why;
   * ask the snapshot endpoint, which answers the same way. A key the hub
   * does not know fails the whole stream, so find such keys, follow the
   * others without them, and probe them again later.
   *
   * @param {string[]} names
   */
  async #fail(names) {
    this.source?.close();
    this.source = null;
    this.#subscribed = "";
    const { answer, unknown } = await findUnknown(this.options, this.base, this.token, names);
    this.#log.error(`[nb_sse_signals] cannot subscribe to ${names.join(", ")} at ${this.base}: ${answer.reason}`);
    for (const name of unknown) {
      const entry = this.entries.get(name);
      if (entry) {
        entry.failed = true;
        this.#publish(entry);
      }
    }
    if (unknown.length > 0 && unknown.length < names.length) this.#open();
    else this.#setStatus("error");
    this.#retryLater();
  }

  #retryLater() {
    const delay = Math.min(FIRST_RETRY_MS * 2 ** this.#retries, MAX_RETRY_MS);
    this.#retries += 1;
    this.#timers.clear(this.#retry);
    this.#retry = this.#timers.set(async () => {
      const failed = [...this.entries].filter(([, entry]) => entry.failed).map(([name]) => name);
      if (failed.length > 0) {
        // Rejoin them only once they exist: until then they would fail the stream again.
        const { status } = await probe(this.options.fetch ?? globalThis.fetch, this.base, failed, this.token);
        if (status !== 200) return this.#retryLater();
      }
      for (const name of failed) {
        const entry = this.entries.get(name);
        if (entry) entry.failed = false;
      }
      this.#subscribed = "";
      this.#open();
    }, delay);
  }

  /** @param {Exclude<Status, "closed">} status */
  #setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    for (const entry of this.entries.values()) this.#publish(entry);
  }

  /**
   * @param {Entry} entry
   * @returns {Status}
   */
  #statusOf(entry) {
    const state = entry.signal.state;
    if (entry.failed || state === "refused") return "error";
    if (state === "closed") return "closed";
    if (this.status !== "live") return this.status;
    if (state === "resync" || state === "orphaned") return "stale";
    return state === "empty" ? "connecting" : "live";
  }

  /**
   * Tell an entry's listeners what changed since they last heard.
   *
   * @param {Entry} entry
   */
  #publish(entry) {
    const { signal, sent } = entry;
    if (signal.rev >= 0 && (signal.rev !== sent.rev || signal.version !== sent.version)) {
      sent.version = signal.version;
      sent.rev = signal.rev;
      for (const listener of entry.listeners) this.#emit(listener, valueEvent(signal, listener));
    }
    const status = this.#statusOf(entry);
    if (status !== sent.status) {
      sent.status = status;
      for (const listener of entry.listeners) this.#emit(listener, { type: "status", status });
    }
  }

  /**
   * @param {Listener} listener
   * @param {SignalEvent} event
   */
  #emit(listener, event) {
    try {
      listener(event);
    } catch (error) {
      // One broken widget must not starve the others.
      this.#log.error("[nb_sse_signals] a listener failed:", error);
    }
  }
}

/**
 * The "name" of a message that did not validate, if it has one.
 *
 * @param {string} data
 * @returns {string}
 */
function nameIn(data) {
  try {
    const name = JSON.parse(data)?.name;
    return typeof name === "string" ? name : "";
  } catch {
    return "";
  }
}

