// Following a signal over its widget's own comm, where the browser cannot reach
// any signals server (VS Code, Colab, JupyterLite, Voila behind a proxy): the
// kernel relays the SSE stream's events unchanged (nb_sse_signals/_comm.py,
// docs/protocol.md "Over a widget's comm"), and the same Signal applies them.
import { SignalsError } from "./errors.js";
import { REFUSED_EVENT, STALE_EVENT, checkRefused, isSnapshot, parseClosed, parseMessage, parseRefused, parseStale } from "./protocol.js";
import { Signal, valueEvent } from "./signal.js";

/**
 * @typedef {import("./connection.js").Listener} Listener
 * @typedef {import("./protocol.js").Status} Status
 * @typedef {import("./protocol.js").SignalMessage} SignalMessage
 * @typedef {import("./protocol.js").RefusedMessage} RefusedMessage
 * @typedef {{
 *   send(content: unknown): void,
 *   on(event: "msg:custom", callback: (content: any) => void): void,
 *   off(event: "msg:custom", callback: (content: any) => void): void,
 * }} CommModel the part of anywidget's model the comm transport uses
 * @typedef {{
 *   setTimeout?: (callback: () => void, ms: number) => unknown,
 *   clearTimeout?: (handle: any) => void,
 *   log?: { error(...data: unknown[]): void, warn(...data: unknown[]): void },
 *   snapshotTimeoutMs?: number,
 * }} CommOptions
 */

/** @type {Record<string, Status>} */
const STATUS_OF_STATE = { empty: "connecting", live: "live", resync: "stale", orphaned: "stale", refused: "error", closed: "closed" };

/**
 * Follow signal `name` over `model`'s comm. The listener gets every value and
 * status change, as from the shared SSE pool (connection.js).
 *
 * @param {CommModel} model
 * @param {string} name
 * @param {Listener} listener
 * @param {CommOptions} [options] timers and log default to the globals
 * @returns {() => void} leave; idempotent
 */
export function followComm(model, name, listener, options = {}) {
  const log = options.log ?? console;
  const setTimer = options.setTimeout ?? ((callback, ms) => globalThis.setTimeout(callback, ms));
  const clearTimer = options.clearTimeout ?? ((handle) => globalThis.clearTimeout(handle));
  const timeoutMs = options.snapshotTimeoutMs ?? 10_000;
  /** Snapshot requests waiting for the kernel's answer. @type {{ resolve: (m: SignalMessage | RefusedMessage) => void, reject: (e: Error) => void, timer: unknown }[]} */
  let waiting = [];
  /** @type {{ version?: number, rev: number, status?: Status }} */
  const sent = { rev: -1 };
  let left = false;

  const emit = (/** @type {import("./connection.js").SignalEvent} */ event) => {
    try {
      listener(event);
    } catch (error) {
      log.error("[nb_sse_signals] a listener failed:", error);
    }
  };

  const signal = new Signal(name, {
    snapshotUrl: "",
    // While a cell keeps the kernel busy the answer waits; the last good value stays.
    getSnapshot: () =>
      new Promise((resolve, reject) => {
        const timer = setTimer(() => {
          waiting = waiting.filter((w) => w.timer !== timer);
          reject(new SignalsError(`no snapshot from the kernel within ${timeoutMs} ms (is it busy?)`));
        }, timeoutMs);
        waiting.push({ resolve, reject, timer });
        model.send({ type: "snapshot" });
      }),
    onChange: (s) => {
      if (left) return;
      if (s.rev >= 0 && (s.rev !== sent.rev || s.version !== sent.version)) {
        sent.rev = s.rev;
        sent.version = s.version;
        emit(valueEvent(s, listener));
      }
      const status = STATUS_OF_STATE[s.state];
      if (status !== sent.status) {
        sent.status = status;
        emit({ type: "status", status });
      }
    },
    setTimeout: options.setTimeout,
    clearTimeout: options.clearTimeout,
    log,
  });

  /** @param {(w: (typeof waiting)[number]) => void} settle */
  const answerAll = (settle) => {
    const answered = waiting;
    waiting = [];
    for (const w of answered) {
      clearTimer(w.timer);
      settle(w);
    }
  };

  /** @param {any} content */
  const onMessage = (content) => {
    if (left || typeof content !== "object" || content === null) return;
    if (content.type === "events" && Array.isArray(content.events)) {
      for (const item of content.events) {
        const [event, data] = Array.isArray(item) ? item : [];
        try {
          if (event === "closed") {
            const closed = parseClosed(data);
            if (closed.name === name) signal.close(closed.rev);
          } else if (event === STALE_EVENT) {
            // With a name: its publisher is gone. `{}` (a hub that lost its backplane)
            // says the value may be behind until the next event: for this one signal.
            const stale = parseStale(data);
            if (!stale) signal.markOrphaned(signal.rev);
            else if (stale.name === name) signal.markOrphaned(stale.rev);
          } else if (event === REFUSED_EVENT) {
            const refused = parseRefused(data);
            if (refused.name === name) signal.refuse(refused);
          } else {
            const message = parseMessage(data);
            if (message.name === name) signal.receive(message);
          }
        } catch (error) {
          const reason = /** @type {Error} */ (error).message;
          log.error(`[nb_sse_signals] ignoring a bad message: ${reason}`);
          signal.resync(`a message could not be read (${reason})`);
        }
      }
    } else if (content.type === "snapshot") {
      try {
        const decoded = JSON.parse(content.data);
        if (typeof decoded === "object" && decoded !== null && "error" in decoded) {
          const refused = checkRefused(decoded);
          if (refused.name !== name) throw new SignalsError(`expected a snapshot of ${name}, got one of ${refused.name}`);
          answerAll((w) => w.resolve(refused));
          return;
        }
        const message = parseMessage(content.data);
        if (message.name !== name || !isSnapshot(message)) {
          throw new SignalsError(`expected a snapshot of ${name}, got one of ${message.name}`);
        }
        answerAll((w) => w.resolve(message));
      } catch (error) {
        answerAll((w) => w.reject(/** @type {Error} */ (error)));
      }
    } else if (content.type === "error") {
      log.error(`[nb_sse_signals] ${name}: ${content.error}`);
      answerAll((w) => w.reject(new SignalsError(String(content.error))));
    }
  };

  model.on("msg:custom", onMessage);
  emit({ type: "status", status: (sent.status = "connecting") });
  // A page that just set the widget up: ask for the snapshot (the kernel also repeats
  // it a few times, in case this waits behind a busy cell).
  model.send({ type: "hello" });

  return () => {
    if (left) return;
    left = true;
    model.off("msg:custom", onMessage);
    answerAll((w) => w.reject(new SignalsError("left")));
    signal.dispose();
  };
}
