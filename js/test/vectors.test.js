// The shared client-rule vectors (tests/vectors/client_rules.json), run against
// the browser's Signal; tests/test_signal_state.py runs the same file against
// the Python follower's SignalState, so the two clients recover the same way.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { Signal } from "../src/signal.js";
import { fakeClock, fakeFetch, quietLog, settle } from "./fakes.js";

/**
 * @typedef {{ value?: unknown, rev?: number, state?: string, fetching?: boolean }} Expect
 * @typedef {{
 *   message?: import("../src/protocol.js").SignalMessage, closed?: number, unreadable?: boolean,
 *   stale?: number, refused?: { rev: number, error: string },
 *   answer?: import("../src/protocol.js").SignalMessage | import("../src/protocol.js").RefusedMessage,
 *   answer_fails?: boolean, expect?: Expect,
 * }} Step
 * @typedef {{ name: string, steps: Step[], shown: number[] }} Case
 */

/** @type {{ cases: Case[] }} */
const vectors = JSON.parse(readFileSync(new URL("../../tests/vectors/client_rules.json", import.meta.url), "utf8"));

// Long enough for any resync backoff (at most 30 s) to fire.
const PAST_ANY_BACKOFF_MS = 60_000;

describe("client-rule vectors shared with the Python follower", () => {
  for (const { name, steps, shown } of vectors.cases) {
    test(name, async () => {
      const clock = fakeClock();
      /** @type {((answer: { status: number, body: unknown }) => void)[]} */
      const pending = [];
      const { fetch } = fakeFetch(() => new Promise((resolve) => pending.push(resolve)));
      /** @type {number[]} */
      const seen = [];
      let last = { value: /** @type {unknown} */ (undefined), rev: -1 };
      const signal = new Signal("s", {
        snapshotUrl: "/nb-sse-signals/snapshot?signal=s",
        onChange: (s) => {
          if (s.rev !== last.rev || s.value !== last.value) {
            seen.push(s.rev);
            last = { value: s.value, rev: s.rev };
          }
        },
        fetch,
        setTimeout: clock.setTimeout,
        clearTimeout: clock.clearTimeout,
        log: quietLog(),
      });
      for (const [index, step] of steps.entries()) {
        const where = `step ${index} ${JSON.stringify(step)}`;
        if (step.message) signal.receive(step.message);
        else if (step.closed !== undefined) signal.close(step.closed);
        else if (step.stale !== undefined) signal.markOrphaned(step.stale);
        else if (step.refused) signal.refuse({ name: "s", ...step.refused });
        else if (step.unreadable) signal.resync("a message could not be read");
        else if (step.answer || step.answer_fails) {
          clock.tick(PAST_ANY_BACKOFF_MS);
          await settle();
          // The latest request; older ones belong to resyncs that already ended.
          const resolve = pending.pop();
          pending.length = 0;
          assert.ok(resolve, `${where}: a snapshot request should be outstanding`);
          resolve(step.answer ? { status: 200, body: [step.answer] } : { status: 500, body: { error: "no" } });
          await settle();
          await settle();
        } else assert.fail(`${where}: unknown step`);
        const { expect } = step;
        if (!expect) continue;
        if ("value" in expect) {
          assert.deepEqual(signal.value ?? null, expect.value, `${where}: value`);
        }
        if (expect.rev !== undefined) assert.equal(signal.rev, expect.rev, `${where}: rev`);
        if (expect.state !== undefined) assert.equal(signal.state, expect.state, `${where}: state`);
        if (expect.fetching !== undefined) assert.equal(signal.fetching, expect.fetching, `${where}: fetching`);
      }
      assert.deepEqual(seen, shown, "the revisions shown, in order");
      signal.dispose();
    });
  }
});
