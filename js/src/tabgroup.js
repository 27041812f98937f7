// One tab's part in a group of tabs sharing one EventSource (see tabs.js): the
// channel, what every tab keeps whatever its role, and the stand-in EventSource
// each tab's ConnectionPool reads. The roles are modules of their own: the lock
// and the election (election.js), the leader, which holds the stream and relays
// (leader.js), and the follower's watchdog (follower.js). Frames from the other
// tabs arrive in one place: `TabGroup#receive`.
import { Election, groupName } from "./election.js";
import { Follower } from "./follower.js";
import { Leader } from "./leader.js";
import { parseMessage, isSnapshot } from "./protocol.js";
import { RelaySource } from "./relaysource.js";
import { whyNot } from "./tabmessages.js";

/**
 * @typedef {import("./connection.js").Listener} Listener
 * @typedef {import("./connection.js").PoolOptions} PoolOptions
 * @typedef {import("./election.js").Locks} Locks
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
 * @typedef {import("./streamwiring.js").FrameType} FrameType the events relayed (protocol.md)
 * @typedef {{ t: "frame", term: number, from: string, type: FrameType, data: string, id: string }} Frame
 * @typedef {{ t: "state", term: number, from: string, status: StreamStatus, names: string[], unknown: string[] }} State
 * @typedef {{ names: string[], need: string[], cursor: string }} Wanted
 *   need: the names this tab has no value of yet, which need a stream opened without a
 *   cursor; cursor: the last one relayed to this tab, where a new leader must resume
 * @typedef {{ t: "want", from: string } & Wanted} Want
 * @typedef {{ t: "ping", from: string } | { t: "bye", from: string, term: number }} Other
 * @typedef {Frame | State | Want | Other} Message
 * @typedef {{
 *   post(message: Message): void,
 *   deliver(frame: Frame): void,
 *   localWant(): Wanted,
 *   coverage(): void,
 *   showStale(): void,
 *   followState(state: State): void,
 *   announce(): void,
 *   watch(): void,
 *   lastHeard(): number,
 * }} Tab what a role (leader.js, follower.js) may do to its tab; see TabGroup
 */

/**
 * This tab's part in sharing one server and token: a follower that asks the
 * leader for its names and feeds relayed frames to its sources, or the leader,
 * which also holds the EventSource. Roles change only through the lock; each
 * role is an object of its own whose end releases its timers and listeners.
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
  /** The leader's stream, as it says it is (our own while leading). @type {StreamStatus} */
  streamStatus = "closed";
  /** @type {string[]} */
  streamNames = [];

  /** Our role: exactly one of them while the tab lives and is not frozen. @type {Leader | null} */
  #leader = null;
  /** @type {Follower | null} */
  #follower = null;
  #election;
  #disposed = false;
  #frozen = false;
  #lastHeard = 0;
  /** @type {Tab} */
  #tab;
  #channel;
  /** @type {() => number} */
  #now;
  #options;
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
    this.#tab = {
      post: (message) => this.#post(message),
      deliver: (frame) => this.#deliver(frame),
      localWant: () => this.#localWant(),
      coverage: () => this.#coverage(),
      showStale: () => this.#showStale(),
      followState: (state) => this.#followState(state),
      announce: () => this.#announce(),
      watch: () => this.#follower?.watch(),
      lastHeard: () => this.#lastHeard,
    };
    this.#election = new Election(this.name, this.tabId, options.locks, {
      canLead: () => !this.#disposed && !this.#frozen,
      lead: () => this.#lead(),
      stepDown: () => this.#stepDown(),
      disposed: () => this.#disposed,
    });
    this.#follower = new Follower(this, this.#tab, this.#election, this.#options);
    this.#channel = new options.BroadcastChannel(this.name);
    this.#election.holdTabLock();
    this.#channel.onmessage = (event) => this.#receive(event.data);
    this.#election.wait();
    this.#post({ t: "ping", from: this.tabId }); // a leader, if there is one, answers
  }

  get leading() {
    return this.#leader !== null;
  }

  /** What each tab wants, as our leader role knows it: none while we follow. @returns {ReadonlyMap<string, Wanted>} */
  get wants() {
    return this.#leader?.wants ?? new Map();
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

  /**
   * Tell the leader (maybe ourselves) what this tab wants. A frozen tab left the
   * union (freeze()) and stays out until it resumes, whatever it hears meanwhile.
   * (Once the tab is gone, `#post` says nothing and it has no role: nothing to do.)
   */
  #announce() {
    if (this.#frozen) return;
    const want = this.#localWant();
    if (this.#leader) this.#leader.setWant(this.tabId, want);
    else this.#post({ t: "want", from: this.tabId, ...want });
    this.#follower?.watch();
  }

  /** @returns {Wanted} */
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
  #showStale() {
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
    // A tab that went away says nothing more, whatever asks it to (a widget that
    // leaves afterwards, a second dispose()): its channel is closed.
    if (this.#disposed) return;
    try {
      this.#channel.postMessage(message);
    } catch (error) {
      this.#log.error("[nb_sse_signals] cannot post to the other tabs:", error);
    }
  }

  /**
   * Where every message from the other tabs arrives.
   *
   * @param {unknown} data
   */
  #receive(data) {
    // Any script of this origin may post on the channel: check before reading.
    // (Nothing arrives once the tab is disposed: its channel is closed.)
    const why = whyNot(data, this.#now());
    if (why) {
      this.#log.warn(`[nb_sse_signals] dropped a message on the tabs' channel: ${why}`);
      return;
    }
    const message = /** @type {Message} */ (data);
    const leader = this.#leader;
    switch (message.t) {
      case "want":
        leader?.setWant(message.from, { names: message.names, need: message.need, cursor: message.cursor });
        return;
      case "ping":
        leader?.postState();
        return;
      case "state":
        if (this.#fromLeader(message)) this.#followState(message);
        return;
      case "frame":
        if (leader) leader.previousFrame(message);
        else if (this.#fromLeader(message)) {
          this.#heard();
          this.#deliver(message);
        }
        return;
      case "bye":
        if (!leader && message.from === this.leaderId) {
          this.streamStatus = "closed";
          this.#showStale();
          this.#follower?.watch();
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
    this.#showStale();
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
    else if (state.status === "retrying") this.#showStale();
    else if (state.status === "failed") {
      // The hub rejected the stream: each tab's pool finds out why for its own
      // names (and leaves unknown ones out), as it does with a stream of its own.
      const unknown = new Set(state.unknown);
      for (const source of [...this.sources]) {
        if (unknown.size === 0 || source.names.some((name) => unknown.has(name))) source.fail(true);
      }
    } else if (state.status === "closed" && was === "live") this.#showStale();
  }

  #heard() {
    this.#lastHeard = this.#now();
    this.#follower?.heard();
  }

  // -- the roles -------------------------------------------------------------------

  /** The lock came to us. */
  #lead() {
    const previous = { term: this.term, from: this.leaderId };
    this.term = Math.max(this.term + 1, this.#now());
    this.leaderId = this.tabId;
    this.#leaveRole(); // the follower's, or a leader's of ours whose grant a take-over's steal crossed
    this.streamStatus = "connecting";
    this.streamNames = [];
    this.#showStale();
    this.#leader = new Leader(this, this.#tab, this.#election, this.#options, previous);
    this.#leader.start();
  }

  /** The lock left us (released, or stolen by a tab that found us unresponsive). */
  #stepDown() {
    this.#leaveRole();
    this.streamStatus = "closed";
    this.#showStale();
    this.#follow();
    this.#follower?.watch();
  }

  /**
   * Become a follower, unless the tab is gone or frozen (it then has no role). Both
   * callers come from no role: `#stepDown` ended the leader's, a freeze ended any.
   */
  #follow() {
    if (this.#disposed || this.#frozen) return;
    this.#follower = new Follower(this, this.#tab, this.#election, this.#options);
  }

  /**
   * Tell the other tabs we leave: a leader's followers show stale at once (not
   * once a new leader speaks); a follower's names leave the union.
   */
  #goodbye() {
    if (this.leading) this.#post({ t: "bye", from: this.tabId, term: this.term });
    else this.#post({ t: "want", from: this.tabId, names: [], need: [], cursor: "" });
  }

  /** Whichever role we have ends: its timers, listeners and stream with it. */
  #leaveRole() {
    this.#leader?.close();
    this.#follower?.close();
    this.#leader = this.#follower = null;
  }

  /**
   * The tab goes away. Once is enough, but twice does no harm: the second posts
   * nothing (`#post`), and the rest ends what has ended already.
   */
  dispose() {
    this.#goodbye();
    this.#disposed = true;
    this.#election.leave();
    this.#leaveRole();
    this.#election.releaseTabLock();
    this.#channel.close();
  }

  /**
   * The browser is about to freeze this tab, or keep it in its back-forward
   * cache: hand on the stream, leave the union, and do not queue while frozen.
   */
  freeze() {
    if (this.#disposed || this.#frozen) return;
    this.#goodbye();
    this.#frozen = true;
    this.#election.leave();
    this.#election.releaseTabLock();
    this.#leaveRole(); // a leader's stream ends now, not once the lock has gone
  }

  /** Back from a freeze: what we show missed changes, so ask for snapshots again. */
  resume() {
    if (this.#disposed || !this.#frozen) return;
    this.#frozen = false;
    this.#election.holdTabLock();
    this.have.clear();
    this.#showStale();
    this.#follow();
    this.#election.wait();
    this.#post({ t: "ping", from: this.tabId });
    this.#announce();
  }
}
