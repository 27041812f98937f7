// One tab's part in a group of tabs sharing one EventSource (see tabs.js):
// the lock, the channel, the leader's stream, and the stand-in EventSource
// each tab's ConnectionPool reads.
import { REFUSED_EVENT, STALE_EVENT, oldestCursor, parseMessage, isSnapshot } from "./protocol.js";
import { openEvents, probe } from "./streams.js";
import { whyNot } from "./tabframes.js";
import { VERSION } from "./version.js";

/**
 * @typedef {import("./connection.js").Listener} Listener
 * @typedef {import("./connection.js").PoolOptions} PoolOptions
 * @typedef {{
 *   request(name: string, options: { signal?: AbortSignal, steal?: boolean, ifAvailable?: boolean },
 *           callback: (lock: unknown) => unknown): Promise<unknown>,
 *   query?(): Promise<{ held?: { name?: string }[] }>,
 * }} Locks the part of `navigator.locks` used here
 * @typedef {{
 *   postMessage(message: unknown): void,
 *   close(): void,
 *   onmessage: ((event: MessageEvent) => void) | null,
 * }} Channel the part of a BroadcastChannel used here
 * @typedef {PoolOptions & {
 *   locks?: Locks,
 *   BroadcastChannel?: new (name: string) => Channel,
 *   quietMs?: number,
 *   answerMs?: number,
 *   now?: () => number,
 * }} TabOptions
 *   quietMs: a follower that heard nothing from its leader for this long asks
 *   whether it is there (2 s); answerMs: and takes over if no answer comes
 *   within this (2 s) — a frozen or hung leader tab.
 * @typedef {"connecting" | "live" | "retrying" | "failed" | "closed"} StreamStatus
 * @typedef {"message" | "closed" | "stale" | "refused"} FrameType the events relayed (protocol.md)
 * @typedef {{ t: "frame", term: number, from: string, type: FrameType, data: string, id: string }} Frame
 * @typedef {{ t: "state", term: number, from: string, status: StreamStatus, names: string[], unknown: string[] }} State
 * @typedef {{ names: string[], need: string[], cursor: string }} Wanted
 *   need: the names this tab has no value of yet, which need a stream opened without a
 *   cursor; cursor: the last one relayed to this tab, where a new leader must resume
 * @typedef {{ t: "want", from: string } & Wanted} Want
 * @typedef {{ t: "ping", from: string } | { t: "bye", from: string, term: number }} Other
 * @typedef {Frame | State | Want | Other} Message
 */

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

/**
 * A short, stable tag of a token for the lock and channel name (cyrb53, 53
 * bits, not cryptographic): the name is visible only to scripts of the same
 * origin, which may read the token anyway, but it need not carry the token.
 *
 * @param {string} text
 */
export function tag(text) {
  if (!text) return "";
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/**
 * The lock and channel name of one server and token: the package version
 * (tabs running two versions never share frames they might read differently),
 * the absolute base URL, and the token's tag.
 *
 * @param {string} base
 * @param {string} token
 * @param {string} [page] the page's URL, to make `base` absolute
 */
export function groupName(base, token, page = globalThis.location?.href) {
  const absolute = page ? new URL(base, page).href : base;
  return `nb_sse_signals@${VERSION} ${absolute} ${tag(token)}`;
}

/**
 * What a ConnectionPool of this tab sees as its EventSource: the frames the
 * leader relays, for the names it asked for. It opens once the leader's
 * stream covers all of them.
 */
class RelaySource {
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

/**
 * This tab's part in sharing one server and token: a follower that asks the
 * leader for its names and feeds relayed frames to its sources, or the leader,
 * which also holds the EventSource. Roles change only through the lock.
 */
export class TabGroup {
  /** @type {Set<RelaySource>} */
  sources = new Set();
  /** The leader's term, and which tab it is; frames of any other are ignored. */
  term = 0;
  leaderId = "";
  /** The last cursor this tab saw relayed: where a new leader resumes. */
  cursor = "";
  /** Names this tab has had a snapshot (or closed event) of, for `need`. @type {Set<string>} */
  have = new Set();

  // Only while leading:
  /** @type {Map<string, Wanted>} */
  wants = new Map();
  /** @type {EventSource | null} */
  stream = null;
  /** @type {StreamStatus} */
  streamStatus = "closed";
  /** @type {string[]} */
  streamNames = [];
  /** Names the hub answered 404 for; left out of the union until a tab asks again. @type {Set<string>} */
  unknown = new Set();

  #holding = /** @type {object | null} */ (null);
  #queued = /** @type {AbortController | null} */ (null);
  #release = () => {};
  #disposed = false;
  #frozen = false;
  /** @type {unknown} */
  #batch = undefined;
  /** @type {unknown} */
  #deadline = undefined;
  /** @type {unknown} */
  #watchdog = undefined;
  #asked = false;
  #lastHeard = 0;
  /** Tabs whose liveness lock was missing at the last look, by id. @type {Set<string>} */
  #missing = new Set();
  /** @type {unknown} */
  #roll = undefined;
  #releaseTab = () => {};
  /** The names of a stream opened without a cursor (their snapshots are coming). @type {Set<string>} */
  #fresh = new Set();
  /** The leader before us, while we lead. */
  #previous = { term: 0, from: "" };
  /**
   * From winning the lock to opening the first stream: the tabs (by id) the lock
   * manager says exist, which the first stream waits for (null while asking), and
   * those that told us their want this term.
   */
  #takeover = false;
  /** @type {Set<string> | null} */
  #expected = null;
  /** @type {Set<string>} */
  #answered = new Set();
  #channel;
  /** @type {() => number} */
  #now;
  #options;
  #timers;
  #log;

  /**
   * @param {string} base
   * @param {string} token
   * @param {Required<Pick<TabOptions, "locks" | "BroadcastChannel">> & TabOptions} options
   */
  constructor(base, token, options) {
    this.base = base;
    this.token = token;
    this.name = groupName(base, token);
    this.tabId = Math.random().toString(36).slice(2, 10) + Math.random().toString(36).slice(2, 6);
    this.#options = options;
    this.#log = options.log ?? console;
    this.#timers = {
      set: options.setTimeout ?? ((/** @type {() => void} */ callback, /** @type {number} */ ms) => globalThis.setTimeout(callback, ms)),
      clear: options.clearTimeout ?? ((/** @type {any} */ handle) => globalThis.clearTimeout(handle)),
    };
    const group = this;
    /** The EventSource class this tab's ConnectionPool is given. */
    this.EventSource = /** @type {typeof globalThis.EventSource} */ (
      /** @type {unknown} */ (
        class extends RelaySource {
          /** @param {string} url */
          constructor(url) {
            super(group, url);
          }
        }
      )
    );
    this.#now = options.now ?? Date.now;
    this.#channel = new options.BroadcastChannel(this.name);
    this.#holdTabLock();
    this.#channel.onmessage = (event) => this.#receive(event.data);
    this.#wait();
    this.#post({ t: "ping", from: this.tabId }); // a leader, if there is one, answers
  }

  /**
   * Held while the tab lives and is not frozen: the leader asks the lock manager
   * which tabs still exist, so a tab that crashed (no pagehide) leaves the union,
   * and a new leader waits for the want of each one (a frozen tab would not answer).
   */
  #holdTabLock() {
    this.#options.locks
      .request(this.#tabLock(this.tabId), {}, () => new Promise((resolve) => (this.#releaseTab = () => resolve(undefined))))
      .catch(() => {});
  }

  get leading() {
    return this.#holding !== null;
  }

  // -- this tab's sources ----------------------------------------------------------

  /** @param {RelaySource} source */
  attach(source) {
    this.sources.add(source);
    this.#announce();
    this.#coverage();
  }

  /** @param {RelaySource} source */
  detach(source) {
    this.sources.delete(source);
    // A pool closes its old source just before it opens the next: let that
    // one attach first, so the names it keeps keep their values.
    queueMicrotask(() => {
      const wanted = this.#wanted();
      for (const name of [...this.have]) if (!wanted.has(name)) this.have.delete(name);
      this.#announce();
    });
  }

  #wanted() {
    /** @type {Set<string>} */
    const names = new Set();
    for (const source of this.sources) for (const name of source.names) names.add(name);
    return names;
  }

  /** Tell the leader (maybe ourselves) what this tab wants. */
  #announce() {
    if (this.#disposed) return;
    const want = this.#localWant();
    if (this.leading) this.#setWant(this.tabId, want);
    else this.#post({ t: "want", from: this.tabId, ...want });
    this.#watch();
  }

  #localWant() {
    const names = [...this.#wanted()].sort();
    return { names, need: names.filter((name) => !this.have.has(name)), cursor: this.cursor };
  }

  /** Open the sources the leader's live stream covers. */
  #coverage() {
    if (this.streamStatus !== "live") return;
    const covered = new Set(this.streamNames);
    for (const source of this.sources) if (source.names.every((name) => covered.has(name))) source.open();
  }

  /** The leader is gone or its stream broke: what we show may be behind. */
  #stale() {
    for (const source of this.sources) source.fail(false);
  }

  /** @param {Frame} frame */
  #deliver(frame) {
    if (frame.id) this.cursor = frame.id;
    if (this.have.size < this.#wanted().size) this.#noteSnapshot(frame);
    for (const source of [...this.sources]) source.deliver(frame);
  }

  /**
   * Remember which names have had a value, so a new leader knows whether the
   * stream may resume from the cursor or must send snapshots.
   *
   * @param {Frame} frame
   */
  #noteSnapshot(frame) {
    if (frame.type === "stale") return; // says nothing of a value: it follows a snapshot
    try {
      const message = frame.type === "message" ? parseMessage(frame.data) : null;
      if (message && !isSnapshot(message)) return;
      const name = message ? message.name : JSON.parse(frame.data).name;
      if (this.#wanted().has(name)) this.have.add(name);
    } catch {
      // The ConnectionPool reports bad frames; this is bookkeeping only.
    }
  }

  // -- the channel -----------------------------------------------------------------

  /** @param {Message} message */
  #post(message) {
    if (this.#disposed) return;
    try {
      this.#channel.postMessage(message);
    } catch (error) {
      this.#log.error("[nb_sse_signals] cannot post to the other tabs:", error);
    }
  }

  /** @param {unknown} data */
  #receive(data) {
    if (this.#disposed) return;
    // Any script of this origin may post on the channel: check before reading.
    const why = whyNot(data, this.#now());
    if (why) {
      this.#log.warn(`[nb_sse_signals] dropped a message on the tabs' channel: ${why}`);
      return;
    }
    const message = /** @type {Message} */ (data);
    switch (message.t) {
      case "want":
        if (this.leading) this.#setWant(message.from, { names: message.names, need: message.need, cursor: message.cursor ?? "" });
        return;
      case "ping":
        if (this.leading) this.#postState();
        return;
      case "state":
        if (this.#fromLeader(message)) this.#followState(message);
        return;
      case "frame":
        if (this.leading) {
          // Frames the previous leader sent just before it died may arrive
          // after the lock came to us: they are the hub's, in order, until our
          // own stream opens (its replay could then be older than they are).
          const { term, from } = this.#previous;
          if (message.term === term && message.from === from && !this.stream) this.#deliver(message);
        } else if (this.#fromLeader(message)) {
          this.#heard();
          this.#deliver(message);
        }
        return;
      case "bye":
        if (!this.leading && message.from === this.leaderId) {
          this.streamStatus = "closed";
          this.#stale();
          this.#watch();
        }
    }
  }

  /**
   * Whether a message comes from the leader we follow, adopting a newer one.
   *
   * @param {{ term: number, from: string }} message
   */
  #fromLeader({ term, from }) {
    if (this.leading || term < this.term) return false;
    if (term === this.term && from === this.leaderId) return true;
    if (term === this.term && from < this.leaderId) return false;
    // A new leader: until its stream is live, ours is not.
    this.term = term;
    this.leaderId = from;
    this.streamStatus = "connecting";
    this.#stale();
    this.#announce();
    return true;
  }

  /** @param {State} state */
  #followState(state) {
    this.#heard();
    const was = this.streamStatus;
    this.streamStatus = state.status;
    this.streamNames = state.names;
    if (state.status === "live") this.#coverage();
    else if (state.status === "retrying") this.#stale();
    else if (state.status === "failed") {
      // The hub refused the stream: each tab's pool finds out why for its own
      // names (and leaves unknown ones out), as it does with a stream of its own.
      const unknown = new Set(state.unknown);
      for (const source of [...this.sources]) {
        if (unknown.size === 0 || source.names.some((name) => unknown.has(name))) source.fail(true);
      }
    } else if (state.status === "closed" && was === "live") this.#stale();
  }

  // -- noticing a frozen or hung leader -------------------------------------------

  /** (Re)arm the watchdog while this tab follows something. */
  #watch() {
    this.#timers.clear(this.#watchdog);
    this.#watchdog = undefined;
    this.#asked = false;
    if (this.leading || this.#disposed || this.#frozen || this.sources.size === 0) return;
    this.#watchdog = this.#timers.set(() => this.#silence(), this.#options.quietMs ?? 2_000);
  }

  #heard() {
    this.#lastHeard = this.#now();
    if (this.#asked || this.#watchdog === undefined) this.#watch();
  }

  #silence() {
    if (this.leading || this.#disposed) return;
    const quiet = this.#options.quietMs ?? 2_000;
    const since = this.#now() - this.#lastHeard;
    if (!this.#asked && since < quiet) {
      // Frames kept coming: no need to ask yet.
      this.#watchdog = this.#timers.set(() => this.#silence(), quiet - since);
      return;
    }
    if (!this.#asked) {
      this.#asked = true;
      this.#post({ t: "ping", from: this.tabId });
      this.#watchdog = this.#timers.set(() => this.#silence(), this.#options.answerMs ?? 2_000);
      return;
    }
    // No answer: the leader holds the lock but does not run (frozen, hung).
    // One follower (whoever gets the take-over lock) steals the lock; the old
    // leader learns it when its lock request fails, and its later frames carry
    // an older term, which every tab ignores.
    this.#watchdog = undefined;
    this.#asked = false;
    this.streamStatus = "closed";
    this.#stale();
    this.#options.locks
      .request(`${this.name} take-over`, { ifAvailable: true }, async (lock) => {
        if (!lock || this.leading || this.#disposed) return;
        this.#log.warn(`[nb_sse_signals] the tab holding the connection to ${this.base} does not answer; taking over`);
        await this.#acquire({ steal: true });
      })
      .catch(() => {})
      .finally(() => this.#watch());
  }

  // -- the lock --------------------------------------------------------------------

  /** Queue for the lock; granted when every tab before us released it. */
  #wait() {
    if (this.#holding || this.#queued || this.#disposed || this.#frozen) return;
    const controller = new AbortController();
    this.#queued = controller;
    void this.#acquire({ signal: controller.signal }, controller);
  }

  /**
   * @param {{ signal?: AbortSignal, steal?: boolean }} options
   * @param {AbortController} [queued]
   * @returns {Promise<void>} once granted or refused
   */
  #acquire(options, queued) {
    const held = {};
    return new Promise((granted) => {
      this.#options.locks
        .request(this.name, options, () => {
          granted();
          if (this.#disposed || this.#frozen) return undefined;
          const other = this.#queued;
          this.#queued = null;
          if (other !== queued) other?.abort();
          this.#holding = held;
          this.#lead();
          return new Promise((resolve) => (this.#release = () => resolve(undefined)));
        })
        .catch(() => {}) // aborted while queued, or stolen
        .finally(() => {
          granted();
          if (this.#queued === queued) this.#queued = null;
          if (this.#holding === held) this.#stepDown();
          this.#wait();
        });
    });
  }

  #lead() {
    this.#previous = { term: this.term, from: this.leaderId };
    this.term = Math.max(this.term + 1, this.#now());
    this.leaderId = this.tabId;
    this.wants.clear();
    this.unknown.clear();
    this.#timers.clear(this.#watchdog);
    this.#watchdog = undefined;
    this.streamStatus = "connecting";
    this.streamNames = [];
    this.#stale();
    this.#takeover = true;
    this.#answered.clear();
    this.#awaitTabs();
    this.#postState(); // followers answer with what they want
    this.#announce();
    this.#missing.clear();
    this.#rollCall();
  }

  /**
   * Which other tabs exist (their liveness locks): the first stream of a term waits
   * for each one's want (up to maxBatchMs), because each says how far it got. The
   * old leader's last frames may reach some tabs and not others (a channel orders
   * only one sender's messages), and resuming from the cursor of the tab that got
   * the fewest is what keeps every tab's revisions contiguous across the hand-over.
   */
  #awaitTabs() {
    this.#expected = null;
    const { locks } = this.#options;
    if (typeof locks.query !== "function") return (this.#expected = new Set());
    const term = this.term;
    const prefix = this.#tabLock("");
    locks
      .query()
      .then(({ held = [] }) => {
        const tabs = held.map((lock) => lock.name ?? "").filter((name) => name.startsWith(prefix));
        // Not the old leader: it handed over because it is closing or freezing, or it was
        // stolen from because it did not answer.
        const skip = new Set([this.tabId, this.#previous.from]);
        return new Set(tabs.map((name) => name.slice(prefix.length)).filter((tab) => !skip.has(tab)));
      })
      .catch(() => new Set())
      .then((tabs) => {
        if (!this.leading || this.term !== term || !this.#takeover) return;
        this.#expected = /** @type {Set<string>} */ (tabs);
        if (this.#deadline !== undefined) this.#schedule();
      });
  }

  /** Whether the first stream of this term still waits for a tab's want. */
  #awaiting() {
    if (!this.#takeover) return false;
    if (this.#expected === null) return true;
    for (const tab of this.#expected) if (!this.#answered.has(tab)) return true;
    return false;
  }

  /** @param {string} tab */
  #tabLock(tab) {
    return `${this.name} tab ${tab}`;
  }

  /**
   * While leading, every 5 s: drop the wants of tabs whose liveness lock is
   * gone (twice in a row, so a tab whose lock is just being granted stays).
   */
  #rollCall() {
    this.#timers.clear(this.#roll);
    if (!this.leading || this.#disposed) return;
    this.#roll = this.#timers.set(async () => {
      const { locks } = this.#options;
      if (typeof locks.query !== "function") return;
      let held;
      try {
        held = new Set(((await locks.query()).held ?? []).map((lock) => lock.name));
      } catch {
        return this.#rollCall();
      }
      if (!this.leading) return;
      let gone = false;
      for (const tab of [...this.wants.keys()]) {
        if (tab === this.tabId || held.has(this.#tabLock(tab))) this.#missing.delete(tab);
        else if (this.#missing.has(tab)) {
          this.#missing.delete(tab);
          this.wants.delete(tab);
          gone = true;
        } else this.#missing.add(tab);
      }
      if (gone) this.#schedule();
      this.#rollCall();
    }, 5_000);
  }

  #stepDown() {
    this.#holding = null;
    this.#timers.clear(this.#roll);
    this.#closeStream();
    this.wants.clear();
    this.#timers.clear(this.#batch);
    this.#timers.clear(this.#deadline);
    this.#batch = this.#deadline = undefined;
    this.streamStatus = "closed";
    this.#stale();
    this.#watch();
  }

  /** The tab goes away. */
  dispose() {
    if (this.#disposed) return;
    if (this.leading) this.#post({ t: "bye", from: this.tabId, term: this.term });
    else this.#post({ t: "want", from: this.tabId, names: [], need: [], cursor: "" });
    this.#disposed = true;
    this.#queued?.abort();
    this.#release();
    this.#closeStream();
    this.#timers.clear(this.#watchdog);
    this.#timers.clear(this.#roll);
    this.#releaseTab();
    this.#channel.close();
  }

  /**
   * The browser is about to freeze this tab, or keep it in its back-forward
   * cache: hand on the stream, leave the union, and do not queue while frozen.
   */
  freeze() {
    if (this.#disposed || this.#frozen) return;
    if (this.leading) this.#post({ t: "bye", from: this.tabId, term: this.term });
    else this.#post({ t: "want", from: this.tabId, names: [], need: [], cursor: "" });
    this.#frozen = true;
    this.#queued?.abort();
    this.#release();
    this.#releaseTab();
    this.#timers.clear(this.#watchdog);
  }

  /** Back from a freeze: what we show missed changes, so ask for snapshots again. */
  resume() {
    if (this.#disposed || !this.#frozen) return;
    this.#frozen = false;
    this.#holdTabLock();
    this.have.clear();
    this.#stale();
    this.#wait();
    this.#post({ t: "ping", from: this.tabId });
    this.#announce();
  }

  // -- leading ---------------------------------------------------------------------

  /**
   * @param {string} tab
   * @param {Wanted} want
   */
  #setWant(tab, want) {
    const old = this.wants.get(tab);
    this.#answered.add(tab);
    const same = (old?.names ?? []).join("\n") === want.names.join("\n") && want.need.length === 0;
    if (want.names.length === 0) this.wants.delete(tab);
    else this.wants.set(tab, want);
    // Nothing new (a tab repeating itself, a new leader's own empty want): no
    // batch, whose deadline would otherwise cut the next real burst short.
    if (!this.#takeover) {
      if (same && this.stream && this.streamStatus !== "failed") return;
      if (same && want.names.length === 0) return;
    }
    for (const name of want.names) if (!old?.names.includes(name)) this.unknown.delete(name);
    this.#schedule();
  }

  /** Reopen once for a burst of wants, as a ConnectionPool does for joins. */
  #schedule() {
    /** @param {boolean} deadline */
    const fire = (deadline) => {
      // Waiting for a tab's want: the next want arms the batch again, the deadline ends the wait.
      if (!deadline && this.#awaiting()) return;
      this.#timers.clear(this.#batch);
      this.#timers.clear(this.#deadline);
      this.#batch = this.#deadline = undefined;
      this.#reconcile();
    };
    if (this.#deadline === undefined) this.#deadline = this.#timers.set(() => fire(true), this.#options.maxBatchMs ?? 1_000);
    this.#timers.clear(this.#batch);
    this.#batch = this.#timers.set(() => fire(false), this.#options.batchMs ?? 50);
  }

  #reconcile() {
    if (!this.leading) return;
    // Our own want as of now: frames of the previous leader may have come since.
    const own = this.#localWant();
    if (own.names.length > 0) this.wants.set(this.tabId, own);
    else this.wants.delete(this.tabId);
    /** @type {Set<string>} */
    const union = new Set();
    let needed = false;
    for (const { names, need } of this.wants.values()) {
      for (const name of names) if (!this.unknown.has(name)) union.add(name);
      // A stream opened without a cursor sends snapshots of all its names:
      // a need it covers is on its way.
      if (need.some((name) => !this.unknown.has(name) && !this.#fresh.has(name))) needed = true;
    }
    const names = [...union].sort();
    if (names.length === 0) {
      this.#takeover = false; // no tab has values to keep contiguous
      this.#closeStream();
      this.streamStatus = "closed";
      this.streamNames = [];
      this.#postState();
      return;
    }
    const same = names.join("\n") === this.streamNames.join("\n");
    if (this.stream && this.streamStatus !== "failed" && same && !needed) {
      this.#postState();
      return;
    }
    // A tab without a value of some name needs its snapshot: open without a
    // cursor (every tab then gets snapshots, which a tab that has that
    // revision ignores). Else resume from the cursor: a new leader, a
    // leave, or a retry replays exactly what was missed.
    let cursor = this.cursor;
    if (this.#takeover) {
      // The first stream of a term: from where the tab that got least of the old
      // leader's stream stopped (of the tabs that want something).
      const cursors = [...this.wants.values()].filter((want) => want.names.length > 0).map((want) => want.cursor);
      cursor = cursors.reduce(oldestCursor);
      this.#takeover = false;
    }
    for (const want of this.wants.values()) want.need = [];
    this.#openStream(names, needed ? "" : cursor);
    this.#fresh = new Set(needed ? names : []);
  }

  /**
   * @param {string[]} names
   * @param {string} cursor
   */
  #openStream(names, cursor) {
    this.#closeStream();
    const EventSourceClass = this.#options.EventSource ?? globalThis.EventSource;
    // Past the hub's limits of one request, split across streams (streams.js).
    const stream = openEvents(EventSourceClass, this.base, names, { token: this.token, lastEventId: cursor || undefined });
    this.stream = stream;
    this.streamNames = names;
    this.streamStatus = "connecting";
    this.#postState();
    /** @param {FrameType} type @param {MessageEvent} event */
    const relay = (type, event) => {
      if (stream !== this.stream) return;
      // The first event with a cursor ends the batch of snapshots: a tab that
      // needs one from now on needs a reopen.
      if (event.lastEventId) this.#fresh.clear();
      if (this.streamStatus !== "live") this.#setStreamStatus("live");
      /** @type {Frame} */
      const frame = { t: "frame", term: this.term, from: this.tabId, type, data: String(event.data), id: event.lastEventId ?? "" };
      this.#post(frame);
      this.#deliver(frame);
    };
    stream.onopen = () => {
      if (stream === this.stream) this.#setStreamStatus("live");
    };
    stream.onmessage = (event) => relay("message", event);
    stream.addEventListener("closed", (event) => relay("closed", /** @type {MessageEvent} */ (event)));
    stream.addEventListener(STALE_EVENT, (event) => relay(STALE_EVENT, /** @type {MessageEvent} */ (event)));
    stream.addEventListener(REFUSED_EVENT, (event) => relay(REFUSED_EVENT, /** @type {MessageEvent} */ (event)));
    stream.onerror = () => {
      if (stream !== this.stream) return;
      if (stream.readyState === CLOSED) void this.#failed(names);
      else this.#setStreamStatus("retrying"); // the browser retries, with Last-Event-ID
    };
  }

  #closeStream() {
    this.stream?.close();
    this.stream = null;
    this.#fresh = new Set();
  }

  /** @param {StreamStatus} status */
  #setStreamStatus(status) {
    this.streamStatus = status;
    this.#postState();
    if (status === "live") this.#coverage();
    else if (status === "retrying") this.#stale();
  }

  /**
   * The browser gave up on the shared stream (403, 404, …). A key the hub
   * does not know fails it for every tab: find such keys, leave them out,
   * and tell the tabs, whose pools then find out for themselves (and report
   * it, once per tab) as they would with a stream of their own.
   *
   * @param {string[]} names
   */
  async #failed(names) {
    this.#closeStream();
    this.streamStatus = "failed";
    const fetch = this.#options.fetch ?? globalThis.fetch;
    /** @param {string[]} subset the status only (a HEAD), never the snapshots */
    const status = async (subset) => (await probe(fetch, this.base, subset, this.token, false)).status;
    const unknown = [];
    if ((await status(names)) === 404) {
      const answers = names.length === 1 ? [404] : await Promise.all(names.map((name) => status([name])));
      for (const [i, answer] of answers.entries()) if (answer === 404) unknown.push(names[i]);
    }
    if (!this.leading) return;
    for (const name of unknown) this.unknown.add(name);
    /** @type {State} */
    const state = { t: "state", term: this.term, from: this.tabId, status: "failed", names, unknown };
    this.#post(state);
    this.#followState(state);
    // Tabs whose names are all known come back with their wants (their pools
    // retry); if only some names were unknown, the others flow again now.
    if (unknown.length > 0 && unknown.length < names.length) this.#schedule();
  }

  #postState() {
    /** @type {State} */
    const state = { t: "state", term: this.term, from: this.tabId, status: this.streamStatus, names: this.streamNames, unknown: [...this.unknown] };
    this.#post(state);
  }
}
