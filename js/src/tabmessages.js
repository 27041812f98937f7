// What another tab may tell this one over the group's BroadcastChannel
// (tabgroup.js), checked before anything reads it. Any script of the page's
// origin can post on the channel: a message that does not fit (a `term` of
// Infinity would make followers ignore the real leader until reload; a huge
// array would pin memory in every tab) is dropped with one console line.
import { KEY_PATTERN } from "./protocol.js";

/** Frame types relayed (the SSE events of protocol.md). */
const FRAME_TYPES = new Set(["message", "closed", "stale", "refused"]);
/** A leader's stream status. */
const STREAM_STATUSES = new Set(["connecting", "live", "retrying", "failed", "closed"]);
/** A tab id: what TabGroup makes (12 base-36 characters), with room. */
const TAB_ID = /^[a-z0-9]{1,32}$/;
/** A cursor, `<epoch>-<seq>` (protocol.md), or none. */
const CURSOR = /^(|[A-Za-z0-9_]{1,64}-\d{1,20})$/;

/** The bounds a message must keep. */
export const BOUNDS = {
  /** Names in one want or state: the hub's `signals` limit (10,000 by default). */
  names: 10_000,
  /** One frame's data: as the kernel side's Follower (64 MiB). */
  dataChars: 64 * 1024 * 1024,
  /**
   * How far ahead of this tab's clock a term may be (ms). A term is the time a
   * leader took over (or one more than the last); every tab shares the clock.
   */
  termAheadMs: 10 * 60 * 1000,
};

/**
 * Why `message` is not a message another tab of this group may send, or "" if it is.
 *
 * @param {unknown} message what arrived (`event.data`)
 * @param {number} now this tab's clock (ms since the epoch), to bound `term`
 * @returns {string}
 */
export function whyNot(message, now) {
  if (typeof message !== "object" || message === null || Array.isArray(message)) return `expected an object, got ${kind(message)}`;
  const m = /** @type {Record<string, unknown>} */ (message);
  if (typeof m.from !== "string" || !TAB_ID.test(m.from)) return `expected "from" to be a tab id, got ${kind(m.from)}`;
  /** @param {string} field */
  const term = (field) => {
    const value = m[field];
    if (!Number.isSafeInteger(value) || /** @type {number} */ (value) < 0 || /** @type {number} */ (value) > now + BOUNDS.termAheadMs) {
      return `expected "${field}" to be an integer from 0 to this tab's clock (+${BOUNDS.termAheadMs} ms), got ${kind(value)}`;
    }
    return "";
  };
  switch (m.t) {
    case "ping":
      return "";
    case "bye":
      return term("term");
    case "frame":
      return (
        term("term") ||
        (typeof m.type === "string" && FRAME_TYPES.has(m.type) ? "" : `expected "type" to be one of ${[...FRAME_TYPES].join(", ")}, got ${kind(m.type)}`) ||
        (typeof m.data === "string" && m.data.length <= BOUNDS.dataChars ? "" : `expected "data" to be a string of at most ${BOUNDS.dataChars} characters, got ${kind(m.data)}`) ||
        (typeof m.id === "string" && CURSOR.test(m.id) ? "" : `expected "id" to be a cursor or "", got ${kind(m.id)}`)
      );
    case "state":
      return (
        term("term") ||
        (typeof m.status === "string" && STREAM_STATUSES.has(m.status) ? "" : `expected "status" to be one of ${[...STREAM_STATUSES].join(", ")}, got ${kind(m.status)}`) ||
        keys(m, "names") ||
        keys(m, "unknown")
      );
    case "want":
      return keys(m, "names") || keys(m, "need") || (typeof m.cursor === "string" && CURSOR.test(m.cursor) ? "" : `expected "cursor" to be a cursor or "", got ${kind(m.cursor)}`);
    default:
      return `expected "t" to be one of frame, state, want, ping, bye, got ${kind(m.t)}`;
  }
}

/**
 * @param {Record<string, unknown>} m
 * @param {string} field
 */
function keys(m, field) {
  const value = m[field];
  if (!Array.isArray(value) || value.length > BOUNDS.names) return `expected "${field}" to be an array of at most ${BOUNDS.names} signal keys, got ${kind(value)}`;
  for (const name of value) if (typeof name !== "string" || !KEY_PATTERN.test(name)) return `expected "${field}" to hold signal keys, got ${kind(name)}`;
  return "";
}

/** @param {unknown} value */
function kind(value) {
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "string") return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === "number") return String(value);
  return value === null ? "null" : typeof value;
}
