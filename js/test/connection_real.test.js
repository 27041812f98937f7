// connection.js's main paths with real parts only: the `eventsource` npm
// package (a WHATWG EventSource on Node's fetch) and Node's fetch, against the
// real hub (`python -m nb_sse_signals._cli serve`, the standalone server) on a
// free port of 127.0.0.1, started here and stopped by its own pid. The timing
// corner cases (batch windows, backoff) stay in connection.test.js, where a
// hand-driven clock and EventSource play the server message by message.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { EventSource } from "eventsource";
import { ConnectionPool } from "../src/connection.js";
import { quietLog } from "./fakes.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PYTHON = process.env.NB_SSE_SIGNALS_PYTHON ?? resolve(ROOT, ".venv/bin/python");
const TOKEN = "js-real-token";
const CI = ["1", "true", "yes"].includes((process.env.CI ?? "").toLowerCase());
// Without the project's Python (scripts/setup.sh makes .venv) there is no hub to
// run: a developer is told; in CI it is a failure, as for Chromium and Redis.
const missing = existsSync(PYTHON) ? false : `missing from this machine: ${PYTHON} (bash scripts/setup.sh)`;
if (missing && CI) throw new Error(missing);

/** @type {Set<import("node:child_process").ChildProcess>} */
const running = new Set();
/** Every stream a test opened: a failed test must not leave one reconnecting for ever. @type {Set<EventSource>} */
const streams = new Set();
const stopAll = () => {
  for (const source of streams) source.close();
  for (const child of running) child.kill("SIGTERM");
};
after(stopAll);
process.once("exit", stopAll); // also when the runner ends this file early

/**
 * The standalone hub on 127.0.0.1 (`port` 0: a free one); resolves once it says where.
 *
 * @param {number} [port]
 */
async function startHub(port = 0) {
  const child = spawn(PYTHON, ["-m", "nb_sse_signals._cli", "serve", "--host", "127.0.0.1", "--port", String(port), "--token", TOKEN], {
    stdio: ["ignore", "pipe", "pipe"],
    cwd: ROOT,
  });
  running.add(child);
  let out = "";
  let err = "";
  child.stderr?.on("data", (chunk) => (err += chunk));
  const said = await new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`the hub did not start in 20 s:\n${out}\n${err}`)), 20_000);
    child.stdout?.on("data", (chunk) => {
      out += chunk;
      const url = /serving at (\S+)/.exec(out)?.[1];
      const secret = /publish secret:\s+(\S+)/.exec(out)?.[1];
      if (url && secret) {
        clearTimeout(timer);
        done({ url, secret });
      }
    });
    child.on("exit", (code) => fail(new Error(`the hub exited with ${code}:\n${out}\n${err}`)));
  });
  const { url, secret } = /** @type {{ url: string, secret: string }} */ (said);
  return {
    url,
    port: Number(new URL(url).port),
    /** Send publish messages (docs/protocol.md, "Publishing"); the replies. @param {object[]} messages */
    async publish(...messages) {
      const response = await fetch(`${url}nb-sse-signals/publish`, {
        method: "POST",
        headers: { "X-Signals-Publish-Secret": secret, "Content-Type": "application/json" },
        body: JSON.stringify(messages),
      });
      const replies = /** @type {any[]} */ (await response.json());
      for (const reply of replies) assert.ok(reply.ok, JSON.stringify(reply));
      return replies;
    },
    /** @param {string} name */
    async subscribers(name) {
      const [reply] = await this.publish({ op: "info", name });
      return reply.signals[0].subscribers;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      await exited;
      running.delete(child);
    },
  };
}

/** Poll `predicate` every 20 ms; fail saying `what` after `ms`. @param {() => unknown} predicate @param {string} what */
async function until(predicate, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

/** A pool on the real client, counting the streams it opens. */
function realPool() {
  /** @type {EventSource[]} */
  const opened = [];
  class CountingEventSource extends EventSource {
    /** @param {string | URL} url @param {EventSourceInit} [init] */
    constructor(url, init) {
      super(url, init);
      opened.push(this);
      streams.add(this);
    }
  }
  const log = quietLog();
  const pool = new ConnectionPool({ EventSource: /** @type {typeof globalThis.EventSource} */ (/** @type {unknown} */ (CountingEventSource)), fetch, log });
  return { pool, opened, log, live: () => opened.filter((s) => s.readyState !== EventSource.CLOSED) };
}

function listener() {
  /** @type {import("../src/connection.js").SignalEvent[]} */
  const events = [];
  /** @param {import("../src/connection.js").SignalEvent} event */
  const listen = (event) => void events.push(event);
  return Object.assign(listen, {
    events,
    value: () => /** @type {any} */ (events.filter((e) => e.type === "value").at(-1))?.value,
    status: () => /** @type {any} */ (events.filter((e) => e.type === "status").at(-1))?.status,
    statuses: () => events.filter((e) => e.type === "status").map((e) => /** @type {any} */ (e).status),
  });
}

describe("ConnectionPool with the real EventSource against the real hub", { skip: missing || undefined, timeout: 90_000 }, () => {
  test("two widgets' signals come over one stream: snapshots, then every change", async () => {
    const hub = await startHub();
    try {
      await hub.publish({ op: "declare", name: "a", value: 1 }, { op: "declare", name: "b", value: { xs: [1] } });
      const { pool, opened, live } = realPool();
      const a = listener();
      const b = listener();
      const leaveA = pool.join(hub.url, "a", a, { token: TOKEN });
      const leaveB = pool.join(hub.url, "b", b, { token: TOKEN });
      await until(() => a.status() === "live" && b.status() === "live", "both signals live");
      assert.equal(a.value(), 1);
      assert.deepEqual(b.value(), { xs: [1] });
      await hub.publish({ op: "set", name: "a", value: 2 }, { op: "patch", name: "b", patch: [{ op: "add", path: "/xs/-", value: 2 }] });
      await until(() => a.value() === 2 && b.value()?.xs.length === 2, "both changes");
      assert.deepEqual(b.value(), { xs: [1, 2] });
      assert.equal(live().length, 1, "one stream carries both signals");
      assert.deepEqual([...new URL(String(live()[0].url)).searchParams.getAll("signal")].sort(), ["a", "b"]);
      assert.equal(await hub.subscribers("a"), 1);
      leaveA();
      leaveB();
      await until(() => live().length === 0, "the stream to close when the last widget leaves");
      let count = -1;
      for (let i = 0; i < 100 && count !== 0; i += 1) {
        count = await hub.subscribers("a");
        if (count) await new Promise((done) => setTimeout(done, 50));
      }
      assert.equal(count, 0, "the hub saw the stream end");
      assert.ok(opened.length >= 1);
    } finally {
      await hub.stop();
    }
  });

  test("a hub that goes away shows stale while the client retries, then the new hub's value, live", async () => {
    let hub = await startHub();
    const port = hub.port;
    try {
      await hub.publish({ op: "declare", name: "a", value: "first hub" });
      const { pool } = realPool();
      const a = listener();
      const leave = pool.join(hub.url, "a", a, { token: TOKEN });
      await until(() => a.status() === "live", "live");
      await hub.stop();
      await until(() => a.status() === "stale", "stale once the stream broke");
      assert.equal(a.value(), "first hub", "the last value stays while stale");
      hub = await startHub(port); // a new hub: a new epoch, so a snapshot and no replay
      await hub.publish({ op: "declare", name: "a", value: "second hub" });
      await until(() => a.value() === "second hub" && a.status() === "live", "the new hub's value", 30_000);
      leave();
    } finally {
      await hub.stop();
    }
  });

  test("a wrong token is refused: the widget shows an error, and the hub never counts it", async () => {
    const hub = await startHub();
    try {
      await hub.publish({ op: "declare", name: "a", value: 1 });
      const { pool, log } = realPool();
      const a = listener();
      const leave = pool.join(hub.url, "a", a, { token: "wrong" });
      await until(() => a.status() === "error", "an error status");
      assert.equal(a.value(), undefined, "no value from a refused stream");
      assert.equal(await hub.subscribers("a"), 0);
      assert.match(log.lines.join("\n"), /\[nb_sse_signals\]/);
      leave();
    } finally {
      await hub.stop();
    }
  });
});
