// A follower's part in a tab group (tabgroup.js), besides listening: noticing a
// leader that holds the lock but no longer runs (a frozen or hung tab), by
// asking whether it is there when it has been quiet, and taking over when it
// does not answer. Leaving the role aborts its controller, and with it the watchdog.
import { after, timersOf } from "./streamwiring.js";

/**
 * @typedef {import("./tabgroup.js").TabGroup} TabGroup
 * @typedef {import("./tabgroup.js").TabOptions} TabOptions
 * @typedef {import("./tabgroup.js").Tab} Tab
 * @typedef {import("./election.js").Election} Election
 */

export class Follower {
  #controller = new AbortController();
  #signal = this.#controller.signal;
  /** Clears the watchdog's timer (a no-op once it ran). */
  #watchdog = () => {};
  /** Whether we asked the leader if it is there, and wait for its answer. */
  #asked = false;
  #group;
  #tab;
  #election;
  #options;
  #timers;
  #log;

  /**
   * @param {TabGroup} group
   * @param {Tab} tab what the follower may do to its tab
   * @param {Election} election
   * @param {TabOptions} options
   */
  constructor(group, tab, election, options) {
    this.#group = group;
    this.#tab = tab;
    this.#election = election;
    this.#options = options;
    this.#timers = timersOf(options);
    this.#log = options.log ?? console;
  }

  /** Leaving the role (leading, freezing, going away): the watchdog ends. */
  close() {
    this.#controller.abort();
  }

  /** (Re)arm the watchdog while this tab follows something. */
  watch() {
    this.#watchdog();
    this.#asked = false;
    // A role that ended arms nothing either: `after` checks its signal.
    if (this.#group.sources.size === 0) return;
    this.#watchdog = this.#after(this.#options.quietMs ?? 2_000);
  }

  /**
   * The leader spoke: if we had asked, that is its answer, so watch afresh. Other
   * frames arm nothing (the watchdog looks at `lastHeard` when it fires).
   */
  heard() {
    if (this.#asked) this.watch();
  }

  /** @param {number} ms */
  #after(ms) {
    return after(this.#timers, this.#signal, ms, () => this.#silence());
  }

  #silence() {
    const quiet = this.#options.quietMs ?? 2_000;
    const since = (this.#options.now ?? Date.now)() - this.#tab.lastHeard();
    if (!this.#asked && since < quiet) {
      // Frames kept coming: no need to ask yet.
      this.#watchdog = this.#after(quiet - since);
      return;
    }
    if (!this.#asked) {
      this.#asked = true;
      this.#tab.post({ t: "ping", from: this.#group.tabId });
      this.#watchdog = this.#after(this.#options.answerMs ?? 2_000);
      return;
    }
    // No answer: the leader holds the lock but does not run (frozen, hung). Until
    // the take-over is settled nothing is watched; then `watch()` starts afresh.
    this.#group.streamStatus = "closed";
    this.#tab.showStale();
    void this.#election
      .takeOver(() => this.#log.warn(`[nb_sse_signals] the tab holding the connection to ${this.#group.base} does not answer; taking over`))
      .finally(() => this.#tab.watch()); // whichever role this tab has by then
  }
}
