import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import * as reference from "fast-json-patch/module/core.mjs";
import { PatchError } from "../src/errors.js";
import { applyPatch, select } from "../src/patch.js";
import { Signal } from "../src/signal.js";
import { quietLog, snapshot } from "./fakes.js";

// The shared RFC 6902 suite lives beside the repository, never in it.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const suiteDir = path.resolve(repoRoot, "../shared/conformance/json-patch");
const present = existsSync(suiteDir);

/** @returns {{ comment?: string, doc: unknown, patch: any[], expected?: unknown, error?: string, disabled?: boolean }[]} */
function records(/** @type {string} */ file) {
  return JSON.parse(readFileSync(path.join(suiteDir, file), "utf8")).filter(
    (/** @type {any} */ r) => !r.disabled && "patch" in r && ("expected" in r || "error" in r),
  );
}

/** A signal at rev 0 holding `doc`, with nothing to fetch. */
function signalAt(/** @type {unknown} */ doc) {
  /** @type {unknown[]} */
  const seen = [];
  const signal = new Signal("s", {
    snapshotUrl: "/nb-sse-signals/snapshot?signal=s",
    onChange: (s) => seen.push(s.value),
    fetch: () => new Promise(() => {}), // a resync never completes: we look at what stays shown
    log: quietLog(),
  });
  signal.receive(snapshot("s", 0, doc));
  return { signal, seen };
}

/** Every container of `doc`, in a WeakSet: the whole document owned by the caller. */
function ownedAll(/** @type {unknown} */ doc, /** @type {WeakSet<object>} */ owned = new WeakSet()) {
  if (typeof doc === "object" && doc !== null) {
    owned.add(doc);
    for (const child of Object.values(doc)) ownedAll(child, owned);
  }
  return owned;
}

/** Every container of `doc`, depth first: what must be the very same objects after a failed patch. */
function containersOf(/** @type {unknown} */ doc, /** @type {object[]} */ out = []) {
  if (typeof doc === "object" && doc !== null) {
    out.push(doc);
    for (const child of Object.values(doc)) containersOf(child, out);
  }
  return out;
}

for (const file of ["tests.json", "spec_tests.json"]) {
  describe(`JSON Patch conformance: ${file}`, { skip: present ? false : `${suiteDir} is absent: conformance suite skipped` }, () => {
    const suite = present ? records(file) : [];
    test("the suite is not empty", () => assert.ok(suite.length > 10, `only ${suite.length} records in ${file}`));
    for (const [index, record] of suite.entries()) {
      const name = `#${index} ${record.comment ?? JSON.stringify(record.patch)}`;
      if ("expected" in record) {
        test(`${name} gives the expected document`, () => {
          const before = structuredClone(record.doc);
          assert.deepEqual(applyPatch(record.doc, structuredClone(record.patch)), record.expected);
          assert.deepEqual(record.doc, before, "the input document must not change");
          const { signal } = signalAt(structuredClone(record.doc));
          signal.receive({ name: "s", rev: 1, patch: structuredClone(record.patch) });
          assert.equal(signal.rev, 1);
          assert.deepEqual(signal.value, record.expected);
        });
      } else {
        test(`${name} is rejected (${record.error})`, () => {
          const before = structuredClone(record.doc);
          assert.throws(() => applyPatch(record.doc, structuredClone(record.patch)), PatchError);
          assert.deepEqual(record.doc, before, "a rejected patch must not change its input");
          const { signal, seen } = signalAt(structuredClone(record.doc));
          const shown = signal.value;
          signal.receive({ name: "s", rev: 1, patch: structuredClone(record.patch) });
          assert.equal(signal.value, shown, "the exposed value must stay the same object");
          assert.deepEqual(signal.value, before, "and hold the same content");
          assert.equal(signal.rev, 0);
          assert.equal(signal.state, "resync");
          for (const value of seen) assert.deepEqual(value, before, "no listener may see a half-applied value");
        });
      }
      test(`${name}, on a document changed in place, gives the same outcome and puts back a failure exactly`, () => {
        const doc = structuredClone(record.doc);
        const text = JSON.stringify(doc);
        const objects = containersOf(doc);
        if ("expected" in record) {
          assert.deepEqual(applyPatch(doc, structuredClone(record.patch), ownedAll(doc)), record.expected);
        } else {
          assert.throws(() => applyPatch(doc, structuredClone(record.patch), ownedAll(doc)), PatchError);
          assert.equal(JSON.stringify(doc), text, "content and key order as they were");
          assert.deepEqual(containersOf(doc), objects, "the very same containers");
          objects.forEach((object, i) => assert.equal(containersOf(doc)[i], object));
        }
      });
    }
  });
}

describe("applyPatch on containers the caller owns", () => {
  test("appends to an owned array in place, and copies an array it does not own once, then owns the copy", () => {
    const ys = [1, 2];
    const doc = { ys };
    const owned = new WeakSet([doc]);
    const next = /** @type {any} */ (applyPatch(doc, [{ op: "add", path: "/ys/-", value: 3 }], owned));
    assert.equal(next, doc, "the owned root is changed in place");
    assert.notEqual(next.ys, ys, "the array nobody said was owned is copied");
    assert.deepEqual(ys, [1, 2]);
    const copy = next.ys;
    const again = /** @type {any} */ (applyPatch(next, [{ op: "add", path: "/ys/3", value: 4 }, { op: "remove", path: "/ys/0" }], owned));
    assert.equal(again.ys, copy, "the copy joined the owned containers: changed in place");
    assert.deepEqual(again, { ys: [2, 3, 4] });
  });

  test("puts back every in-place change of a patch whose later op fails, keys in their order", () => {
    const inner = { a: 1, b: 2, c: 3 };
    const list = [10, 20, 30];
    const doc = { inner, list, keep: "x" };
    const text = JSON.stringify(doc);
    const patch = [
      { op: "remove", path: "/inner/a" },
      { op: "add", path: "/inner/d", value: 4 },
      { op: "replace", path: "/inner/b", value: 0 },
      { op: "add", path: "/list/1", value: 15 },
      { op: "remove", path: "/list/0" },
      { op: "replace", path: "/list/2", value: 0 },
      { op: "add", path: "/list/-", value: 40 },
      { op: "add", path: "/new", value: { deep: [] } },
      { op: "move", from: "/keep", path: "/moved" },
      { op: "test", path: "/moved", value: "not x" },
    ];
    assert.throws(() => applyPatch(doc, /** @type {any} */ (patch), ownedAll(doc)), /patch operation 9 \(test/);
    assert.equal(JSON.stringify(doc), text);
    assert.equal(doc.inner, inner);
    assert.equal(doc.list, list);
  });

  test("leaves alone the containers it does not own, in place or not", () => {
    const shared = { list: [1] };
    const doc = { shared, mine: [1] };
    const owned = new WeakSet([doc, doc.mine]);
    const next = /** @type {any} */ (applyPatch(doc, [{ op: "add", path: "/shared/list/-", value: 2 }, { op: "add", path: "/mine/-", value: 2 }], owned));
    assert.deepEqual(shared, { list: [1] });
    assert.deepEqual(next, { shared: { list: [1, 2] }, mine: [1, 2] });
    assert.equal(next.mine, doc.mine);
  });

  test("puts back into an owned container the child it copied, when the patch fails later", () => {
    const child = { x: 1 };
    const doc = { a: child };
    assert.throws(() => applyPatch(doc, [{ op: "add", path: "/a/y", value: 2 }, { op: "test", path: "/a/x", value: 5 }], new WeakSet([doc])), PatchError);
    assert.equal(doc.a, child, "the very object it held");
    assert.deepEqual(child, { x: 1 });
  });

  /**
   * fast-json-patch, op by op, with a move or copy taken as RFC 6902 §4.4-4.5 define
   * them (a remove then an add; an add of a copy): fast-json-patch itself checks the
   * add's path against the document before the remove.
   * @param {unknown} doc
   * @param {any[]} patch
   */
  function referenceApply(doc, patch) {
    for (const op of patch) {
      const ops = [op];
      if (op.op === "move" || op.op === "copy") {
        // fast-json-patch reads "/s/0" of a string "s" as "s": JSON has nothing there.
        const value = op.from.split("/").slice(1).reduce((/** @type {any} */ node, /** @type {string} */ t) =>
          typeof node === "object" && node !== null && Object.hasOwn(node, t) ? node[t] : undefined, doc);
        if (value === undefined) throw new Error("no value at from");
        if (op.op === "move" && op.path.startsWith(op.from + "/")) throw new Error("into itself");
        const add = { op: "add", path: op.path, value: structuredClone(value) };
        ops.splice(0, 1, ...(op.op === "move" ? [{ op: "remove", path: op.from }, add] : [add]));
      }
      for (const each of ops) {
        // fast-json-patch lets a path into a scalar root pass; there is nothing there.
        if (each.path !== "" && (typeof doc !== "object" || doc === null)) throw new Error("no such location");
        doc = reference.applyOperation(doc, each, true, true, true).newDocument;
      }
    }
    return doc;
  }

  /**
   * `patch` on `doc`, owned and not: fast-json-patch's result, or a PatchError that
   * changed nothing (the same text, the very same containers).
   * @param {unknown} doc
   * @param {any[]} patch
   */
  function agreesWithReference(doc, patch) {
    /** @type {unknown} */
    let expected;
    try {
      expected = referenceApply(structuredClone(doc), structuredClone(patch));
    } catch {
      expected = PatchError;
    }
    for (const own of [false, true]) {
      const mine = structuredClone(doc);
      const text = JSON.stringify(mine);
      const containers = containersOf(mine);
      try {
        const result = applyPatch(mine, structuredClone(patch), own ? ownedAll(mine) : null);
        assert.notEqual(expected, PatchError, `${JSON.stringify(patch)} must fail`);
        assert.deepEqual(result, expected);
        if (!own) assert.equal(JSON.stringify(mine), text, "the input must not change");
      } catch (error) {
        if (error instanceof assert.AssertionError) throw error;
        assert.ok(error instanceof PatchError, String(error));
        assert.equal(expected, PatchError, `${JSON.stringify(patch)} must not fail: ${error.message}`);
        assert.equal(JSON.stringify(mine), text, "a failed patch must change nothing");
        assert.deepEqual(containersOf(mine), containers, "the very same containers");
      }
    }
  }

  /** JSON documents and patches of every op, some of which fail. */
  const scalar = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom("a", "b", true, null));
  const value = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: "small" }, scalar, tie("list"), tie("object")),
    list: fc.array(tie("node"), { maxLength: 4 }),
    object: fc.dictionary(fc.constantFrom("a", "b", "c", "d"), tie("node"), { maxKeys: 4 }),
  })).node;
  const pointer = fc.array(fc.constantFrom("a", "b", "c", "0", "1", "2", "-"), { maxLength: 3 }).map((t) => t.map((x) => `/${x}`).join(""));
  const op = fc.oneof(
    fc.record({ op: fc.constantFrom("add", "replace", "test"), path: pointer, value }),
    fc.record({ op: fc.constant("remove"), path: pointer }),
    fc.record({ op: fc.constantFrom("move", "copy"), from: pointer, path: pointer }),
  );

  test("gives what fast-json-patch gives, owned or not, and a failed patch changes nothing", () => {
    fc.assert(
      fc.property(fc.oneof(fc.array(value, { maxLength: 4 }), fc.dictionary(fc.constantFrom("a", "b", "c"), value)), fc.array(op, { maxLength: 5 }), (doc, patch) => {
        agreesWithReference(doc, /** @type {any} */ (patch));
      }),
      { numRuns: 3000 },
    );
  });

  /** Appends of scalars as `mutate().extend` sends them, from about the array's end. */
  const run = fc.record({
    at: fc.constantFrom("", "/a", "/b", "/a/0", "/c"),
    from: fc.constantFrom("-", -1, 0, 1),
    values: fc.array(scalar, { minLength: 1, maxLength: 5 }),
  });

  test("applies runs of appends (at <array>/- or from its length on) as fast-json-patch does", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.array(value, { maxLength: 4 }), fc.record({ a: fc.array(value, { maxLength: 4 }), b: value, c: value })),
        fc.array(fc.oneof(run, op), { maxLength: 5 }),
        (doc, parts) => {
          // A run's indices start from the array's length at the time plus `from`:
          // worked out against the reference, op by op, so that most start at the end.
          /** @type {any[]} */
          const patch = [];
          /** @type {unknown} */
          let shadow = structuredClone(doc);
          for (const part of parts) {
            /** @type {any[]} */
            let ops = [part];
            if ("values" in part) {
              const array = select(shadow, part.at);
              const n = Array.isArray(array) ? array.length : 0;
              ops = part.values.map((v, k) => ({
                op: "add",
                path: `${part.at}/${part.from === "-" ? "-" : n + Number(part.from) + k}`,
                value: v,
              }));
            }
            patch.push(...ops);
            try {
              shadow = referenceApply(shadow, structuredClone(ops));
            } catch {
              // a failing part: the rest is built against the value before it
            }
          }
          agreesWithReference(doc, patch);
        },
      ),
      { numRuns: 3000 },
    );
  });

  test("appends a run to an owned array in place, once per op read, and puts it back if a later op fails", () => {
    const ys = [0.5];
    const doc = { ys };
    const owned = new WeakSet([doc, ys]);
    // Each op counts the reads of its path: the one-by-one path (the validator, the
    // pointer's tokens, the walk) reads it several times.
    let reads = 0;
    const counted = (/** @type {string} */ path, /** @type {number} */ value) => ({
      op: "add",
      value,
      get path() {
        reads += 1;
        return path;
      },
    });
    const patch = Array.from({ length: 3_400 }, (_, k) => counted(`/ys/${k + 1}`, k));
    const next = /** @type {any} */ (applyPatch(doc, /** @type {any} */ (patch), owned));
    assert.equal(next.ys, ys, "the owned array itself");
    assert.deepEqual(ys, [0.5, ...Array.from({ length: 3_400 }, (_, k) => k)]);
    assert.ok(reads <= 2 * 3_400 + 4, `${reads} reads of the ops' paths`);
    const failing = [...Array.from({ length: 10 }, () => ({ op: "add", path: "/ys/-", value: 1 })), { op: "test", path: "/ys/0", value: 2 }];
    assert.throws(() => applyPatch(doc, /** @type {any} */ (failing), owned), /patch operation 10 \(test "\/ys\/0"\) failed/);
    assert.equal(doc.ys, ys);
    assert.equal(ys.length, 3_401, "put back to its length");
  });
});

describe("runs of appends", () => {
  /**
   * Apply `ops` to a copy of `doc`, counting the reads of each op's path: a run of
   * appends reads each path about twice (is it a scalar add, is it the next index);
   * an op applied alone reads it seven times or more (the validator, the pointer, the walk).
   * @param {unknown} doc
   * @param {Record<string, unknown>[]} ops
   */
  function counted(doc, ops) {
    let reads = 0;
    const patch = ops.map((op) => {
      const { path: where, ...rest } = op;
      return Object.defineProperty({ ...rest }, "path", {
        enumerable: true,
        get() {
          reads += 1;
          return where;
        },
      });
    });
    /** @type {unknown} */
    let result;
    try {
      result = applyPatch(structuredClone(doc), /** @type {any} */ (patch));
    } catch (error) {
      result = error;
    }
    return { result, perOp: reads / ops.length };
  }

  /** What fast-json-patch makes of `ops` on `doc`: the value, or PatchError. */
  function expected(/** @type {unknown} */ doc, /** @type {any[]} */ ops) {
    try {
      return reference.applyPatch(structuredClone(doc), structuredClone(ops), true, false).newDocument;
    } catch {
      return PatchError;
    }
  }

  const n = 40;
  const appends = (/** @type {(k: number) => unknown} */ value, at = (/** @type {number} */ _k) => "/ys/-") =>
    Array.from({ length: n }, (_, k) => ({ op: "add", path: at(k), value: value(k) }));
  /** @type {[string, boolean, Record<string, unknown>[]][]} */
  const cases = [
    ["numbers at '-'", true, appends((k) => k)],
    ["strings at '-'", true, appends((k) => `s${k}`)],
    ["booleans at '-'", true, appends((k) => k % 2 === 0)],
    ["nulls at '-'", true, appends(() => null)],
    ["numbers at the next indexes", true, appends((k) => k, (k) => `/ys/${k + 1}`)],
    ["objects (each checked alone)", false, appends((k) => ({ k }))],
    ["arrays (each checked alone)", false, appends((k) => [k])],
    ["inserts at the front", false, appends((k) => k, (k) => `/ys/${k}`)],
    ["replaces from the array's length", false, appends((k) => k, (k) => `/ys/${k + 1}`).map((op) => ({ ...op, op: "replace" }))],
    ["members of an object named by numbers", false, appends((k) => k, (k) => `/o/${k}`)],
  ];
  for (const [name, run, ops] of cases) {
    test(`${name}: ${run ? "applied as one run" : "applied op by op"}, with fast-json-patch's result`, () => {
      const doc = { ys: [0.5], o: {} };
      const { result, perOp } = counted(doc, ops);
      const reference = expected(doc, ops);
      if (reference === PatchError) {
        // (refused at its first op: how it is read says nothing)
        assert.ok(result instanceof PatchError, `expected a PatchError, got ${JSON.stringify(result)}`);
        return;
      }
      assert.deepEqual(result, reference);
      if (run) assert.ok(perOp < 3, `${perOp} reads of each op's path: not one run`);
      else assert.ok(perOp >= 5, `${perOp} reads of each op's path: taken as a run`);
    });
  }

  test("a run of values with an undefined inside is refused, as fast-json-patch refuses it", () => {
    const ops = appends(() => ({ x: undefined }));
    assert.equal(expected({ ys: [] }, ops), PatchError);
    assert.throws(() => applyPatch({ ys: [] }, /** @type {any} */ (ops)), PatchError);
  });
});

describe("applyPatch", () => {
  test("leaves a half-applied patch invisible: the input is untouched when a later op fails", () => {
    const doc = { a: { b: [1, 2] }, c: 1 };
    const before = structuredClone(doc);
    assert.throws(
      () => applyPatch(doc, [{ op: "add", path: "/a/b/-", value: 3 }, { op: "remove", path: "/c" }, { op: "remove", path: "/nope" }]),
      /patch operation 2 \(remove "\/nope"\) failed/,
    );
    assert.deepEqual(doc, before);
  });

  test("shares every subtree the patch did not touch", () => {
    const doc = { touched: { list: [1] }, untouched: { deep: [1, 2, 3] } };
    const next = /** @type {any} */ (applyPatch(doc, [{ op: "add", path: "/touched/list/-", value: 2 }]));
    assert.equal(next.untouched, doc.untouched);
    assert.notEqual(next.touched, doc.touched);
    assert.deepEqual(next.touched.list, [1, 2]);
    assert.deepEqual(doc.touched.list, [1]);
  });

  test("copies the containers of both ends of a move", () => {
    const doc = { from: { x: 1 }, to: {} };
    const next = applyPatch(doc, [{ op: "move", from: "/from/x", path: "/to/x" }]);
    assert.deepEqual(next, { from: {}, to: { x: 1 } });
    assert.deepEqual(doc, { from: { x: 1 }, to: {} });
  });

  test("refuses to move a value into its own child", () => {
    assert.throws(() => applyPatch({ a: { b: {} } }, [{ op: "move", from: "/a", path: "/a/b/c" }]), PatchError);
  });

  test("refuses array indices with leading zeros and a '-' that is not an add target", () => {
    assert.throws(() => applyPatch([1, 2], [{ op: "replace", path: "/01", value: 0 }]), PatchError);
    assert.throws(() => applyPatch([1, 2], [{ op: "replace", path: "/-", value: 0 }]), PatchError);
  });

  test("refuses __proto__ paths", () => {
    assert.throws(() => applyPatch({}, [{ op: "add", path: "/__proto__/polluted", value: 1 }]), PatchError);
    for (const path of ["/__proto__", "/a/constructor/prototype"]) {
      const doc = { a: { constructor: { prototype: {} } } };
      assert.throws(() => applyPatch(doc, [{ op: "add", path, value: { polluted: 1 } }]), /__proto__ or constructor\/prototype is refused/, path);
      assert.equal(/** @type {any} */ (doc).polluted, undefined);
    }
    assert.equal(/** @type {any} */ ({}).polluted, undefined);
  });
});

describe("select", () => {
  const doc = { value: { "a/b": [10, 20], "m~n": true }, list: [] };
  test("follows a JSON Pointer with escapes", () => {
    assert.equal(select(doc, "/value/a~1b/1"), 20);
    assert.equal(select(doc, "/value/m~0n"), true);
    assert.equal(select(doc, ""), doc);
  });
  test("gives undefined where the pointer selects nothing", () => {
    assert.equal(select(doc, "/missing"), undefined);
    assert.equal(select(doc, "/list/0"), undefined);
    assert.equal(select(doc, "/value/a~1b/01"), undefined);
    assert.equal(select(doc, "/value/a~1b/0/deeper"), undefined);
    assert.equal(select(doc, "/toString"), undefined, "inherited properties are not part of the value");
  });
});

describe("applyPatch says which operation failed and why", () => {
  /** @param {unknown} doc @param {unknown} patch */
  const refusal = (doc, patch) => {
    try {
      applyPatch(doc, /** @type {any} */ (patch));
    } catch (error) {
      return /** @type {Error} */ (error).message;
    }
    return assert.fail(`applied: ${JSON.stringify(patch)}`);
  };
  /** @type {[unknown, unknown, string][]} */
  const cases = [
    [{}, {}, "expected the patch to be an array of operations"],
    [{ a: {} }, [{ op: "add", path: "/a/b/c", value: 1 }], 'patch operation 0 (add "/a/b/c") failed: cannot add at "/a/b/c": its parent does not exist'],
    [{}, [{ op: "replace", path: "/x", value: 1 }], 'patch operation 0 (replace "/x") failed: cannot replace "/x": no such location'],
    [{ a: { b: 1 } }, [{ op: "remove", path: "/a/c" }], 'patch operation 0 (remove "/a/c") failed: cannot remove "/a/c": no such location'],
    [{}, [{ op: "copy", from: "/x", path: "/y" }], 'patch operation 0 (copy "/y") failed: no value at "from" "/x"'],
    [{ a: { b: 1 } }, [{ op: "move", from: "/a", path: "/a/b/c" }], 'patch operation 0 (move "/a/b/c") failed: cannot move a value into itself'],
    [{ a: [1] }, [{ op: "replace", path: "/a/01", value: 1 }], 'patch operation 0 (replace "/a/01") failed: "/a/01": expected an array index, got "01"'],
    [{ a: [1, 2] }, [{ op: "test", path: "/a/0", value: 1 }, { op: "add", path: "/a/-/x", value: 1 }], 'patch operation 1 (add "/a/-/x") failed: "/a/-/x": expected an array index, got "-"'],
    [{}, [null], "patch operation 0 () failed: Operation is not an object"],
  ]; // prettier-ignore
  for (const [doc, patch, message] of cases) {
    test(message, () => assert.equal(refusal(doc, patch), message));
  }

  test("a test of a missing location, an add past an array's end: each says so", () => {
    assert.throws(() => applyPatch({ a: 1 }, [{ op: "test", path: "/b", value: 1 }]), /cannot test "\/b": no such location/);
    assert.throws(() => applyPatch({ a: 1 }, [{ op: "test", path: "/a", value: 2 }]), /test "\/a" failed: the value differs/);
    assert.throws(() => applyPatch({ a: [1] }, [{ op: "add", path: "/a/2", value: 2 }]), /cannot add at "\/a\/2": the array has 1 items/);
    assert.throws(() => applyPatch({ a: [1] }, [{ op: "replace", path: "/a/1", value: 2 }]), /cannot replace "\/a\/1": no such location/);
  });

  test("a move to a sibling is not a move into itself", () => {
    assert.deepEqual(applyPatch({ a: 1, ab: 2 }, [{ op: "move", from: "/a", path: "/abc" }]), { ab: 2, abc: 1 });
    assert.deepEqual(applyPatch({ x: { a: 1 } }, [{ op: "copy", from: "/x", path: "/x/b" }]), { x: { a: 1, b: { a: 1 } } });
  });

  test("an add at an array's end that goes deeper is refused, not appended", () => {
    const doc = { a: [1] };
    assert.match(refusal(doc, [{ op: "add", path: "/a/-/x", value: 1 }]), /expected an array index, got "-"/);
    assert.deepEqual(doc, { a: [1] });
  });
});

describe("select, the pointer reader of template.js and view.js", () => {
  test("refuses a pointer that does not start with /", () => {
    assert.throws(() => select({}, "a"), /expected a JSON Pointer starting with "\/", got "a"/);
  });
  test("never reads past an array's end, nor into a string or null", () => {
    assert.equal(select([1, 2], "/1"), 2);
    assert.equal(select([1, 2], "/2"), undefined);
    assert.equal(select("text", "/length"), undefined);
    assert.equal(select(null, "/a"), undefined);
    assert.equal(select({ a: 1 }, "/a/b"), undefined);
    assert.equal(select({ a: [5] }, "/a/00"), undefined);
  });
});
