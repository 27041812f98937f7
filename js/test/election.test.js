// The lock and the election (election.js), driven through real TabPools in one
// fake browser (fakes.js: Node has no Web Locks or BroadcastChannel across tabs).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { tag } from "../src/election.js";
import { fakeTabs, snapshot } from "./fakes.js";

const BASE = "http://host/user/a/";
const OTHER = "http://host/user/b/";

describe("the election", () => {
  test("the tag of a token is cyrb53, as published: the same name in every tab of any build", () => {
    // The reference values of cyrb53 (github.com/bryc/code, jshash/experimental/cyrb53.js).
    const published = { a: 7929297801672961, b: 8684336938537663, revenge: 4051478007546757, revenue: 8309097637345594 };
    for (const [text, hash] of Object.entries(published)) assert.equal(tag(text), hash.toString(36), text);
    assert.equal(tag(""), "", "no token, no tag");
  });

  test("a tab that froze left the queue: a tab that queued while it was frozen is ahead of it", async () => {
    const { open, run } = fakeTabs({ base: BASE });
    const one = open();
    const two = open();
    one.follow("a");
    two.follow("a");
    await run(200);
    two.pool.freeze();
    await run(100);
    const three = open();
    three.follow("a");
    await run(100);
    two.pool.resume();
    await run(100);
    assert.ok(one.leading());
    one.pool.dispose();
    await run(100);
    assert.ok(three.leading(), "three queued before two came back");
    assert.ok(!two.leading());
  });

  test("a tab that freezes just as the lock comes to it declines it: the next in line leads, and it queues again once resumed", async () => {
    const { open, run } = fakeTabs({ base: BASE });
    const one = open();
    const two = open();
    // The grant and the freeze cross: the page is frozen before the grant's callback runs.
    let freezeOnGrant = false;
    two.onGrant(
      (/** @type {string} */ name) => freezeOnGrant && name === two.group().name,
      () => two.pool.freeze(),
    );
    one.follow("a");
    two.follow("a");
    await run(200);
    const three = open();
    three.follow("a");
    await run(200);
    freezeOnGrant = true;
    one.pool.dispose();
    await run(200);
    assert.ok(!two.leading(), "a frozen tab takes no lead");
    assert.ok(three.leading(), "the lock went on to the next tab");
    freezeOnGrant = false;
    two.pool.resume();
    three.pool.dispose();
    await run(200);
    assert.ok(two.leading(), "resumed, it queued again and is next");
  });

  test("a follower whose take-over waits on the lock manager, and that gets the lock meanwhile, does not steal it from itself", async () => {
    const { open, run } = fakeTabs({ base: BASE });
    const one = open();
    const two = open();
    one.follow("a");
    const a2 = two.follow("a");
    await run(200);
    one.stream().open();
    one.stream().emit(snapshot("a", 0, 0), "message", "e-1");
    await run();
    // The lock manager is another process: the take-over lock may be answered late.
    const late = two.late((/** @type {string} */ name) => name.endsWith(" take-over"));
    one.freeze();
    await run(2_000 + 2_000 + 100); // two pings, hears nothing, asks for the take-over lock
    assert.equal(late.length, 1, "two asked for the take-over lock");
    one.crash(); // the frozen tab is discarded: its lock comes to two, the next in line
    await run(200);
    assert.ok(two.leading());
    const { term } = two.group();
    const stream = two.stream();
    stream.open();
    late.shift()?.(); // the take-over lock, at last
    await run(200);
    assert.ok(two.leading());
    assert.equal(two.group().term, term, "the same term: it did not take the lock again");
    assert.equal(two.stream(), stream, "the same stream, not reopened");
    assert.doesNotMatch(two.log.lines.join("\n"), /taking over/);
    assert.equal(a2.status(), "live");
  });

  test("two servers' groups in one browser each replace their own frozen leader, at once", async () => {
    const { open, run } = fakeTabs({ base: BASE });
    const one = open();
    const two = open();
    for (const at of [BASE, OTHER]) {
      one.follow("a", at);
      two.follow("a", at);
    }
    await run(200);
    const streams = one.sources.live();
    assert.equal(streams.length, 2, "one leads both groups");
    for (const stream of streams) {
      stream.open();
      stream.emit(snapshot("a", 0, 0), "message", "e-1");
    }
    await run();
    one.freeze(); // both groups' followers in two hear nothing from the same moment
    await run(2_000 + 2_000 + 100);
    assert.ok(two.group(BASE).leading, "the first group is taken over");
    assert.ok(two.group(OTHER).leading, "and the other at the same time: their take-over locks are their own");
  });
});
