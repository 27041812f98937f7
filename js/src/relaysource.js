// What a ConnectionPool of this tab sees as its EventSource when tabs share one
// (tabgroup.js): the frames the leader relays, for the names it asked for.

/**
 * @typedef {import("./tabgroup.js").TabGroup} TabGroup
 * @typedef {import("./tabgroup.js").Frame} Frame
 */

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

/**
 * What a ConnectionPool of this tab sees as its EventSource: the frames the
 * leader relays, for the names it asked for. It opens once the leader's
 * stream covers all of them.
 */
export class RelaySource {
  readyState = CONNECTING;
  /** @type {((event: unknown) => void) | null} */
  onopen = null;
  /** @type {((event: { data: string, lastEventId: string }) => void) | null} */
  onmessage = null;
  /** @type {((event: unknown) => void) | null} */
  onerror = null;
  /** Listeners of named events (`closed`, `stale`, `refused`). @type {Map<string, ((event: { data: string, lastEventId: string }) => void)[]>} */
  listeners = new Map();

  /**
   * @param {TabGroup} group
   * @param {string} url as the ConnectionPool built it; only its names matter
   */
  constructor(group, url) {
    this.group = group;
    this.url = url;
    this.names = new URL(url, "http://relay.invalid/").searchParams.getAll("signal");
    group.attach(this);
  }

  /**
   * @param {string} type
   * @param {(event: any) => void} listener
   */
  addEventListener(type, listener) {
    const listeners = this.listeners.get(type);
    if (listeners) listeners.push(listener);
    else this.listeners.set(type, [listener]);
  }

  close() {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.group.detach(this);
  }

  // What the group does to it, as a browser does to an EventSource:
  open() {
    if (this.readyState !== CONNECTING) return;
    this.readyState = OPEN;
    this.onopen?.({});
  }

  /** @param {boolean} giveUp */
  fail(giveUp) {
    if (this.readyState === CLOSED || (!giveUp && this.readyState === CONNECTING)) return;
    this.readyState = giveUp ? CLOSED : CONNECTING;
    // A closed EventSource asks for nothing more: left attached, its names would stay
    // in this tab's want, and a later source asking for the same names (the pool's
    // retry once the hub has them) would not count as asking again.
    if (giveUp) this.group.detach(this);
    this.onerror?.({});
  }

  /** @param {Frame} frame */
  deliver(frame) {
    if (this.readyState === CLOSED) return;
    const event = { data: frame.data, lastEventId: frame.id };
    if (frame.type === "message") this.onmessage?.(event);
    else for (const listener of this.listeners.get(frame.type) ?? []) listener(event);
  }
}

