// Stand-ins for what Node does not have or a test must drive by hand: Web
// Locks and BroadcastChannel shared between tabs (Node has neither across
// "tabs"), a clock we drive by hand, EventSource and the snapshot endpoint for
// tests that play the server message by message, and anywidget's model. The
// DOM is real (dom.js, linkedom); so is the SSE client against a real server
// (connection_real.test.js). Each call makes fresh state, so tests never reset anything.
import { TabPool, groupName } from "../src/tabs.js";

/** Let pending promise callbacks (a fake fetch, its .json()) run. */
export const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A clock whose timers run only when a test calls `tick`. */
export function fakeClock() {
  /** @type {Map<number, { at: number, callback: () => void }>} */
  const timers = new Map();
  let now = 0;
  let next = 1;
  return {
    /** @param {() => void} callback @param {number} ms */
    setTimeout(callback, ms) {
      timers.set(next, { at: now + ms, callback });
      return next++;
    },
    /** @param {any} id */
    clearTimeout(id) {
      timers.delete(id);
    },
    /** Advance by `ms`, running due timers in order. @param {number} ms */
    tick(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].callback();
      }
      now = end;
    },
    get pending() {
      return timers.size;
    },
    get now() {
      return now;
    },
  };
}

/** An EventSource class that records its instances; tests play the server. */
export function fakeEventSources() {
  /** @type {any[]} */
  const instances = [];
  class FakeEventSource {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSED = 2;
    /** @param {string} url */
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.lastEventId = "";
      /** @type {Record<string, ((event: any) => void)[]>} */
      this.listeners = {};
      /** @type {((event: any) => void) | null} */
      this.onopen = null;
      /** @type {((event: any) => void) | null} */
      this.onmessage = null;
      /** @type {((event: any) => void) | null} */
      this.onerror = null;
      instances.push(this);
    }
    get names() {
      return new URL(this.url, "http://host/").searchParams.getAll("signal");
    }
    /** @param {string} type @param {(event: any) => void} listener */
    addEventListener(type, listener) {
      (this.listeners[type] ??= []).push(listener);
    }
    close() {
      this.readyState = 2;
    }
    // What the server and the browser do:
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    /**
     * @param {unknown} data an object is sent as JSON
     * @param {string} [type]
     * @param {string} [id] the event's `id:` field; as in a browser, one without keeps the last
     */
    emit(data, type = "message", id) {
      if (id !== undefined) this.lastEventId = id;
      const event = { data: typeof data === "string" ? data : JSON.stringify(data), lastEventId: this.lastEventId };
      if (type === "message") this.onmessage?.(event);
      for (const listener of this.listeners[type] ?? []) listener(event);
    }
    /** @param {boolean} giveUp whether the browser stops retrying (HTTP error) */
    error(giveUp) {
      this.readyState = giveUp ? 2 : 0;
      this.onerror?.({});
    }
  }
  return { EventSource: /** @type {typeof EventSource} */ (/** @type {unknown} */ (FakeEventSource)), instances, live: () => instances.filter((s) => s.readyState !== 2) };
}

/**
 * A fetch whose answers the test gives: `answer(url)` returns
 * `{ status, body }` or a promise of it, or throws for a network error.
 *
 * @param {(url: string) => ({ status: number, body: unknown } | Promise<{ status: number, body: unknown }>)} answer
 */
export function fakeFetch(answer) {
  /** @type {{ url: string, init: any }[]} */
  const calls = [];
  /** @type {typeof globalThis.fetch} */
  const fetch = async (/** @type {any} */ input, /** @type {any} */ init) => {
    const url = String(input);
    calls.push({ url, init });
    const { status, body } = await answer(url);
    const text = typeof body === "string" ? body : JSON.stringify(body);
    return /** @type {Response} */ (/** @type {unknown} */ ({ status, ok: status >= 200 && status < 300, json: async () => JSON.parse(text), text: async () => text }));
  };
  return { fetch, calls };
}

/** A snapshot message. @param {string} name @param {number} rev @param {unknown} value */
export const snapshot = (name, rev, value) => ({ name, rev, patch: [{ op: "replace", path: "", value }] });

/** A logger that keeps what it is told. */
export function quietLog() {
  /** @type {string[]} */
  const lines = [];
  const keep = (/** @type {unknown[]} */ ...data) => void lines.push(data.map(String).join(" "));
  return { warn: keep, error: keep, lines };
}

/**
 * A Backbone-like model as anywidget hands it over: state, change events,
 * and the comm (`send` records; `receive` plays a custom message from the kernel).
 *
 * @param {Record<string, unknown>} state
 */
export function fakeModel(state) {
  /** @type {Map<string, Set<(...args: any[]) => void>>} */
  const handlers = new Map();
  /** @type {unknown[]} */
  const sent = [];
  let saves = 0;
  return {
    state,
    sent,
    get saves() {
      return saves;
    },
    /** @param {string} key */
    get: (key) => state[key],
    /** @param {string} key @param {unknown} value */
    set(key, value) {
      if (state[key] === value) return;
      state[key] = value;
      for (const handler of handlers.get(`change:${key}`) ?? []) handler();
    },
    /** @param {string} event @param {(...args: any[]) => void} handler */
    on: (event, handler) => void (handlers.get(event) ?? handlers.set(event, new Set()).get(event))?.add(handler),
    /** @param {string} event @param {(...args: any[]) => void} handler */
    off: (event, handler) => void handlers.get(event)?.delete(handler),
    /** @param {unknown} content */
    send: (content) => void sent.push(content),
    /** A custom message from the kernel. @param {unknown} content */
    receive(content) {
      for (const handler of handlers.get("msg:custom") ?? []) handler(content, []);
    },
    save_changes: () => void (saves += 1),
    handlers,
  };
}

/**
 * What the tabs of one browser profile share: a Web Locks manager and
 * BroadcastChannels, as the browser implements them (a lock is held until the
 * callback's promise settles, or its tab dies; `steal`, `ifAvailable` and an
 * abort signal behave as specified; a channel delivers, as a task, to every
 * other channel of the name). `tab()` gives one tab's view; `kill(tab)` is a
 * crash: its locks are released and its channels go quiet.
 */
export function fakeBrowser() {
  /** @typedef {{ tab: object, grant: () => void, reject: (error: unknown) => void, release?: () => void }} Request */
  /** @type {Map<string, { held: Request | null, queue: Request[] }>} */
  const locks = new Map();
  /** @type {Set<{ tab: object, name: string, onmessage: ((event: any) => void) | null, closed: boolean }>} */
  const channels = new Set();
  const dead = new WeakSet();
  /** Frozen tabs: they keep their locks, but nothing reaches them and nothing they post leaves. */
  const muted = new Set();
  /** Messages between two tabs held back (`hold`), as channel messages of different senders may overtake each other. @type {{ from: object, to: object, deliver: () => void }[]} */
  let held = [];
  /** @type {{ from: object, to: object }[]} */
  const holding = [];
  const lockOf = (/** @type {string} */ name) => {
    let lock = locks.get(name);
    if (!lock) locks.set(name, (lock = { held: null, queue: [] }));
    return lock;
  };
  const abortError = () => Object.assign(new Error("aborted"), { name: "AbortError" });
  const next = (/** @type {string} */ name) => {
    const lock = lockOf(name);
    if (lock.held || lock.queue.length === 0) return;
    const request = /** @type {Request} */ (lock.queue.shift());
    lock.held = request;
    request.grant();
  };
  return {
    /** One tab's `navigator.locks` and `BroadcastChannel`. */
    tab() {
      const tab = {};
      const manager = {
        async query() {
          return { held: [...locks].filter(([, lock]) => lock.held).map(([name]) => ({ name })) };
        },
        /**
         * @param {string} name
         * @param {{ signal?: AbortSignal, steal?: boolean, ifAvailable?: boolean }} options
         * @param {(lock: unknown) => unknown} callback
         */
        request(name, options, callback) {
          return new Promise((resolve, reject) => {
            if (dead.has(tab)) return;
            const lock = lockOf(name);
            /** @type {Request} */
            const request = {
              tab,
              reject,
              grant: () => {
                queueMicrotask(async () => {
                  let result;
                  let failed = false;
                  const done = () => {
                    if (lock.held !== request) return false;
                    lock.held = null;
                    next(name);
                    return true;
                  };
                  request.release = done;
                  try {
                    result = await callback({ name });
                  } catch (error) {
                    failed = true;
                    result = error;
                  }
                  if (!done()) return; // stolen or crashed: already settled
                  failed ? reject(result) : resolve(result);
                });
              },
            };
            if (options.ifAvailable && (lock.held || lock.queue.length > 0)) {
              Promise.resolve(callback(null)).then(resolve, reject);
              return;
            }
            if (options.steal) {
              const old = lock.held;
              if (old) {
                lock.held = null;
                old.reject(abortError());
              }
              lock.held = request;
              request.grant();
              return;
            }
            if (options.signal) {
              options.signal.addEventListener("abort", () => {
                const at = lock.queue.indexOf(request);
                if (at >= 0) {
                  lock.queue.splice(at, 1);
                  reject(abortError());
                }
              });
            }
            lock.queue.push(request);
            next(name);
          });
        },
      };
      class Channel {
        /** @param {string} name */
        constructor(name) {
          this.tab = tab;
          this.name = name;
          /** @type {((event: any) => void) | null} */
          this.onmessage = null;
          this.closed = false;
          channels.add(this);
        }
        /** @param {unknown} message */
        postMessage(message) {
          if (this.closed) throw Object.assign(new Error("closed"), { name: "InvalidStateError" });
          if (dead.has(tab) || muted.has(tab)) return;
          const data = structuredClone(message);
          for (const other of channels) {
            if (other === this || other.name !== this.name || other.closed) continue;
            const deliver = () => {
              if (!other.closed && !dead.has(other.tab) && !muted.has(other.tab)) other.onmessage?.({ data });
            };
            if (holding.some((h) => h.from === tab && h.to === other.tab)) held.push({ from: tab, to: other.tab, deliver });
            else setImmediate(deliver);
          }
        }
        close() {
          this.closed = true;
          channels.delete(this);
        }
      }
      return { tab, locks: manager, BroadcastChannel: /** @type {any} */ (Channel) };
    },
    /** @param {object} tab */
    kill(tab) {
      dead.add(tab);
      muted.delete(tab);
      for (const [name, lock] of locks) {
        lock.queue = lock.queue.filter((r) => r.tab !== tab);
        if (lock.held?.tab === tab) {
          lock.held = null;
          next(name);
        }
      }
    },
    /** A frozen tab: it keeps its locks and hears nothing. @param {object} tab */
    mute(tab) {
      muted.add(tab);
    },
    /** @param {object} tab */
    unmute(tab) {
      muted.delete(tab);
    },
    /**
     * Hold back what tab `from` posts to tab `to` until `release(from, to)`, which
     * delivers it in order: another sender's messages overtake it meanwhile.
     *
     * @param {object} from
     * @param {object} to
     */
    hold(from, to) {
      holding.push({ from, to });
    },
    /** @param {object} from @param {object} to */
    release(from, to) {
      holding.splice(0, holding.length, ...holding.filter((h) => h.from !== from || h.to !== to));
      const mine = held.filter((h) => h.from === from && h.to === to);
      held = held.filter((h) => !mine.includes(h));
      for (const { deliver } of mine) setImmediate(deliver);
    },
    /** Who holds lock `name`, if anyone. @param {string} name */
    holder(name) {
      return locks.get(name)?.held?.tab ?? null;
    },
  };
}

/** Let every queued channel message and lock grant run, and what they start. */
export async function drain(rounds = 30) {
  for (let i = 0; i < rounds; i++) await settle();
}

/**
 * Tabs of one browser, each a real TabPool: shared locks and channels
 * (fakeBrowser), one clock, and per tab its own EventSource class, so a test
 * sees which tab opened what. A crashed or frozen tab's timers do not run. The
 * snapshot endpoint knows the names in `known` (read at each request, so a test
 * may add some) and answers 404 for others.
 *
 * @param {{ base?: string, known?: Set<string> }} [options]
 */
export function fakeTabs({ base = "http://host/user/a/", known = new Set(["a", "b", "c"]) } = {}) {
  const clock = fakeClock();
  const shared = fakeBrowser();
  const { fetch, calls } = fakeFetch((url) => {
    const names = new URL(url).searchParams.getAll("signal");
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length) return { status: 404, body: { error: `unknown signals: ${unknown.join(", ")}` } };
    return { status: 200, body: names.map((n) => snapshot(n, 0, null)) };
  });
  /** @type {any[]} */
  const tabs = [];
  const open = () => {
    const view = shared.tab();
    const sources = fakeEventSources();
    const log = quietLog();
    const state = { alive: true, frozen: false, timersSet: 0 };
    /** @typedef {(name: string, options: { steal?: boolean, ifAvailable?: boolean }) => boolean} Which */
    /** @type {{ which: Which, meanwhile: (lock: unknown) => void }[]} */
    const grants = [];
    /** @type {{ which: Which, held: (() => void)[] }[]} */
    const holds = [];
    const { request } = view.locks;
    /** @type {typeof view.locks.request} */
    view.locks.request = (name, options, callback) => {
      const send = () =>
        request(name, options, (lock) => {
          if (lock) for (const grant of grants) if (grant.which(name, options)) grant.meanwhile(lock);
          // A crashed tab runs nothing more (the browser has freed its locks).
          return state.alive ? callback(lock) : new Promise(() => {});
        });
      const hold = holds.find((h) => h.which(name, options));
      if (!hold) return send();
      return new Promise((resolve, reject) => void hold.held.push(() => void send().then(resolve, reject)));
    };
    const pool = new TabPool({
      locks: view.locks,
      BroadcastChannel: view.BroadcastChannel,
      EventSource: sources.EventSource,
      fetch,
      setTimeout: (callback, ms) => {
        state.timersSet += 1;
        return clock.setTimeout(() => state.alive && !state.frozen && callback(), ms);
      },
      clearTimeout: clock.clearTimeout,
      now: () => clock.now,
      log,
    });
    const tab = {
      /** This tab, as the shared browser knows it (for `shared.hold`). */
      view: view.tab,
      /** Its Web Locks manager (a test may make one `query` miss a lock). */
      locks: view.locks,
      /**
       * When the lock manager grants this tab a lock `which(name, options)` picks, run
       * `meanwhile(lock)` just before the tab's own callback: what the page may do in
       * between (the lock manager is another process; its answer is a task of its own).
       *
       * @param {Which} which
       * @param {(lock: unknown) => void} meanwhile
       */
      onGrant(which, meanwhile) {
        grants.push({ which, meanwhile });
      },
      /**
       * Hold back this tab's lock requests that `which(name, options)` picks, as if slow
       * to reach the lock manager: returns the ones held so far, each a function that
       * sends it on.
       *
       * @param {Which} which
       */
      late(which) {
        /** @type {(() => void)[]} */
        const held = [];
        holds.push({ which, held });
        return held;
      },
      pool,
      sources,
      log,
      /** The tab's one open EventSource, if it holds the connection. */
      stream: () => {
        const live = sources.live();
        if (live.length > 1) throw new Error(`a tab holds at most one stream per server, this one ${live.length}`);
        return live[0] ?? null;
      },
      leading: () => pool.groups.some((g) => g.leading),
      /** How many timers the tab has set so far. */
      timersSet: () => state.timersSet,
      /** The tab's group of server `at` (the first one's by default). */
      group(at = base) {
        const group = pool.groups.find((g) => g.base === at);
        if (!group) throw new Error(`this tab follows nothing of ${at}`);
        return group;
      },
      /** @param {string} name @param {string} [at] the server */
      follow(name, at = base) {
        /** @type {any[]} */
        const events = [];
        const leave = pool.join(at, name, (event) => void events.push(event));
        return {
          leave,
          events,
          values: () => events.filter((e) => e.type === "value").map((e) => e.value),
          revs: () => events.filter((e) => e.type === "value").map((e) => e.rev),
          statuses: () => events.filter((e) => e.type === "status").map((e) => e.status),
          status: () => events.filter((e) => e.type === "status").at(-1)?.status,
        };
      },
      /** No pagehide, no goodbye: its locks go, its channels and timers go quiet. */
      crash() {
        state.alive = false;
        shared.kill(view.tab);
        for (const source of sources.live()) source.close(); // the browser ends its requests
      },
      /** Frozen without warning: it keeps its locks, hears nothing, runs no timer. */
      freeze() {
        state.frozen = true;
        shared.mute(view.tab);
      },
      thaw() {
        state.frozen = false;
        shared.unmute(view.tab);
      },
    };
    tabs.push(tab);
    return tab;
  };
  /** Let channel messages and lock grants run, then `ms` of timers, repeatedly. */
  const run = async (ms = 0) => {
    await drain();
    for (let t = 0; t < ms; t += 10) {
      clock.tick(Math.min(10, ms - t));
      await drain(3);
    }
    await drain();
  };
  /** Every open stream of every live tab. */
  const streams = () => tabs.flatMap((/** @type {any} */ tab) => tab.sources.live());
  /** A channel of the group of `at` in a tab of its own, as any script of the origin may open. */
  const channel = (at = base) => new (shared.tab().BroadcastChannel)(groupName(at, "", "http://host/"));
  /** Every message posted on the group's channel, heard by a tab of its own that only listens. */
  const overheard = (at = base) => {
    /** @type {any[]} */
    const messages = [];
    channel(at).onmessage = (/** @type {{ data: any }} */ event) => void messages.push(event.data);
    return messages;
  };
  return { open, run, clock, calls, streams, shared, channel, overheard };
}
