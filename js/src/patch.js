// RFC 6902 application that fails whole or not at all: the path signal.js
// uses, and the one the shared conformance suite runs through.
//
// fast-json-patch applies operations in place and, on failure, leaves the
// document half-modified; applying with its own copy deep-clones the whole
// document. Instead, before each operation we shallow-copy the containers on
// the path it touches (copy-on-write), then let fast-json-patch mutate those
// copies. The old document is never touched, untouched subtrees stay shared
// (views compare by identity), and the cost is the depth × width of the
// touched containers, not the size of the document. A container that its
// caller owns (nobody else holds it: signal.js's value that no listener took)
// is changed in place instead, with an undo log, so appending to a long array
// costs the item, not a copy of the array. A run of appends of scalars to one
// array (what `mutate().extend` and a `set()` of a longer list send: thousands of
// adds at `<array>/<n>`, `<array>/<n + 1>`, ..., or at `<array>/-`) is one pointer
// walk and a push per item.
import { _areEquals, applyOperation, deepClone, validator } from "fast-json-patch/module/core.mjs";
import { PatchError } from "./errors.js";

/** @typedef {import("./protocol.js").Operation} Operation */

// RFC 6901 §4: an array index is "0" or digits without a leading zero.
const INDEX = /^(0|[1-9][0-9]*)$/;

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown> | unknown[]}
 */
function isContainer(value) {
  return typeof value === "object" && value !== null;
}

/**
 * Split a JSON Pointer into unescaped tokens ("" → []).
 *
 * @param {string} pointer
 * @returns {string[]}
 */
export function tokens(pointer) {
  if (pointer === "") return [];
  if (pointer[0] !== "/") throw new PatchError(`expected a JSON Pointer starting with "/", got ${JSON.stringify(pointer)}`);
  const split = pointer.slice(1).split("/");
  // Most pointers escape nothing: then no token needs its escapes undone.
  return pointer.includes("~") ? split.map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~")) : split;
}

/**
 * The part of `doc` a JSON Pointer selects, or `undefined` where it selects nothing.
 *
 * @param {unknown} doc
 * @param {string} pointer
 * @returns {unknown}
 */
export function select(doc, pointer) {
  let node = doc;
  for (const token of tokens(pointer)) {
    if (Array.isArray(node)) {
      if (!INDEX.test(token) || Number(token) >= node.length) return undefined;
      node = node[Number(token)];
    } else if (isContainer(node) && Object.prototype.hasOwnProperty.call(node, token)) {
      node = /** @type {Record<string, unknown>} */ (node)[token];
    } else {
      return undefined;
    }
  }
  return node;
}

/**
 * What one patch may change, and how it puts back what it changed in place.
 * @typedef {{
 *   owned: WeakSet<object> | null,
 *   fresh: WeakSet<object>,
 *   copies: object[],
 *   undo: (() => void)[],
 * }} Changes
 *   `owned`: containers of the document nobody else holds (changed in place);
 *   `fresh`: copies made by this patch (changed freely, unseen if it fails);
 *   `undo`: what puts back, newest last, each change made in place
 */

/**
 * Walk `pointer` in `root`, checking array indices strictly (fast-json-patch
 * accepts "01"). With `changes`, make every container on the way to the target's
 * parent one the patch may change: an owned one as it is, else a shallow copy (once
 * per patch). Returns the new root, the target's parent (undefined where a step is
 * missing) and its key there (a number in an array, "-" for its end).
 *
 * @param {unknown} root
 * @param {string} pointer not ""
 * @param {boolean} dash whether "-" may end the pointer (the target of an add)
 * @param {Changes | null} changes null: walk only
 * @returns {{ root: unknown, parent: unknown, key: string | number }}
 */
function walk(root, pointer, dash, changes) {
  /** @param {unknown} node */
  const own = (node) => {
    if (!changes || !isContainer(node) || changes.fresh.has(node)) return node;
    if (changes.owned?.has(node)) return node;
    const copy = Array.isArray(node) ? node.slice() : { ...node };
    changes.fresh.add(copy);
    changes.copies.push(copy);
    return copy;
  };
  const path = tokens(pointer);
  root = own(root);
  let node = root;
  for (const [t, token] of path.entries()) {
    const last = t === path.length - 1;
    /** @type {string | number} */
    let key = token;
    if (Array.isArray(node)) {
      if (last && dash && token === "-") return { root, parent: node, key };
      if (!INDEX.test(token)) {
        throw new PatchError(`${JSON.stringify(pointer)}: expected an array index, got ${JSON.stringify(token)}`);
      }
      key = Number(token);
    }
    if (last) return { root, parent: node, key };
    if (!isContainer(node)) break;
    const record = /** @type {Record<string | number, unknown>} */ (node);
    if (!Object.prototype.hasOwnProperty.call(record, key)) break;
    const old = record[key];
    const child = own(old);
    if (child !== old) {
      record[key] = child;
      if (changes && !changes.fresh.has(record)) changes.undo.push(() => (record[key] = old));
    }
    node = child;
  }
  return { root, parent: undefined, key: "" };
}

// fast-json-patch's guard, kept: no path may reach an object's prototype.
const BANNED = /(^|\/)(__proto__|constructor\/prototype)(\/|$)/;

/**
 * A key put back where it was among its object's keys: the keys that followed it go
 * behind it again.
 *
 * @param {Record<string, unknown>} record
 * @param {string} key
 */
function restore(record, key) {
  const old = record[key];
  const keys = Object.keys(record);
  const after = keys.slice(keys.indexOf(key) + 1);
  return () => {
    record[key] = old;
    for (const k of after) {
      const v = record[k];
      delete record[k];
      record[k] = v;
    }
  };
}

/**
 * One add, remove, replace or test (RFC 6902 §4.1-4.3, 4.6), on containers the patch
 * may change; each change to a container changed in place logs its inverse.
 *
 * @param {unknown} root
 * @param {Operation} op
 * @param {number} index the operation's place in its patch
 * @param {Changes} changes
 * @returns {unknown} the new root
 */
function step(root, op, index, changes) {
  // A root operation replaces the document (or tests it): nothing is changed in place.
  if (op.path === "") return applyOperation(root, /** @type {any} */ (op), true, true, true, index).newDocument;
  if (BANNED.test(op.path)) throw new PatchError("a path through __proto__ or constructor/prototype is refused");
  const where = JSON.stringify(op.path);
  if (op.op === "test") {
    const found = select(root, op.path);
    if (found === undefined) throw new PatchError(`cannot test ${where}: no such location`);
    if (!_areEquals(found, op.value)) throw new PatchError(`test ${where} failed: the value differs`);
    return root;
  }
  const walked = walk(root, op.path, op.op === "add", changes);
  const { parent, key } = walked;
  if (!isContainer(parent)) {
    throw new PatchError(op.op === "add" ? `cannot add at ${where}: its parent does not exist` : `cannot ${op.op} ${where}: no such location`);
  }
  const undo = changes.fresh.has(parent) ? null : changes.undo;
  if (Array.isArray(parent)) {
    const i = key === "-" ? parent.length : /** @type {number} */ (key);
    if (op.op === "add") {
      if (i > parent.length) throw new PatchError(`cannot add at ${where}: the array has ${parent.length} items`);
      if (i === parent.length) parent.push(op.value);
      else parent.splice(i, 0, op.value);
      undo?.push(() => parent.splice(i, 1));
      return walked.root;
    }
    if (i >= parent.length) throw new PatchError(`cannot ${op.op} ${where}: no such location`);
    const old = parent[i];
    if (op.op === "remove") {
      // shift() drops the front without moving the rest (V8 trims the array in place).
      if (i === 0) parent.shift();
      else parent.splice(i, 1);
      undo?.push(() => parent.splice(i, 0, old));
    } else {
      parent[i] = op.value;
      undo?.push(() => (parent[i] = old));
    }
    return walked.root;
  }
  const record = /** @type {Record<string, unknown>} */ (parent);
  const name = String(key);
  const had = Object.prototype.hasOwnProperty.call(record, name);
  if (op.op !== "add" && !had) throw new PatchError(`cannot ${op.op} ${where}: no such location`);
  if (undo) {
    const old = record[name];
    undo.push(op.op === "remove" ? restore(record, name) : had ? () => (record[name] = old) : () => delete record[name]);
  }
  if (op.op === "remove") delete record[name];
  else record[name] = op.value;
  return walked.root;
}

/**
 * Whether `op` is a well-formed add of a scalar (what fast-json-patch's validator
 * lets through, with nothing inside `value` to check).
 * @param {unknown} op
 * @returns {op is { op: "add", path: string, value: number | string | boolean | null }}
 */
function addsScalar(op) {
  if (typeof op !== "object" || op === null) return false;
  const { value, path } = /** @type {Record<string, unknown>} */ (op);
  const kind = typeof value;
  return (
    /** @type {Record<string, unknown>} */ (op).op === "add" &&
    typeof path === "string" &&
    path[0] === "/" &&
    (kind === "number" || kind === "string" || kind === "boolean" || value === null)
  );
}

/**
 * The ops from `start` that each add a scalar at the end of one array (two or more:
 * at `<array>/-`, or at `<array>/<n>`, `<array>/<n + 1>`, ... from its length `n`),
 * applied with one walk: the new root and the index after them. Null (or an end at
 * `start`) when the op at `start` does not begin such a run: it then goes alone (and
 * fails, inserts, or adds an object's member, as RFC 6902 says).
 *
 * @param {unknown} root
 * @param {Operation[]} patch
 * @param {number} start
 * @param {Changes} changes
 * @returns {{ root: unknown, end: number } | null}
 */
function appendRun(root, patch, start, changes) {
  const op = patch[start];
  const next = patch[start + 1];
  if (!addsScalar(op) || !addsScalar(next)) return null;
  const path = op.path;
  const slash = path.lastIndexOf("/");
  const base = path.slice(0, slash);
  const last = path.slice(slash + 1);
  const dash = last === "-";
  if (dash ? next.path !== path : !INDEX.test(last) || next.path !== `${base}/${Number(last) + 1}`) return null;
  if (BANNED.test(path)) return null; // refused by the op alone
  const array = select(root, base);
  if (!Array.isArray(array) || !(dash || Number(last) === array.length)) return null;
  // The array itself, owned or copied (once per patch), and its containers.
  const walked = walk(root, path, true, changes);
  const parent = /** @type {unknown[]} */ (walked.parent);
  const length = parent.length;
  let end = start;
  for (; end < patch.length; end++) {
    const each = patch[end];
    if (!addsScalar(each) || each.path !== (dash ? path : `${base}/${length + end - start}`)) break;
    parent.push(each.value);
  }
  if (!changes.fresh.has(parent)) changes.undo.push(() => (parent.length = length));
  return { root: walked.root, end };
}

/**
 * Apply an RFC 6902 patch and return the new document; it fails whole or not at
 * all. Without `owned`, `doc` is never modified: unchanged subtrees of the result are
 * the very objects of `doc`, and only the containers on the touched paths are new.
 * With `owned`, the containers of `doc` in it are changed in place (an append costs
 * the item, not a copy of the array), and put back exactly if the patch fails; the
 * containers the patch copies join it. Values from the patch are adopted, not copied
 * (and not owned).
 *
 * @param {unknown} doc
 * @param {Operation[]} patch
 * @param {WeakSet<object> | null} [owned] containers of `doc` that nobody else holds
 * @returns {unknown}
 * @throws {PatchError} naming the operation that failed and why
 */
export function applyPatch(doc, patch, owned = null) {
  if (!Array.isArray(patch)) throw new PatchError("expected the patch to be an array of operations");
  /** @type {Changes} */
  const changes = { owned, fresh: new WeakSet(), copies: [], undo: [] };
  let root = doc;
  for (let index = 0; index < patch.length; index++) {
    const op = patch[index];
    try {
      const run = appendRun(root, patch, index, changes);
      if (run) root = run.root;
      if (run && run.end > index) {
        index = run.end - 1;
        continue;
      }
      // The shape of the operation (op, path, from, value), from fast-json-patch.
      validator(/** @type {any} */ (op), index);
      if (op.op === "move" || op.op === "copy") {
        const from = /** @type {string} */ (op.from);
        const value = select(root, from);
        if (value === undefined) throw new PatchError(`no value at "from" ${JSON.stringify(from)}`);
        // RFC 6902 §4.4: a location cannot be moved into one of its children.
        if (op.op === "move" && op.path.startsWith(from + "/")) throw new PatchError("cannot move a value into itself");
        // §4.4, §4.5: a remove (for a move) then an add, in turn: the add's path is read
        // after the remove shifted its array, and each step can be put back.
        if (op.op === "move") root = step(root, { op: "remove", path: from }, index, changes);
        root = step(root, { op: "add", path: op.path, value: op.op === "copy" ? deepClone(value) : value }, index, changes);
      } else {
        root = step(root, op, index, changes);
      }
    } catch (error) {
      for (let i = changes.undo.length - 1; i >= 0; i--) changes.undo[i]();
      const what = isContainer(op) ? `${String(op.op)} ${JSON.stringify(op.path)}` : "";
      const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
      throw new PatchError(`patch operation ${index} (${what}) failed: ${reason}`, { cause: error });
    }
  }
  if (owned) for (const copy of changes.copies) owned.add(copy);
  return root;
}
