// A subscription past one request's limits, split across streams (splitsource.js),
// in a page's ConnectionPool and in the tab holding the shared stream; and the
// failure probe, which asks for a status only.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConnectionPool } from "../src/connection.js";
import { TabPool } from "../src/tabs.js";
import { MAX_NAMES, MAX_URL, chunkNames, openEvents, probe } from "../src/splitsource.js";
import { drain, fakeClock, fakeEventSources, fakeFetch, fakeTabs, quietLog, snapshot } from "./fakes.js";

const BASE = "http://host/user/a/";
const many = (/** @type {number} */ n, prefix = "s") => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, "0")}`);

function page() {
  const clock = fakeClock();
  const sources = fakeEventSources();
  const log = quietLog();
  const { fetch, calls } = fakeFetch((url) => ({ status: 200, body: new URL(url).searchParams.getAll("signal").map((n) => snapshot(n, 0, null)) }));
  const pool = new ConnectionPool({ EventSource: sources.EventSource, fetch, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, log });
  return { clock, sources, log, pool, calls };
}

/** @param {ConnectionPool | TabPool} pool @param {string[]} names */
function follow(pool, names) {
  /** @type {Map<string, any[]>} */
  const seen = new Map();
  for (const name of names) {
    const events = /** @type {any[]} */ ([]);
    seen.set(name, events);
    pool.join(BASE, name, (event) => void events.push(event));
  }
  const status = (/** @type {string} */ name) => seen.get(name)?.filter((e) => e.type === "status").at(-1)?.status;
  const value = (/** @type {string} */ name) => seen.get(name)?.filter((e) => e.type === "value").at(-1)?.value;
  return { status, value };
}

describe("chunkNames", () => {
  test("cuts by the number of names and by the URL's length, in order", () => {
    const names = many(2_500);
    const chunks = chunkNames(BASE, names, { token: "t" });
    assert.deepEqual(chunks.map((c) => c.length), [1_000, 1_000, 500]);
    assert.deepEqual(chunks.flat(), names);
    const long = Array.from({ length: 400 }, (_, i) => `${"x".repeat(190)}${String(i).padStart(4, "0")}`);
    const byUrl = chunkNames(BASE, long);
    assert.ok(byUrl.length >= 3, `${byUrl.length} chunks`);
    for (const chunk of byUrl) {
      const url = `${BASE}nb-sse-signals/events?` + chunk.map((n) => `signal=${n}`).join("&");
      assert.ok(url.length <= MAX_URL, `${url.length} > ${MAX_URL}`);
    }
    assert.deepEqual(chunkNames(BASE, ["a", "b"]), [["a", "b"]], "under the limits: one stream");
  });
});

describe("a subscription past the hub's limits", () => {
  test("a page's pool opens one stream per limit's worth and reads them as one", () => {
    const { clock, sources, pool } = page();
    const names = many(2_500);
    const { status, value } = follow(pool, names);
    clock.tick(1_000);
    const streams = sources.live();
    assert.equal(streams.length, 3, "three streams for 2,500 names");
    for (const stream of streams) assert.ok(stream.names.length <= MAX_NAMES);
    assert.deepEqual(streams.flatMap((s) => s.names).sort(), names);
    streams[0].open();
    streams[1].open();
    assert.equal(status("s00000"), "connecting", "live once every part is open");
    streams[2].open();
    streams[2].emit(snapshot("s02400", 3, { v: 1 }), "message", "e-9");
    assert.equal(status("s02400"), "live");
    assert.deepEqual(value("s02400"), { v: 1 });
  });

  test("one part given up gives up the whole, as one stream would; a retry splits again", async () => {
    const { clock, sources, pool, calls } = page();
    follow(pool, many(1_500));
    clock.tick(1_000);
    const [first, second] = sources.live();
    first.open();
    second.error(true);
    assert.equal(sources.live().length, 0, "the other part is closed too");
    await drain();
    assert.ok(calls.every((c) => c.init?.method === "HEAD"), "the probe asks for the status only");
    clock.tick(2_000);
    await drain();
    assert.equal(sources.live().length, 2);
  });

  test("the cursor a split stream reports is the oldest of its parts' last ones", () => {
    const { EventSource, instances } = fakeEventSources();
    const split = /** @type {any} */ (openEvents(EventSource, BASE, many(1_500), { lastEventId: "ep-5" }));
    /** @type {string[]} */
    const reported = [];
    split.onmessage = (/** @type {any} */ event) => reported.push(event.lastEventId);
    const [first, second] = instances;
    assert.ok(first.url.includes("lastEventId=ep-5") && second.url.includes("lastEventId=ep-5"), "each part resumes");
    first.emit(snapshot("s00001", 0, 1), "message", "ep-10");
    second.emit(snapshot("s01001", 0, 1), "message", "ep-7");
    first.emit(snapshot("s00002", 0, 1), "message", "ep-12");
    second.emit(snapshot("s01002", 0, 1), "message", "ep-13");
    assert.deepEqual(reported, ["ep-5", "ep-7", "ep-7", "ep-12"], "a resume from any of them misses nothing");
    assert.equal(split.lastEventId, "ep-12");
  });

  test("in a browser of tabs, only the tab holding the connection opens the split streams", async () => {
    const names = many(2_200);
    const { open, run } = fakeTabs({ base: BASE, known: new Set(names) });
    const tabs = [open(), open()];
    const watched = tabs.map(({ pool }) => follow(pool, names));
    await run(1_500);
    const streams = tabs.map(({ sources }) => sources.live());
    const leader = streams.findIndex((s) => s.length > 0);
    assert.equal(streams[1 - leader].length, 0, "the other tab opens none");
    assert.equal(streams[leader].length, 3, "one stream per limit's worth, for the whole browser");
    for (const stream of streams[leader]) stream.open();
    streams[leader][2].emit(snapshot("s02100", 4, "hello"), "message", "e-5");
    for (let t = 0; t < 5; t++) await drain();
    for (const { value, status } of watched) {
      assert.equal(value("s02100"), "hello");
      assert.equal(status("s02100"), "live");
    }
  });
});

describe("probe", () => {
  test("asks with HEAD, and with GET only for the reason of a refusal", async () => {
    const { fetch, calls } = fakeFetch((url) => (url.includes("gone") ? { status: 404, body: { error: "unknown 'gone'" } } : { status: 200, body: [] }));
    assert.deepEqual(await probe(fetch, BASE, ["a", "b"], ""), { status: 200, reason: "200" });
    assert.deepEqual(calls.map((c) => c.init.method ?? "GET"), ["HEAD"]);
    calls.length = 0;
    const refused = await probe(fetch, BASE, ["a", "gone"], "");
    assert.equal(refused.status, 404);
    assert.match(refused.reason, /unknown 'gone'/);
    assert.deepEqual(calls.map((c) => c.init.method ?? "GET"), ["HEAD", "GET"]);
  });
});
