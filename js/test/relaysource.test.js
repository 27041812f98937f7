// What a tab's ConnectionPool sees as its EventSource when tabs share one stream
// (relaysource.js): it must behave as a browser's EventSource does, since the pool
// cannot tell the two apart. Each source here belongs to a real TabGroup (on the
// fake locks and channels of fakes.js, which Node has not got); the calls a test
// makes (open, fail, deliver) are the ones the group makes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { TabPool } from "../src/tabs.js";
import { drain, fakeBrowser, fakeClock, fakeEventSources, fakeFetch, quietLog, snapshot } from "./fakes.js";

/** @typedef {import("../src/relaysource.js").RelaySource} RelaySource */

const BASE = "http://host/";

/** A relayed source for `names`, in a tab's real group, with what it reported. */
async function relayed(names = ["a"]) {
  const clock = fakeClock();
  const view = fakeBrowser().tab();
  const { fetch } = fakeFetch((url) => ({ status: 200, body: new URL(url).searchParams.getAll("signal").map((n) => snapshot(n, 0, null)) }));
  const pool = new TabPool({
    locks: view.locks,
    BroadcastChannel: view.BroadcastChannel,
    EventSource: fakeEventSources().EventSource,
    fetch,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    now: () => clock.now,
    log: quietLog(),
  });
  pool.join(BASE, "z", () => {}); // makes the group
  await drain();
  const group = pool.groups[0];
  const url = `${BASE}nb-sse-signals/events?${names.map((n) => `signal=${n}`).join("&")}`;
  const source = /** @type {RelaySource} */ (/** @type {unknown} */ (new group.EventSource(url)));
  /** @type {string[]} */
  const heard = [];
  source.onopen = () => void heard.push("open");
  source.onerror = () => void heard.push(`error ${source.readyState}`);
  source.onmessage = (/** @type {{ data: string }} */ event) => void heard.push(`message ${event.data}`);
  return { group, source, heard };
}

/**
 * @param {import("../src/streamwiring.js").FrameType} type
 * @param {string} data
 * @returns {import("../src/tabgroup.js").Frame}
 */
const frame = (type, data) => ({ t: "frame", term: 1, from: "x", type, data, id: "e-1" });

test("a relayed source opens once, and never after it was closed", async () => {
  const { source, heard } = await relayed();
  assert.equal(source.readyState, 0);
  source.open();
  source.open();
  assert.deepEqual(heard, ["open"]);
  assert.equal(source.readyState, 1);
  const late = (await relayed()).source;
  const lateHeard = /** @type {string[]} */ ([]);
  late.onopen = () => void lateHeard.push("open");
  late.close();
  late.open();
  assert.deepEqual(lateHeard, []);
  assert.equal(late.readyState, 2);
});

test("a relayed source reports an error once it was open, or when it gives up; then it is closed and asks for nothing", async () => {
  const { group, source, heard } = await relayed();
  source.fail(false); // still connecting: a browser's EventSource keeps trying quietly
  assert.deepEqual(heard, []);
  assert.equal(source.readyState, 0);
  source.open();
  source.fail(false); // the shared stream retries
  assert.deepEqual(heard, ["open", "error 0"]);
  source.fail(true);
  assert.deepEqual(heard, ["open", "error 0", "error 2"]);
  assert.ok(!group.sources.has(source), "a source that gave up no longer counts in its tab's want");
  source.fail(true);
  source.deliver(frame("message", "late"));
  assert.deepEqual(heard, ["open", "error 0", "error 2"], "a closed source hears nothing more");
});

test("a closed relayed source hears no frame and no error", async () => {
  const { group, source, heard } = await relayed();
  source.open();
  source.close();
  assert.ok(!group.sources.has(source));
  source.deliver(frame("message", "late"));
  source.fail(false);
  assert.deepEqual(heard, ["open"]);
});

test("every listener of an event hears it, and an event nobody listens for is dropped", async () => {
  const { source, heard } = await relayed();
  source.addEventListener("stale", (/** @type {{ data: string }} */ event) => void heard.push(`first ${event.data}`));
  source.addEventListener("stale", (/** @type {{ data: string }} */ event) => void heard.push(`second ${event.data}`));
  source.open();
  source.deliver(frame("stale", "s"));
  source.deliver(frame("refused", "r")); // no listener: dropped, no throw
  source.deliver(frame("message", "m"));
  assert.deepEqual(heard, ["open", "first s", "second s", "message m"]);
});

test("a relayed source with no handlers set takes frames and errors without throwing", async () => {
  const { source } = await relayed();
  source.onopen = source.onmessage = source.onerror = null;
  source.open();
  source.deliver(frame("message", "m"));
  source.fail(false);
  source.fail(true);
  assert.equal(source.readyState, 2);
});
