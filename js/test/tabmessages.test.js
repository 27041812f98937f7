// The tabs' channel validator (tabmessages.js), property-based (fast-check):
// everything a TabGroup sends passes, and a message with any field out of
// shape, type or bounds is refused with a reason.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { BOUNDS, whyNot } from "../src/tabmessages.js";

const NOW = 1_780_000_000_000;
const tabId = fc.stringMatching(/^[a-z0-9]{1,12}$/);
const term = fc.integer({ min: 0, max: NOW });
const key = fc.stringMatching(/^[A-Za-z0-9_.:/-]{1,40}$/);
const keys = fc.array(key, { maxLength: 20 });
const cursor = fc.oneof(fc.constant(""), fc.tuple(fc.stringMatching(/^[a-z0-9]{8}$/), fc.nat()).map(([e, s]) => `${e}-${s}`));
const frameType = fc.constantFrom("message", "closed", "stale", "refused");
const status = fc.constantFrom("connecting", "live", "retrying", "failed", "closed");

/** Every message a TabGroup posts (tabgroup.js, `Message`). */
const valid = fc.oneof(
  fc.record({ t: fc.constant("frame"), term, from: tabId, type: frameType, data: fc.string(), id: cursor }),
  fc.record({ t: fc.constant("state"), term, from: tabId, status, names: keys, unknown: keys }),
  fc.record({ t: fc.constant("want"), from: tabId, names: keys, need: keys, cursor }),
  fc.record({ t: fc.constant("ping"), from: tabId }),
  fc.record({ t: fc.constant("bye"), from: tabId, term }),
);

/** Values no field of any message may take. */
const hostile = fc.oneof(
  fc.constantFrom(Infinity, -Infinity, NaN, -1, 1.5, NOW + BOUNDS.termAheadMs + 1, Number.MAX_VALUE, 2 ** 53),
  fc.constantFrom(null, undefined, true, {}, [], [null], ["bad key"], ["a".repeat(201)], "x".repeat(100), "", "A B", "__proto__"),
  fc.constant(Array.from({ length: BOUNDS.names + 1 }, (_, i) => `k${i}`)),
  fc.object({ maxDepth: 1 }),
);
/** Fields each kind checks, and which hostile values fit a field anyway (a string is a fine `data`). */
const FIELDS = { frame: ["t", "term", "from", "type", "id"], state: ["t", "term", "from", "status", "names", "unknown"], want: ["t", "from", "names", "need", "cursor"], ping: ["t", "from"], bye: ["t", "term", "from"] };

/** @param {string} field @param {unknown} value */
const fitsAnyway = (field, value) =>
  (["names", "unknown", "need"].includes(field) && Array.isArray(value) && value.length === 0) ||
  ((field === "id" || field === "cursor") && value === "");

describe("whyNot (the tabs' channel)", () => {
  test("every message a tab sends passes", () => {
    fc.assert(fc.property(valid, (message) => assert.equal(whyNot(message, NOW), "")));
  });

  test("a message with one field out of shape, type or bounds is refused with a reason", () => {
    fc.assert(
      fc.property(valid, fc.nat(), hostile, (message, pick, value) => {
        const fields = FIELDS[/** @type {keyof typeof FIELDS} */ (message.t)];
        const field = fields[pick % fields.length];
        fc.pre(!fitsAnyway(field, value));
        const bad = { ...message, [field]: value };
        const why = whyNot(bad, NOW);
        assert.match(why, /^expected /, `${field}=${fc.stringify(value)} was accepted in ${fc.stringify(message)}`);
      }),
      { numRuns: 2000 },
    );
  });

  test("a frame's data over the bound, and anything not an object, are refused", () => {
    const big = { t: "frame", term: 1, from: "a", type: "message", data: "x".repeat(BOUNDS.dataChars + 1), id: "" };
    assert.match(whyNot(big, NOW), /expected "data" to be a string of at most/);
    for (const value of [null, undefined, 3, "frame", [{ t: "ping", from: "a" }]]) assert.match(whyNot(value, NOW), /^expected an object/);
  });
});
