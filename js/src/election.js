// The lock and the election of a tab group (tabgroup.js): which tab of the
// browser leads, through the Web Locks API. Whoever holds the group's lock
// leads; every other tab queues for it, so when the leader's tab closes (its
// locks are released with it) the next in line takes over. Each tab also holds
// a liveness lock of its own, which the leader counts to learn which tabs exist.
import { VERSION } from "./version.js";

/**
 * @typedef {{
 *   request(name: string, options: { signal?: AbortSignal, steal?: boolean, ifAvailable?: boolean },
 *           callback: (lock: unknown) => unknown): Promise<unknown>,
 *   query?(): Promise<{ held?: { name?: string }[] }>,
 * }} Locks the part of `navigator.locks` used here
 * @typedef {{
 *   canLead(): boolean,
 *   lead(): void,
 *   stepDown(): void,
 *   disposed(): boolean,
 * }} Candidate the tab: `canLead`, whether it may take the lock now (not gone, not
 *   frozen); `lead` once it holds it; `stepDown` once it lost or let go of it
 */

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

export class Election {
  #holding = /** @type {object | null} */ (null);
  #queued = /** @type {AbortController | null} */ (null);
  #release = () => {};
  #releaseTab = () => {};
  #locks;
  #candidate;

  /**
   * @param {string} name the group's lock
   * @param {string} tabId
   * @param {Locks} locks
   * @param {Candidate} candidate
   */
  constructor(name, tabId, locks, candidate) {
    this.name = name;
    this.tabId = tabId;
    this.#locks = locks;
    this.#candidate = candidate;
  }

  get leading() {
    return this.#holding !== null;
  }

  /**
   * Held while the tab lives and is not frozen: the leader asks the lock manager
   * which tabs still exist, so a tab that crashed (no pagehide) leaves the union,
   * and a new leader waits for the want of each one (a frozen tab would not answer).
   */
  holdTabLock() {
    this.#locks.request(this.tabLock(this.tabId), {}, () => new Promise((resolve) => (this.#releaseTab = () => resolve(undefined)))).catch(() => {});
  }

  releaseTabLock() {
    this.#releaseTab();
  }

  /** @param {string} tab */
  tabLock(tab) {
    return `${this.name} tab ${tab}`;
  }

  /**
   * The ids of the tabs that hold their liveness lock, this one included.
   *
   * @returns {Promise<Set<string>>} rejects if the lock manager cannot say (every
   *   browser with Web Locks has `locks.query`, but a stand-in might not)
   */
  async tabs() {
    const prefix = this.tabLock("");
    // The Web Locks API lists every lock held, each by its name (a snapshot without
    // them makes this reject, and the callers then do as without `locks.query`).
    const snapshot = await /** @type {NonNullable<Locks["query"]>} */ (this.#locks.query)();
    const { held } = /** @type {{ held: { name: string }[] }} */ (snapshot);
    const names = held.map((lock) => lock.name).filter((name) => name.startsWith(prefix));
    return new Set(names.map((name) => name.slice(prefix.length)));
  }

  /** Queue for the lock; granted when every tab before us released it. */
  wait() {
    if (this.#holding || this.#queued || !this.#candidate.canLead()) return;
    const controller = new AbortController();
    this.#queued = controller;
    void this.#acquire({ signal: controller.signal });
  }

  /** Leave the queue, and let go of the lock if we hold it (the tab goes away or freezes). */
  leave() {
    this.#queued?.abort();
    this.#release();
  }

  /**
   * The leader holds the lock but does not run (frozen, hung). One follower
   * (whoever gets the take-over lock) steals the lock; the old leader learns it
   * when its lock request fails, and its later frames carry an older term,
   * which every tab ignores.
   *
   * @param {() => void} stealing called just before we steal
   * @returns {Promise<void>} once stolen, or not
   */
  async takeOver(stealing) {
    await this.#locks
      .request(`${this.name} take-over`, { ifAvailable: true }, async (lock) => {
        if (!lock || this.leading || this.#candidate.disposed()) return;
        stealing();
        await this.#acquire({ steal: true });
      })
      .catch(() => {});
  }

  /**
   * @param {{ signal?: AbortSignal, steal?: boolean }} options
   * @returns {Promise<void>} once granted or declined
   */
  #acquire(options) {
    const held = {};
    return new Promise((granted) => {
      this.#locks
        .request(this.name, options, () => {
          granted();
          if (!this.#candidate.canLead()) return undefined;
          // Our place in the queue is done with: this request's own (aborting a granted
          // request does nothing), or the one a take-over jumped.
          this.#queued?.abort();
          this.#queued = null;
          this.#holding = held;
          this.#candidate.lead();
          return new Promise((resolve) => (this.#release = () => resolve(undefined)));
        })
        .catch(() => {}) // aborted while queued, or stolen
        .finally(() => {
          granted();
          // Whichever request ends, no other is queued: a take-over's grant aborted it,
          // and `wait()` queues none while one is queued or the lock is held.
          this.#queued = null;
          if (this.#holding === held) {
            this.#holding = null;
            this.#candidate.stepDown();
          }
          this.wait();
        });
    });
  }
}
