import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ProtocolError, SignalsError } from "../src/errors.js";
import { checkSnapshots, eventsUrl, isSnapshot, oldestCursor, parseClosed, parseMessage, snapshotUrl } from "../src/protocol.js";

describe("parseMessage", () => {
  test("reads a change as the hub sends it", () => {
    const data = '{"name":"k-3f2a9c1e/count","rev":7,"patch":[{"op":"replace","path":"/value","value":7}]}';
    assert.deepEqual(parseMessage(data), { name: "k-3f2a9c1e/count", rev: 7, patch: [{ op: "replace", path: "/value", value: 7 }] });
  });

  test("reads a snapshot, and tells it from a change", () => {
    const message = parseMessage('{"name":"c","rev":6,"patch":[{"op":"replace","path":"","value":{"value":6}}]}');
    assert.equal(isSnapshot(message), true);
    assert.equal(isSnapshot(parseMessage('{"name":"c","rev":7,"patch":[{"op":"replace","path":"/value","value":7}]}')), false);
    assert.equal(isSnapshot(parseMessage('{"name":"c","rev":7,"patch":[]}')), false);
  });

  test("ignores fields it does not know", () => {
    assert.deepEqual(parseMessage('{"name":"c","rev":0,"patch":[],"extra":1}'), { name: "c", rev: 0, patch: [] });
  });

  const bad = [
    ["not JSON", "{", /expected JSON event data, got the string "\{"/],
    ["not an object", "[1]", /expected a JSON object, got an array/],
    ["null", "null", /expected a JSON object, got null/],
    ["no name", '{"rev":0,"patch":[]}', /expected "name" to be a signal key of 1-200 characters from \[A-Za-z0-9_.:\/-\], got undefined/],
    ["an empty name", '{"name":"","rev":0,"patch":[]}', /"name" to be a signal key .*, got the string ""/],
    ["a negative rev", '{"name":"c","rev":-1,"patch":[]}', /expected "rev" to be an integer >= 0, got number -1/],
    ["a fractional rev", '{"name":"c","rev":1.5,"patch":[]}', /got number 1.5/],
    ["a rev as a string", '{"name":"c","rev":"1","patch":[]}', /got the string "1"/],
    ["no patch", '{"name":"c","rev":1}', /signal message for c: expected "patch" to be an array, got undefined/],
    ["a patch object", '{"name":"c","rev":1,"patch":{"op":"add"}}', /"patch" to be an array, got an object/],
    ["an op that is not an object", '{"name":"c","rev":1,"patch":[1]}', /expected patch\[0\] to be an object, got number 1/],
  ];
  for (const [what, data, message] of bad) {
    test(`rejects ${what} with a ProtocolError that says what it expected`, () => {
      assert.throws(() => parseMessage(/** @type {string} */ (data)), (error) => {
        assert.ok(error instanceof ProtocolError && error instanceof SignalsError);
        assert.match(/** @type {Error} */ (error).message, /** @type {RegExp} */ (message));
        return true;
      });
    });
  }
});

describe("parseClosed", () => {
  test("reads a closed event", () => {
    assert.deepEqual(parseClosed('{"name":"k-3f2a9c1e/count","rev":9}'), { name: "k-3f2a9c1e/count", rev: 9 });
  });
  test("rejects one without a rev", () => {
    assert.throws(() => parseClosed('{"name":"c"}'), /closed event for c: expected "rev"/);
  });
});

describe("checkSnapshots", () => {
  test("reads the snapshot endpoint's array", () => {
    const body = [{ name: "a", rev: 1, patch: [{ op: "replace", path: "", value: 1 }] }];
    assert.deepEqual(checkSnapshots(body), body);
  });
  test("rejects an error body", () => {
    assert.throws(() => checkSnapshots({ error: "unknown" }), /snapshot response: expected a JSON array, got an object/);
  });
});

describe("URLs", () => {
  test("the events URL repeats `signal` and escapes keys", () => {
    assert.equal(eventsUrl("/", ["k-1/a", "shared:b"]), "/nb-sse-signals/events?signal=k-1%2Fa&signal=shared%3Ab");
  });
  test("the events URL carries a token and a first cursor when given", () => {
    assert.equal(
      eventsUrl("http://127.0.0.1:8765/", ["a"], { token: "t&k", lastEventId: "q7x2mf0a-1042" }),
      "http://127.0.0.1:8765/nb-sse-signals/events?signal=a&token=t%26k&lastEventId=q7x2mf0a-1042",
    );
  });
  test("the snapshot URL sits beside it", () => {
    assert.equal(snapshotUrl("/user/alice/", ["a", "b"], { token: "" }), "/user/alice/nb-sse-signals/snapshot?signal=a&signal=b");
  });
});

describe("oldestCursor", () => {
  test("of one epoch, the earlier, by number not by text", () => {
    assert.equal(oldestCursor("q7x2mf0a-1042", "q7x2mf0a-998"), "q7x2mf0a-998");
    assert.equal(oldestCursor("q7x2mf0a-5", "q7x2mf0a-5"), "q7x2mf0a-5");
  });
  test("no cursor (snapshots) when one is missing, malformed or of another epoch", () => {
    assert.equal(oldestCursor("", "q7x2mf0a-5"), "");
    assert.equal(oldestCursor("q7x2mf0a-5", "q7x2mf0a-x"), "");
    assert.equal(oldestCursor("q7x2mf0a-5", "zz000000-1"), "");
  });
});
