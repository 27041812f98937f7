// One signal's client state: value and revision, the client rules of
// docs/protocol.md, and resync through the snapshot endpoint. No DOM.
import { _areEquals } from "fast-json-patch/module/core.mjs";
import { SignalsError } from "./errors.js";
import { applyPatch } from "./patch.js";
import { checkSnapshots, isRefused, isSnapshot } from "./protocol.js";

/**
 * @typedef {import("./protocol.js").SignalMessage} SignalMessage
 * @typedef {import("./protocol.js").RefusedMessage} RefusedMessage
 * @typedef {"empty" | "live" | "resync" | "orphaned" | "refused" | "closed"} SignalState
 *   empty: no value yet; live: value at `rev`; resync: value at `rev` is
 *   shown while a newer one is fetched; orphaned: the hub said its publisher is
 *   gone (the value stands still; shown as the status `stale`); refused: the hub cannot serve its value
 *   (the last good one stays); closed: the publisher closed it.
 * @typedef {{ warn(...data: unknown[]): void }} Logger
 * @typedef {{
 *   snapshotUrl: string,
 *   getSnapshot?: () => Promise<SignalMessage | RefusedMessage>,
 *   onChange?: (signal: Signal) => void,
 *   fetch?: typeof globalThis.fetch,
 *   setTimeout?: (callback: () => void, ms: number) => unknown,
 *   clearTimeout?: (handle: any) => void,
 *   log?: Logger,
 * }} SignalOptions
 */

// Live patches kept while a snapshot is on its way; past this the oldest
// would be useless anyway (the snapshot leaves a gap, and we resync again).
const MAX_BUFFERED = 10_000;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;

export class Signal {
  /** The last good value. @type {unknown} */
  #value = undefined;
  /**
   * The containers of `#value` nobody outside was given (patch.js changes them in
   * place); empty again whenever `value` hands the value out.
   * @type {WeakSet<object>}
   */
  #owned = new WeakSet();
  /** Counts the changes of the value (in place or not): whether it changed since. */
  version = 0;
  /** Revision of `value`; -1 before the first snapshot. */
  rev = -1;
  closed = false;
  /** The hub said its publisher is gone (a per-signal `stale` event). */
  orphaned = false;
  /** The revision the latest `stale` event named: a fetched snapshot past it is newer news. */
  #orphanedRev = -1;
  /** Why the hub cannot serve it (a `refused` event); "" if it can. */
  refused = "";

  /** Live patches received during a resync, by revision. @type {Map<number, SignalMessage>} */
  #buffer = new Map();
  /** The current resync, if any; a fetch whose episode ended is ignored. @type {object | null} */
  #episode = null;
  /** Consecutive resyncs without a patch applied in between, for backoff. */
  #attempts = 0;
  /** @type {unknown} */
  #timer = undefined;
  #disposed = false;
  /** @type {Required<SignalOptions>} */
  #options;

  /**
   * @param {string} name
   * @param {SignalOptions} options `fetch`, timers and `log` default to the globals
   */
  constructor(name, options) {
    this.name = name;
    // `??` rather than a spread: a caller may pass `fetch: undefined`.
    const fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#options = {
      snapshotUrl: options.snapshotUrl,
      // Where the snapshot comes from: the snapshot endpoint, or (comm.js) the kernel.
      getSnapshot: options.getSnapshot ?? (() => fetchSnapshot(fetch, options.snapshotUrl, name)),
      onChange: options.onChange ?? (() => {}),
      fetch,
      setTimeout: options.setTimeout ?? ((callback, ms) => globalThis.setTimeout(callback, ms)),
      clearTimeout: options.clearTimeout ?? ((handle) => globalThis.clearTimeout(handle)),
      log: options.log ?? console,
    };
  }

  /**
   * The last good value, never modified afterwards: a later change copies what it
   * touches (the containers on its path), so whoever keeps this one may compare it
   * by identity. Reading it costs the next change that copy.
   */
  get value() {
    this.#owned = new WeakSet();
    return this.#value;
  }

  /**
   * The last good value, which later changes may modify in place: for a reader that
   * reads again what it needs after each change (`version` says when) and keeps no
   * part of it, such as a chart copying its series. Taking it costs no copy, so
   * appending to a long array costs the append.
   */
  get live() {
    return this.#value;
  }

  /** Whether a snapshot is wanted or on its way (also while closed). */
  get fetching() {
    return this.#episode !== null;
  }

  /** @returns {SignalState} */
  get state() {
    if (this.closed) return "closed";
    if (this.refused) return "refused";
    if (this.#episode) return "resync";
    if (this.orphaned) return "orphaned";
    return this.rev < 0 ? "empty" : "live";
  }

  /**
   * Take one `message` event from the stream. Never throws: a message that
   * cannot be applied starts a resync.
   *
   * @param {SignalMessage} message
   */
  receive(message) {
    if (this.#disposed) return;
    if (isSnapshot(message)) {
      // The stream is ordered: what it sent before a snapshot is superseded.
      this.#buffer.clear();
      this.#snapshot(message, { reopens: true });
      return;
    }
    if (message.rev <= this.rev) return; // a duplicate, e.g. replayed after a reconnect
    if (this.#episode) {
      this.#keep(message);
      return;
    }
    if (this.rev < 0 || message.rev !== this.rev + 1) {
      this.#keep(message);
      this.#resync(`expected revision ${this.rev + 1}, got ${message.rev}`);
    } else if (this.#apply(message)) {
      this.#attempts = 0;
    }
    this.#changed();
  }

  /**
   * Take a `closed` event: the value stays; if the publisher got further than
   * we did, fetch its last value once.
   *
   * @param {number} rev the signal's last revision
   */
  close(rev) {
    if (this.#disposed) return;
    this.closed = true;
    // Fetching the last value of a signal that ended is the normal way to end, not a
    // fault: nothing for the console.
    if (rev > this.rev) this.#resync(`closed at revision ${rev}, we have ${this.rev}`, { quiet: true });
    this.#changed();
  }

  /**
   * Take a per-signal `stale` event: its publisher is gone (orphaned). The value stays and
   * shows stale until the next snapshot or change of it; if the hub is further
   * than we are, fetch (as after `closed`).
   *
   * @param {number} rev
   */
  markOrphaned(rev) {
    if (this.#disposed) return;
    this.orphaned = true;
    this.#orphanedRev = rev;
    if (rev > this.rev) this.#resync(`stale at revision ${rev}, we have ${this.rev}`);
    this.#changed();
  }

  /**
   * Take a `refused` event: the hub cannot serve this value. Keep the last good
   * one, fetch nothing: the hub sends a snapshot once it can serve it again.
   *
   * @param {RefusedMessage} refused
   */
  refuse(refused) {
    if (this.#disposed) return;
    this.#refuse(refused);
    this.#changed();
  }

  /** @param {RefusedMessage} refused */
  #refuse(refused) {
    this.refused = refused.error || "refused";
    this.#episode = null;
    this.#options.clearTimeout(this.#timer);
    this.#buffer.clear();
    this.#options.log.warn(`[nb_sse_signals] ${this.name}: the hub cannot serve it: ${refused.error}`);
  }

  /**
   * Fetch a snapshot because something arrived that cannot be trusted (the
   * connection could not even parse it). No-op while a resync is running.
   *
   * @param {string} reason
   */
  resync(reason) {
    if (!this.#disposed) {
      this.#resync(reason);
      this.#changed();
    }
  }

  /** Stop timers and ignore any fetch still on its way. */
  dispose() {
    this.#disposed = true;
    this.#episode = null;
    this.#buffer.clear();
    this.#options.clearTimeout(this.#timer);
  }

  /** @param {SignalMessage} message */
  #keep(message) {
    if (this.#buffer.size >= MAX_BUFFERED) this.#buffer.clear();
    this.#buffer.set(message.rev, message);
  }

  /**
   * Apply a contiguous patch; on failure leave value and rev as they were.
   *
   * @param {SignalMessage} message
   * @returns {boolean} whether it applied
   */
  #apply(message) {
    try {
      this.#value = applyPatch(this.#value, message.patch, this.#owned);
      this.version += 1;
      this.rev = message.rev;
      this.closed = false; // a closed signal can be declared again
      this.orphaned = false; // someone publishes it again
      this.refused = "";
      return true;
    } catch (error) {
      this.#resync(`revision ${message.rev} does not apply (${/** @type {Error} */ (error).message})`);
      return false;
    }
  }

  /**
   * Replace the value whatever our revision (the hub may have restarted), but
   * keep the current object when nothing changed, so views need not redraw.
   * A snapshot on the stream means the signal is open (declared again); one
   * fetched after `closed` is its last value, and it stays closed.
   *
   * @param {SignalMessage} message a snapshot
   * @param {{ reopens: boolean }} how
   */
  #snapshot(message, { reopens }) {
    const value = message.patch[0].value;
    if (message.rev !== this.rev || !_areEquals(value, this.#value)) {
      // Adopted from the message, not owned: the first change copies what it touches.
      this.#value = value;
      this.#owned = new WeakSet();
      this.version += 1;
    }
    this.rev = message.rev;
    // On the stream: declared again, or its publisher was never gone. Fetched: the
    // hub marks it `stale` if its publisher is gone; unmarked and past the revision
    // the stale event named, it was declared again (which always takes a revision;
    // the stream's copy of that change is then a duplicate we would ignore). At that
    // very revision, it may have been taken before the stale: keep the stale.
    if (reopens) this.closed = this.orphaned = false;
    else if (!message.orphaned && message.rev > this.#orphanedRev) this.orphaned = false;
    if (message.orphaned) this.orphaned = true;
    this.refused = "";
    this.#episode = null;
    this.#options.clearTimeout(this.#timer);
    // Apply what arrived during the resync, in order, from the snapshot on.
    for (const rev of [...this.#buffer.keys()]) if (rev <= this.rev) this.#buffer.delete(rev);
    for (let next = this.#buffer.get(this.rev + 1); next; next = this.#buffer.get(this.rev + 1)) {
      this.#buffer.delete(next.rev);
      if (!this.#apply(next)) break;
    }
    if (!this.#episode && this.#buffer.size > 0) {
      this.#resync(`revisions after ${this.rev} are missing`);
    }
    this.#changed();
  }

  /**
   * @param {string} reason
   * @param {{ quiet?: boolean }} [options] quiet: an expected fetch, not logged
   */
  #resync(reason, { quiet = false } = {}) {
    if (this.#episode) return;
    const episode = {};
    this.#episode = episode;
    const delay = this.#attempts === 0 ? 0 : Math.min(FIRST_RETRY_MS * 2 ** (this.#attempts - 1), MAX_RETRY_MS);
    this.#attempts += 1;
    if (!quiet) this.#options.log.warn(`[nb_sse_signals] ${this.name}: ${reason}; fetching a snapshot`);
    this.#timer = this.#options.setTimeout(() => this.#fetch(episode), delay);
  }

  /** @param {object} episode */
  async #fetch(episode) {
    try {
      const found = await this.#options.getSnapshot();
      if (this.#episode !== episode) return;
      if (isRefused(found)) {
        this.#refuse(found);
        this.#changed();
      } else this.#snapshot(found, { reopens: false });
    } catch (error) {
      if (this.#episode !== episode) return;
      this.#episode = null;
      if (this.closed) {
        // A closed signal may be gone from the hub: show what we have.
        this.#changed();
        return;
      }
      this.#resync(`resync failed (${/** @type {Error} */ (error).message})`);
    }
  }

  #changed() {
    if (!this.#disposed) this.#options.onChange(this);
  }
}

/**
 * The snapshot of `name` from the snapshot endpoint.
 *
 * @param {typeof globalThis.fetch} fetch
 * @param {string} url
 * @param {string} name
 * @returns {Promise<SignalMessage | RefusedMessage>}
 */
async function fetchSnapshot(fetch, url, name) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new SignalsError(`the snapshot endpoint answered ${response.status}`);
  const found = checkSnapshots(await response.json()).find((m) => m.name === name);
  if (!found || !(isRefused(found) || isSnapshot(found))) throw new SignalsError("the snapshot endpoint sent no snapshot of it");
  return found;
}

/** Listeners that read `event.live` (see `readsLive`). @type {WeakSet<Function>} */
const LIVE = new WeakSet();

/**
 * Mark `listener` as one that reads `live` from its `value` events, not `value`: it
 * reads again what it needs after each change and keeps no part of it (a chart). While
 * every listener of a signal is one, its changes are made in place.
 *
 * @template {Function} T
 * @param {T} listener
 * @returns {T} the listener itself
 */
export function readsLive(listener) {
  LIVE.add(listener);
  return listener;
}

/** @param {Function} listener */
export function wantsLive(listener) {
  return LIVE.has(listener);
}

/**
 * The `value` event of `signal` for `listener`. Its value is taken only for a listener
 * that may keep it; one marked by `readsLive` gets `live`, and `value` only if it
 * asks for it while handling the event.
 *
 * @param {Signal} signal
 * @param {Function} listener
 * @returns {import("./connection.js").SignalEvent}
 */
export function valueEvent(signal, listener) {
  if (!LIVE.has(listener)) return { type: "value", value: signal.value, rev: signal.rev };
  return {
    type: "value",
    rev: signal.rev,
    live: signal.live,
    get value() {
      return signal.value;
    },
  };
}
