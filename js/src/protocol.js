// The wire format of docs/protocol.md as pure functions: no I/O, no DOM.
import { ProtocolError } from "./errors.js";

/**
 * @typedef {{ op: string, path: string, from?: string, value?: unknown }} Operation
 * @typedef {{ name: string, rev: number, patch: Operation[], orphaned?: boolean }} SignalMessage
 *   One `message` event: a change, or a snapshot (one root `replace`). `orphaned`: a
 *   snapshot fetched while the signal is orphaned (the wire's `"stale": true`).
 * @typedef {{ name: string, rev: number }} ClosedMessage
 *   The data of a `closed` event, and of a per-signal `stale` event.
 * @typedef {{ name: string, rev: number, error: string }} RefusedMessage
 *   The data of a `refused` event (the hub cannot serve this signal's value), and the
 *   snapshot endpoint's item for such a signal.
 */

// The names of the wire: the one JS definition (Python's is in _protocol.py;
// tests/test_protocol.py holds the two together).
export const EVENTS_PATH = "nb-sse-signals/events";
export const SNAPSHOT_PATH = "nb-sse-signals/snapshot";
/**
 * Named events besides `message` and `closed`. `stale`: with a name, that signal is
 * orphaned (its publisher is gone); `{}`, backplane lost. `refused`: the hub cannot
 * serve that signal. Not "error": EventSource gives server events of that name to
 * the same listeners as its connection errors.
 */
export const STALE_EVENT = "stale";
export const REFUSED_EVENT = "refused";
/** A signal key: 1-200 characters from [A-Za-z0-9_.:/-]. */
export const KEY_PATTERN = /^[A-Za-z0-9_.:/-]{1,200}$/;
/**
 * What a viewer shows of a signal. connecting: no value yet; live: up to date;
 * stale: the value shown may be behind (reconnecting or resyncing); error: the
 * hub refused us (the console says why; retried with backoff); closed: the
 * publisher closed it.
 */
export const STATUSES = /** @type {const} */ (["connecting", "live", "stale", "error", "closed"]);
/** @typedef {typeof STATUSES[number]} Status */

/** @param {unknown} value */
function describe(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") {
    return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
  }
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}

/**
 * The cursor a replay must resume from to cover both `a` and `b` (protocol.md,
 * "Signals, revisions, cursors": `<epoch>-<seq>`): the earlier of the two in one
 * epoch; "" (no cursor: snapshots) when either is empty, malformed or of
 * another epoch, since then neither covers the other.
 *
 * @param {string} a
 * @param {string} b
 */
export function oldestCursor(a, b) {
  const split = (/** @type {string} */ cursor) => {
    const at = cursor.lastIndexOf("-");
    const seq = at > 0 && /^\d+$/.test(cursor.slice(at + 1)) ? Number(cursor.slice(at + 1)) : NaN;
    return { epoch: cursor.slice(0, at), seq };
  };
  const x = split(a);
  const y = split(b);
  if (Number.isNaN(x.seq) || Number.isNaN(y.seq) || x.epoch !== y.epoch) return "";
  return x.seq <= y.seq ? a : b;
}

/**
 * @param {unknown} data already-decoded JSON
 * @param {string} what the kind of message, for error messages
 * @returns {{ name: string, rev: number } & Record<string, unknown>}
 */
function header(data, what) {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new ProtocolError(`${what}: expected a JSON object, got ${describe(data)}`);
  }
  const record = /** @type {Record<string, unknown>} */ (data);
  const { name, rev } = record;
  if (typeof name !== "string" || !KEY_PATTERN.test(name)) {
    throw new ProtocolError(
      `${what}: expected "name" to be a signal key of 1-200 characters from [A-Za-z0-9_.:/-], got ${describe(name)}`,
    );
  }
  if (typeof rev !== "number" || !Number.isSafeInteger(rev) || rev < 0) {
    throw new ProtocolError(`${what} for ${name}: expected "rev" to be an integer >= 0, got ${describe(rev)}`);
  }
  return { ...record, name, rev };
}

/** @param {string} text */
function decode(text) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ProtocolError(`expected JSON event data, got ${describe(text)}`, { cause: error });
  }
}

/**
 * Validate one change or snapshot, `{"name", "rev", "patch"}`. The operations
 * themselves are checked when applied (they need the document).
 *
 * @param {unknown} data decoded JSON
 * @returns {SignalMessage}
 * @throws {ProtocolError}
 */
export function checkMessage(data) {
  const { name, rev, patch } = header(data, "signal message");
  if (!Array.isArray(patch)) {
    throw new ProtocolError(`signal message for ${name}: expected "patch" to be an array, got ${describe(patch)}`);
  }
  for (const [index, op] of patch.entries()) {
    if (typeof op !== "object" || op === null || Array.isArray(op)) {
      throw new ProtocolError(`signal message for ${name}: expected patch[${index}] to be an object, got ${describe(op)}`);
    }
  }
  /** @type {SignalMessage} */
  const message = { name, rev, patch };
  if (/** @type {Record<string, unknown>} */ (data).stale === true) message.orphaned = true;
  return message;
}

/**
 * Parse the `data` of one SSE `message` event.
 *
 * @param {string} text
 * @returns {SignalMessage}
 * @throws {ProtocolError}
 */
export function parseMessage(text) {
  return checkMessage(decode(text));
}

/**
 * Parse the `data` of one `closed` event, `{"name", "rev"}`.
 *
 * @param {string} text
 * @returns {ClosedMessage}
 * @throws {ProtocolError}
 */
export function parseClosed(text) {
  const { name, rev } = header(decode(text), "closed event");
  return { name, rev };
}

/**
 * Parse the `data` of a `stale` event: `{"name", "rev"}` for one signal whose
 * publisher is gone, or `null` for the hub-wide `{}` (it lost its backplane).
 *
 * @param {string} text
 * @returns {ClosedMessage | null}
 * @throws {ProtocolError}
 */
export function parseStale(text) {
  const data = decode(text);
  if (typeof data === "object" && data !== null && !Array.isArray(data) && Object.keys(data).length === 0) return null;
  const { name, rev } = header(data, "stale event");
  return { name, rev };
}

/**
 * Validate a refused item, `{"name", "rev", "error"}`.
 *
 * @param {unknown} data decoded JSON
 * @returns {RefusedMessage}
 * @throws {ProtocolError}
 */
export function checkRefused(data) {
  const { name, rev, error } = header(data, "refused event");
  if (typeof error !== "string") {
    throw new ProtocolError(`refused event for ${name}: expected "error" to be a string, got ${describe(error)}`);
  }
  return { name, rev, error };
}

/**
 * Parse the `data` of a `refused` event.
 *
 * @param {string} text
 * @returns {RefusedMessage}
 * @throws {ProtocolError}
 */
export function parseRefused(text) {
  return checkRefused(decode(text));
}

/**
 * Whether an item of the snapshot endpoint's answer is a refused item (the hub
 * cannot serve that signal).
 *
 * @param {SignalMessage | RefusedMessage} item
 * @returns {item is RefusedMessage}
 */
export function isRefused(item) {
  return "error" in item;
}

/**
 * Parse the body of `GET nb-sse-signals/snapshot`: a JSON array of snapshot
 * messages, and of refused items for signals the hub cannot serve.
 *
 * @param {unknown} data decoded JSON
 * @returns {(SignalMessage | RefusedMessage)[]}
 * @throws {ProtocolError}
 */
export function checkSnapshots(data) {
  if (!Array.isArray(data)) {
    throw new ProtocolError(`snapshot response: expected a JSON array, got ${describe(data)}`);
  }
  return data.map((item) =>
    typeof item === "object" && item !== null && "error" in item ? checkRefused(item) : checkMessage(item),
  );
}

/**
 * A snapshot is a message whose patch is exactly one `replace` of the root.
 *
 * @param {SignalMessage} message
 */
export function isSnapshot(message) {
  const { patch } = message;
  return patch.length === 1 && patch[0].op === "replace" && patch[0].path === "";
}

/**
 * @param {string} base server prefix ending in "/" (see baseurl.js)
 * @param {string} path
 * @param {Iterable<string>} names
 * @param {Record<string, string | undefined>} extra
 */
function build(base, path, names, extra) {
  const query = new URLSearchParams();
  for (const name of names) query.append("signal", name);
  for (const [key, value] of Object.entries(extra)) {
    if (value) query.append(key, value);
  }
  return `${base}${path}?${query}`;
}

/**
 * `<base>nb-sse-signals/events?signal=a&signal=b[&token=…][&lastEventId=…]`.
 *
 * @param {string} base server prefix ending in "/"
 * @param {Iterable<string>} names
 * @param {{ token?: string, lastEventId?: string }} [options]
 */
export function eventsUrl(base, names, { token, lastEventId } = {}) {
  return build(base, EVENTS_PATH, names, { token, lastEventId });
}

/**
 * `<base>nb-sse-signals/snapshot?signal=a[&token=…]`.
 *
 * @param {string} base server prefix ending in "/"
 * @param {Iterable<string>} names
 * @param {{ token?: string }} [options]
 */
export function snapshotUrl(base, names, { token } = {}) {
  return build(base, SNAPSHOT_PATH, names, { token });
}
