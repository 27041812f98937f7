// What a page's ConnectionPool (connection.js) and a tab group's leader
// (leader.js) share: timers that tests can drive, the debounce that reopens a
// stream once for a burst of joins, the wiring of an EventSource, and the
// search for the names a hub does not know. (splitsource.js: how one stream's
// names are split into requests, and the probe itself.)
import { REFUSED_EVENT, STALE_EVENT } from "./protocol.js";
import { openEvents, probe } from "./splitsource.js";

/**
 * @typedef {import("./connection.js").PoolOptions} PoolOptions
 * @typedef {"message" | "closed" | "stale" | "refused"} FrameType the events of a stream (protocol.md)
 * @typedef {{ set(callback: () => void, ms: number): unknown, clear(handle: unknown): void }} Timers
 * @typedef {{ status: number, reason: string }} Answer status 0 for a network error
 */

export const CLOSED = 2; // EventSource.CLOSED: the browser gave up (HTTP error, wrong content type)

/**
 * The timers of `options` (a test's clock), else the page's.
 *
 * @param {PoolOptions} options
 * @returns {Timers}
 */
export function timersOf(options) {
  return {
    set: options.setTimeout ?? ((callback, ms) => globalThis.setTimeout(callback, ms)),
    clear: options.clearTimeout ?? ((/** @type {any} */ handle) => globalThis.clearTimeout(handle)),
  };
}

/**
 * `callback` in `ms`, unless `signal` aborts first: the lifetime the timer
 * belongs to (a tab's role) ended, and with it everything it had started.
 *
 * @param {Timers} timers
 * @param {AbortSignal} signal
 * @param {number} ms
 * @param {() => void} callback
 * @returns {() => void} clears it sooner; idempotent
 */
export function after(timers, signal, ms, callback) {
  if (signal.aborted) return () => {};
  const clear = () => {
    timers.clear(handle);
    signal.removeEventListener("abort", clear);
  };
  const handle = timers.set(() => {
    signal.removeEventListener("abort", clear);
    callback();
  }, ms);
  signal.addEventListener("abort", clear, { once: true });
  return clear;
}

/**
 * One call of `fire` for a burst of `schedule()` calls: once none came for
 * `batchMs` (50 ms), or `maxBatchMs` (1 s) after the burst began. A notebook
 * cell that shows ten widgets makes its joins one model at a time, each after
 * the import of its module, often 20–40 ms apart: a fixed window from the
 * first join would reopen the stream several times.
 */
export class Debounce {
  /** @type {unknown} */
  #batch = undefined;
  /** @type {unknown} the latest the burst may wait */
  #deadline = undefined;
  #timers;
  #options;
  #fire;
  #hold;
  #signal;

  /**
   * @param {Timers} timers
   * @param {Pick<PoolOptions, "batchMs" | "maxBatchMs">} options
   * @param {() => void} fire
   * @param {{ hold?: () => boolean, signal?: AbortSignal }} [more] `hold`: while it
   *   says so, a pause does not end the burst (only the deadline does); `signal`:
   *   cancels it for good
   */
  constructor(timers, options, fire, { hold, signal } = {}) {
    this.#timers = timers;
    this.#options = options;
    this.#fire = fire;
    this.#hold = hold;
    this.#signal = signal;
    signal?.addEventListener("abort", () => this.cancel(), { once: true });
  }

  /** Whether a burst is under way. */
  get pending() {
    return this.#deadline !== undefined;
  }

  schedule() {
    if (this.#signal?.aborted) return;
    if (this.#deadline === undefined) this.#deadline = this.#timers.set(() => this.#end(true), this.#options.maxBatchMs ?? 1_000);
    this.#timers.clear(this.#batch);
    this.#batch = this.#timers.set(() => this.#end(false), this.#options.batchMs ?? 50);
  }

  cancel() {
    this.#timers.clear(this.#batch);
    this.#timers.clear(this.#deadline);
    this.#batch = this.#deadline = undefined;
  }

  /** @param {boolean} deadline */
  #end(deadline) {
    if (!deadline && this.#hold?.()) return;
    this.cancel();
    this.#fire();
  }
}

/**
 * An EventSource on `names` whose events go to `on` for as long as
 * `on.isCurrent(source)` (until a newer source replaces it). Past the hub's
 * limits of one request, it is split across streams (splitsource.js).
 *
 * @param {PoolOptions} options
 * @param {string} base
 * @param {string[]} names
 * @param {{ token?: string, lastEventId?: string }} query
 * @param {{
 *   isCurrent(source: EventSource): boolean,
 *   open(): void,
 *   event(type: FrameType, event: MessageEvent): void,
 *   error(gaveUp: boolean): void,
 * }} on `error(false)`: the browser retries by itself, with Last-Event-ID;
 *   `error(true)`: it gave up (403, 404, …) and will not say why (see `findUnknown`)
 * @returns {EventSource}
 */
export function openEventSource(options, base, names, query, on) {
  const source = openEvents(options.EventSource ?? globalThis.EventSource, base, names, query);
  source.onopen = () => {
    if (on.isCurrent(source)) on.open();
  };
  source.onmessage = (event) => {
    if (on.isCurrent(source)) on.event("message", event);
  };
  // `closed`: a signal ended. `stale`: `{}` when the hub lost its backplane (Redis),
  // else one signal's publisher is gone. `refused`: the hub cannot serve one signal.
  for (const type of /** @type {const} */ (["closed", STALE_EVENT, REFUSED_EVENT])) {
    source.addEventListener(type, (event) => {
      if (on.isCurrent(source)) on.event(type, /** @type {MessageEvent} */ (event));
    });
  }
  source.onerror = () => {
    if (on.isCurrent(source)) on.error(source.readyState === CLOSED);
  };
  return source;
}

/**
 * Which of `names` the hub does not know, after a stream of them failed: one
 * unknown name fails a whole stream (404), so ask for all of them, and after
 * a 404 for each one alone.
 *
 * @param {PoolOptions} options
 * @param {string} base
 * @param {string} token
 * @param {string[]} names
 * @param {boolean} [why] whether to ask for the reason of a rejection (splitsource.js's `probe`)
 * @returns {Promise<{ answer: Answer, unknown: string[] }>} `answer`: for all of them
 */
export async function findUnknown(options, base, token, names, why = true) {
  const fetch = options.fetch ?? globalThis.fetch;
  const answer = await probe(fetch, base, names, token, why);
  const unknown = [];
  if (answer.status === 404) {
    const answers = names.length === 1 ? [answer] : await Promise.all(names.map((name) => probe(fetch, base, [name], token, why)));
    for (const [i, { status }] of answers.entries()) if (status === 404) unknown.push(names[i]);
  }
  return { answer, unknown };
}
