// A subscription past what one request may carry, split across streams.
//
// A hub rejects a stream of more than `signals_per_subscription` names (1,000 by
// default: 400) or a URL over `header_bytes` (64 KiB: 414), and the browser then
// retries for ever with every widget in `error`. So names are cut into chunks
// that fit both, one EventSource each, merged here into what looks like one
// EventSource to its reader (connection.js, tabgroup.js). Under the limits it
// is the plain EventSource, unchanged.
import { eventsUrl, oldestCursor, snapshotUrl } from "./protocol.js";

/** The hub's default `signals_per_subscription`. */
export const MAX_NAMES = 1_000;
/**
 * The most URL one stream may take: half the hub's default `header_bytes`
 * (64 KiB), which also counts the other headers (cookies, in Jupyter).
 */
export const MAX_URL = 32 * 1024;

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

/**
 * `names` in order, cut into chunks of at most `maxNames` names whose events
 * URL stays within `maxUrl` characters.
 *
 * @param {string} base
 * @param {string[]} names
 * @param {{ token?: string, lastEventId?: string, maxNames?: number, maxUrl?: number }} [options]
 * @returns {string[][]}
 */
export function chunkNames(base, names, { token, lastEventId, maxNames = MAX_NAMES, maxUrl = MAX_URL } = {}) {
  const fixed = eventsUrl(base, [], { token, lastEventId }).length;
  /** @type {string[][]} */
  const chunks = [];
  let chunk = /** @type {string[]} */ ([]);
  let size = fixed;
  for (const name of names) {
    const cost = `&signal=${encodeURIComponent(name)}`.length;
    if (chunk.length > 0 && (chunk.length >= maxNames || size + cost > maxUrl)) {
      chunks.push(chunk);
      chunk = [];
      size = fixed;
    }
    chunk.push(name);
    size += cost;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * One EventSource for `names` at `base`, or, past the limits, a SplitSource
 * of several that reads as one.
 *
 * @param {typeof globalThis.EventSource} EventSourceClass
 * @param {string} base
 * @param {string[]} names
 * @param {{ token?: string, lastEventId?: string }} [options]
 * @returns {EventSource}
 */
export function openEvents(EventSourceClass, base, names, options = {}) {
  const chunks = chunkNames(base, names, options);
  if (chunks.length <= 1) return new EventSourceClass(eventsUrl(base, names, options));
  return /** @type {EventSource} */ (/** @type {unknown} */ (new SplitSource(EventSourceClass, base, chunks, options)));
}

/**
 * Several EventSources read as one: open once all are, given up (CLOSED) once
 * any is (the others are closed then), events in the order they arrive. The
 * `lastEventId` it reports is the oldest of the parts' last cursors, so that a
 * resume from it misses nothing of any part (protocol.md: cursors are the hub's,
 * one sequence for all signals).
 */
export class SplitSource {
  readyState = CONNECTING;
  /** @type {((event: unknown) => void) | null} */
  onopen = null;
  /** @type {((event: { data: string, lastEventId: string }) => void) | null} */
  onmessage = null;
  /** @type {((event: unknown) => void) | null} */
  onerror = null;
  /** @type {Map<string, ((event: { data: string, lastEventId: string }) => void)[]>} */
  #listeners = new Map();
  /** @type {EventSource[]} */
  #parts;
  /** @type {string[]} */
  #cursors;

  /**
   * @param {typeof globalThis.EventSource} EventSourceClass
   * @param {string} base
   * @param {string[][]} chunks
   * @param {{ token?: string, lastEventId?: string }} options
   */
  constructor(EventSourceClass, base, chunks, options) {
    this.url = eventsUrl(base, chunks.flat(), options);
    this.#cursors = chunks.map(() => options.lastEventId ?? "");
    this.#parts = chunks.map((chunk, i) => {
      const part = new EventSourceClass(eventsUrl(base, chunk, options));
      part.onopen = () => {
        if (this.readyState === CLOSED) return;
        if (this.#parts.every((p) => p.readyState === OPEN)) {
          this.readyState = OPEN;
          this.onopen?.({});
        }
      };
      part.onmessage = (event) => this.#relay("message", i, event);
      part.onerror = () => {
        if (this.readyState === CLOSED) return;
        // One part given up (HTTP error): the whole is, as one stream would be.
        if (part.readyState === CLOSED) this.close();
        else this.readyState = CONNECTING; // that part's browser retry, with its own Last-Event-ID
        this.onerror?.({});
      };
      return part;
    });
  }

  get lastEventId() {
    return this.#cursors.reduce(oldestCursor);
  }

  /**
   * @param {string} type
   * @param {(event: any) => void} listener
   */
  addEventListener(type, listener) {
    const listeners = this.#listeners.get(type);
    if (listeners) return void listeners.push(listener);
    this.#listeners.set(type, [listener]);
    this.#parts.forEach((part, i) => part.addEventListener(type, (event) => this.#relay(type, i, /** @type {MessageEvent} */ (event))));
  }

  close() {
    this.readyState = CLOSED;
    for (const part of this.#parts) part.close();
  }

  /**
   * @param {string} type
   * @param {number} index the part it came from
   * @param {MessageEvent} event
   */
  #relay(type, index, event) {
    if (this.readyState === CLOSED) return;
    if (event.lastEventId) this.#cursors[index] = event.lastEventId;
    const merged = { data: event.data, lastEventId: this.lastEventId };
    if (type === "message") this.onmessage?.(merged);
    else for (const listener of this.#listeners.get(type) ?? []) listener(merged);
  }
}

/**
 * How the snapshot endpoint answers for `names`: the status of a `HEAD` (no
 * snapshot is sent, nor built), in chunks that fit one request (splitsource.js);
 * the first that is not 200 is asked again with `GET` for the hub's reason (an
 * error answer is short and carries no snapshot).
 *
 * @param {typeof globalThis.fetch} fetch
 * @param {string} base
 * @param {string[]} names
 * @param {string} token
 * @param {boolean} [why] whether to ask for the reason of a rejection
 * @returns {Promise<{ status: number, reason: string }>} status 0 for a network error
 */
export async function probe(fetch, base, names, token, why = true) {
  for (const chunk of chunkNames(base, names, { token })) {
    const url = snapshotUrl(base, chunk, { token });
    try {
      const { status } = await fetch(url, { method: "HEAD", credentials: "same-origin" });
      if (status === 200) continue;
      if (!why) return { status, reason: String(status) };
      const response = await fetch(url, { credentials: "same-origin" });
      const body = response.status === 200 ? "" : await response.text();
      return { status, reason: `${status} ${body.slice(0, 300)}` };
    } catch (error) {
      return { status: 0, reason: String(error) };
    }
  }
  return { status: 200, reason: "200" };
}
