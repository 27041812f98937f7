// A tab's role (leader.js, follower.js) owns its timers: leaving the role ends
// them all at once. What a tab that changed roles must no longer do.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fakeTabs, snapshot } from "./fakes.js";

const BASE = "http://host/";

/** Tabs of one browser on one clock (fakes.js). */
const browser = () => fakeTabs({ base: BASE });

test("a follower that becomes the leader stops watching for a silent leader: it never pings", async () => {
  const { open, run, overheard } = browser();
  const one = open();
  const two = open();
  const heard = overheard();
  /** @type {any[]} */
  const events = [];
  one.pool.join(BASE, "a", () => {});
  two.pool.join(BASE, "a", (event) => void events.push(event));
  await run(200);
  one.stream().open();
  one.stream().emit(snapshot("a", 0, 1), "message", "e-1");
  await run(10);
  one.pool.dispose(); // `bye`: two arms its watchdog, then gets the lock
  await run(200);
  assert.ok(two.pool.groups[0].leading, "two leads");
  two.stream().open();
  two.stream().emit({ name: "a", rev: 1, patch: [{ op: "replace", path: "", value: 2 }] }, "message", "e-2");
  heard.length = 0;
  await run(10_000); // a quiet stream, far past quietMs + answerMs
  assert.deepEqual(
    heard.filter((message) => message.t === "ping"),
    [],
    "the watchdog of the follower it was ended when it began to lead",
  );
  assert.equal(events.filter((e) => e.type === "status").at(-1)?.status, "live");
});

test("a tab that goes away leaves no timer running: its leader's stream, batch and roll call end with it", async () => {
  const { open, run, clock } = browser();
  const one = open();
  const leave = one.pool.join(BASE, "a", () => {});
  await run(200);
  one.stream().open();
  one.stream().emit(snapshot("a", 0, 1), "message", "e-1");
  await run(6_000); // one roll call (every 5 s) has run and armed the next
  assert.ok(one.pool.groups[0].leading);
  leave();
  one.pool.dispose();
  await run(2_000); // the page pool's own batch, and the lock's release
  assert.equal(one.sources.live().length, 0, "the stream is closed");
  assert.equal(clock.pending, 0, "no timer of the tab is left");
});

test("a follower hearing frames never pings; quiet for quietMs it pings, and a leader that answers keeps leading", async () => {
  const { open, run, overheard } = browser();
  const one = open();
  const two = open();
  const heard = overheard();
  /** @type {any[]} */
  const events = [];
  one.pool.join(BASE, "a", () => {});
  two.pool.join(BASE, "a", (event) => void events.push(event));
  await run(200);
  one.stream().open();
  one.stream().emit(snapshot("a", 0, 0), "message", "e-0");
  await run(10);
  const pings = () => heard.filter((message) => message.t === "ping" && message.from === two.pool.groups[0].tabId);
  heard.length = 0;
  for (let rev = 1; rev <= 10; rev++) {
    one.stream().emit({ name: "a", rev, patch: [{ op: "replace", path: "", value: rev }] }, "message", `e-${rev}`);
    await run(500); // a frame every 0.5 s for 5 s: never quietMs (2 s) without one
  }
  assert.deepEqual(pings(), [], "no ping while frames come");
  await run(1_400); // 1.9 s since the last frame
  assert.deepEqual(pings(), [], "no ping before quietMs");
  await run(200);
  assert.equal(pings().length, 1, "one ping once quiet for quietMs");
  await run(6_000); // quiet, pinging, and answered each time
  assert.ok(one.pool.groups[0].leading, "no take-over while the leader answers");
  assert.ok(!two.pool.groups[0].leading);
  assert.equal(events.filter((e) => e.type === "status").at(-1)?.status, "live");
  assert.equal(events.filter((e) => e.type === "value").at(-1)?.value, 10);
});

test("a tab whose widgets all left asks its leader nothing: it never pings", async () => {
  const { open, run, overheard } = browser();
  const one = open();
  const two = open();
  const heard = overheard();
  one.pool.join(BASE, "a", () => {});
  const leave = two.pool.join(BASE, "a", () => {});
  await run(200);
  one.stream().open();
  one.stream().emit(snapshot("a", 0, 1), "message", "e-1");
  await run(10);
  leave();
  await run(100);
  const group = two.pool.groups.find((g) => g.base === BASE);
  assert.ok(group, "the tab is still in the group, with no widget");
  heard.length = 0;
  await run(6_000); // a quiet stream, past quietMs + answerMs
  assert.deepEqual(
    heard.filter((message) => message.t === "ping" && message.from === group.tabId),
    [],
  );
  assert.ok(one.pool.groups[0].leading, "nobody took over");
});
