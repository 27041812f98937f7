// The leader's part in a tab group (tabgroup.js): it holds the group's only
// EventSource, subscribed to the union of the names every tab wants, and
// relays each frame to the other tabs. One `Leader` per term: stepping down
// aborts its controller, which ends its stream, its batch and its roll call.
import { oldestCursor } from "./protocol.js";
import { Debounce, after, findUnknown, openEventSource, timersOf } from "./streamwiring.js";

/**
 * @typedef {import("./tabgroup.js").TabGroup} TabGroup
 * @typedef {import("./tabgroup.js").TabOptions} TabOptions
 * @typedef {import("./tabgroup.js").Tab} Tab
 * @typedef {import("./tabgroup.js").Frame} Frame
 * @typedef {import("./tabgroup.js").State} State
 * @typedef {import("./tabgroup.js").StreamStatus} StreamStatus
 * @typedef {import("./tabgroup.js").Wanted} Wanted
 * @typedef {import("./streamwiring.js").FrameType} FrameType
 * @typedef {import("./election.js").Election} Election
 */

const ROLL_CALL_MS = 5_000;

export class Leader {
  /** What each tab (by id, this one too) wants. @type {Map<string, Wanted>} */
  wants = new Map();
  /** @type {EventSource | null} */
  stream = null;
  /** Names the hub answered 404 for; left out of the union until a tab asks again. @type {Set<string>} */
  unknown = new Set();
  /** Tabs whose liveness lock was missing at the last look, by id. @type {Set<string>} */
  #missing = new Set();
  /** The names of a stream opened without a cursor (their snapshots are coming). @type {Set<string>} */
  #fresh = new Set();
  /**
   * From winning the lock to opening the first stream: the tabs (by id) the lock
   * manager says exist, which the first stream waits for (null while asking), and
   * those that told us their want this term.
   */
  #takeover = true;
  /** @type {Set<string> | null} */
  #expected = null;
  /** @type {Set<string>} */
  #answered = new Set();
  #controller = new AbortController();
  #signal = this.#controller.signal;
  #burst;
  #group;
  #tab;
  #election;
  #previous;
  #options;
  #timers;

  /**
   * @param {TabGroup} group
   * @param {Tab} tab what the leader may do to its tab
   * @param {Election} election
   * @param {TabOptions} options
   * @param {{ term: number, from: string }} previous the leader before us
   */
  constructor(group, tab, election, options, previous) {
    this.#group = group;
    this.#tab = tab;
    this.#election = election;
    this.#options = options;
    this.#previous = previous;
    this.#timers = timersOf(options);
    // Waiting for a tab's want: the next want arms the batch again, the deadline ends the wait.
    this.#burst = new Debounce(this.#timers, options, () => this.#reconcile(), { hold: () => this.#awaiting(), signal: this.#signal });
    this.#signal.addEventListener("abort", () => this.#closeStream(), { once: true });
  }

  /** The lock came to this tab: learn what every tab wants, then open one stream for all. */
  start() {
    this.#awaitTabs();
    this.postState(); // followers answer with what they want
    this.#tab.announce();
    this.#rollCall();
  }

  /** Stepping down: the stream, the batch and the roll call end at once. */
  close() {
    this.#controller.abort();
  }

  /**
   * A frame on the channel while we lead. Frames the previous leader sent just
   * before it died may arrive after the lock came to us: they are the hub's, in
   * order, until our own stream opens (its replay could then be older than they are).
   *
   * @param {Frame} frame
   */
  previousFrame(frame) {
    const { term, from } = this.#previous;
    if (frame.term === term && frame.from === from && !this.stream) this.#tab.deliver(frame);
  }

  /**
   * @param {string} tab
   * @param {Wanted} want
   */
  setWant(tab, want) {
    const old = this.wants.get(tab);
    this.#answered.add(tab);
    const same = (old?.names ?? []).join("\n") === want.names.join("\n") && want.need.length === 0;
    if (want.names.length === 0) this.wants.delete(tab);
    else this.wants.set(tab, want);
    // Nothing new (a tab repeating itself, a new leader's own empty want): no
    // batch, whose deadline would otherwise cut the next real burst short.
    if (!this.#takeover) {
      if (same && this.stream) return; // (a failed stream is closed: no stream)
      if (same && want.names.length === 0) return;
    }
    for (const name of want.names) if (!old?.names.includes(name)) this.unknown.delete(name);
    this.#burst.schedule();
  }

  postState() {
    const { term, tabId, streamStatus, streamNames } = this.#group;
    /** @type {State} */
    const state = { t: "state", term, from: tabId, status: streamStatus, names: streamNames, unknown: [...this.unknown] };
    this.#tab.post(state);
  }

  // -- the first stream of a term ----------------------------------------------------

  /**
   * Which other tabs exist (their liveness locks): the first stream of a term waits
   * for each one's want (up to maxBatchMs), because each says how far it got. The
   * old leader's last frames may reach some tabs and not others (a channel orders
   * only one sender's messages), and resuming from the cursor of the tab that got
   * the fewest is what keeps every tab's revisions contiguous across the hand-over.
   */
  #awaitTabs() {
    this.#expected = null;
    // Not the old leader: it handed over because it is closing or freezing, or it was
    // stolen from because it did not answer. (Our own want is set in `start()`.)
    const previous = this.#previous.from;
    this.#election
      .tabs()
      .then((tabs) => new Set([...tabs].filter((tab) => tab !== previous)))
      .catch(() => new Set()) // the lock manager cannot say: wait for nobody
      .then((tabs) => {
        if (!this.#takeover) return; // (a leader that stepped down: its batch is cancelled)
        this.#expected = /** @type {Set<string>} */ (tabs);
        this.#burst.schedule(); // the batch, held so far, may end (start()'s own want began it)
      });
  }

  /** Whether the first stream of this term still waits for a tab's want. */
  #awaiting() {
    if (!this.#takeover) return false;
    if (this.#expected === null) return true;
    for (const tab of this.#expected) if (!this.#answered.has(tab)) return true;
    return false;
  }

  /**
   * Every 5 s: drop the wants of tabs whose liveness lock is gone (twice in a
   * row, so a tab whose lock is just being granted stays).
   */
  #rollCall() {
    // Armed once per roll call, from the last one; stepping down clears it (after()).
    after(this.#timers, this.#signal, ROLL_CALL_MS, async () => {
      let held;
      try {
        held = await this.#election.tabs();
      } catch {
        return this.#rollCall(); // the lock manager cannot say: drop nobody, ask again later
      }
      // (A leader that stepped down meanwhile changes only its own wants, which nobody reads.)
      let gone = false;
      for (const tab of [...this.wants.keys()]) {
        if (held.has(tab)) this.#missing.delete(tab); // (our own tab's lock is held too)
        else if (this.#missing.has(tab)) {
          this.#missing.delete(tab);
          this.wants.delete(tab);
          gone = true;
        } else this.#missing.add(tab);
      }
      if (gone) this.#burst.schedule();
      this.#rollCall();
    });
  }

  // -- the stream --------------------------------------------------------------------

  #reconcile() {
    const group = this.#group;
    // Our own want as of now: frames of the previous leader may have come since.
    const own = this.#tab.localWant();
    if (own.names.length > 0) this.wants.set(group.tabId, own);
    else this.wants.delete(group.tabId);
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
      group.streamStatus = "closed";
      group.streamNames = [];
      this.postState();
      return;
    }
    const same = names.join("\n") === group.streamNames.join("\n");
    if (this.stream && same && !needed) {
      this.postState();
      return;
    }
    // A tab without a value of some name needs its snapshot: open without a
    // cursor (every tab then gets snapshots, which a tab that has that
    // revision ignores). Else resume from the cursor: a new leader, a
    // leave, or a retry replays exactly what was missed.
    let cursor = group.cursor;
    if (this.#takeover) {
      // The first stream of a term: from where the tab that got least of the old
      // leader's stream stopped (of the tabs that want something).
      const cursors = [...this.wants.values()].map((want) => want.cursor); // (a want of nothing is deleted)
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
    const group = this.#group;
    // Past the hub's limits of one request, split across streams (splitsource.js).
    const query = { token: group.token, lastEventId: cursor || undefined };
    this.stream = openEventSource(this.#options, group.base, names, query, {
      isCurrent: (stream) => stream === this.stream,
      open: () => this.#setStreamStatus("live"),
      event: (type, event) => this.#relay(type, event),
      error: (gaveUp) => {
        if (gaveUp) void this.#failed(names);
        else this.#setStreamStatus("retrying"); // the browser retries, with Last-Event-ID
      },
    });
    group.streamNames = names;
    group.streamStatus = "connecting";
    this.postState();
  }

  /**
   * @param {FrameType} type
   * @param {MessageEvent} event
   */
  #relay(type, event) {
    const group = this.#group;
    // The first event with a cursor ends the batch of snapshots: a tab that
    // needs one from now on needs a reopen.
    if (event.lastEventId) this.#fresh.clear();
    if (group.streamStatus !== "live") this.#setStreamStatus("live");
    /** @type {Frame} */
    const frame = { t: "frame", term: group.term, from: group.tabId, type, data: String(event.data), id: event.lastEventId };
    this.#tab.post(frame);
    this.#tab.deliver(frame);
  }

  #closeStream() {
    this.stream?.close();
    this.stream = null;
    this.#fresh = new Set();
  }

  /** @param {StreamStatus} status */
  #setStreamStatus(status) {
    this.#group.streamStatus = status;
    this.postState();
    if (status === "live") this.#tab.coverage();
    else if (status === "retrying") this.#tab.showStale();
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
    const group = this.#group;
    this.#closeStream();
    group.streamStatus = "failed";
    const { unknown } = await findUnknown(this.#options, group.base, group.token, names, false); // the status only (a HEAD)
    if (this.#signal.aborted) return;
    for (const name of unknown) this.unknown.add(name);
    /** @type {State} */
    const state = { t: "state", term: group.term, from: group.tabId, status: "failed", names, unknown };
    this.#tab.post(state);
    // Every tab's source that asked for an unknown name fails, which withdraws its
    // want: the batch that follows reopens for the others (tabs whose names are all
    // known come back with their wants when their pools retry).
    this.#tab.followState(state);
  }
}
