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
// costs the item, not a copy of the array.
import { applyOperation, deepClone, validator } from "fast-json-patch/module/core.mjs";
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
 * per patch). Returns the new root and the target's parent.
 *
 * @param {unknown} root
 * @param {string} pointer
 * @param {boolean} dash whether "-" may end the pointer (the target of an add)
 * @param {Changes | null} changes null: walk only
 * @returns {{ root: unknown, parent: unknown }}
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
      if (last && dash && token === "-") return { root, parent: node };
      if (!INDEX.test(token)) {
        throw new PatchError(`${JSON.stringify(pointer)}: expected an array index, got ${JSON.stringify(token)}`);
      }
      key = Number(token);
    }
    if (last || !isContainer(node)) return { root, parent: last ? node : undefined };
    const record = /** @type {Record<string | number, unknown>} */ (node);
    // A missing step is left for fast-json-patch to report.
    if (!Object.prototype.hasOwnProperty.call(record, key)) return { root, parent: undefined };
    const old = record[key];
    const child = own(old);
    if (child !== old) {
      record[key] = child;
      if (changes && !changes.fresh.has(record)) changes.undo.push(() => (record[key] = old));
    }
    node = child;
  }
  return { root, parent: undefined };
}

/**
 * What puts back the change `op` is about to make to `parent`, a container changed in
 * place; called before the change, kept only once it succeeded.
 *
 * @param {Operation} op an add, remove or replace
 * @param {unknown} parent
 * @returns {(() => void) | null}
 */
function inverse(op, parent) {
  if (!isContainer(parent)) return null;
  const key = tokens(op.path).at(-1) ?? "";
  if (Array.isArray(parent)) {
    const i = key === "-" ? parent.length : Number(key);
    if (op.op === "add") return () => parent.splice(i, 1);
    const old = parent[i];
    return op.op === "remove" ? () => parent.splice(i, 0, old) : () => (parent[i] = old);
  }
  const record = /** @type {Record<string, unknown>} */ (parent);
  const had = Object.prototype.hasOwnProperty.call(record, key);
  const old = record[key];
  if (op.op !== "remove") return had ? () => (record[key] = old) : () => delete record[key];
  // Put back in its place: the keys that followed it go behind it again.
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
 * fast-json-patch's validator checks the document by deep-cloning it for
 * `move` and `copy`; we check `from` ourselves in `walk`, and keep only its
 * document-free shape check plus the cheap path checks.
 *
 * @param {Operation} op
 * @param {number} index
 * @param {unknown} _doc
 * @param {string} existing the longest prefix of `op.path` that exists
 */
function check(op, index, _doc, existing) {
  validator(/** @type {any} */ (op), index);
  if (op.op === "add") {
    const depth = op.path.split("/").length;
    const known = existing.split("/").length;
    if (depth !== known && depth !== known + 1) throw new PatchError(`cannot add at ${JSON.stringify(op.path)}: its parent does not exist`);
  } else if ((op.op === "replace" || op.op === "remove") && op.path !== existing) {
    throw new PatchError(`cannot ${op.op} ${JSON.stringify(op.path)}: no such location`);
  }
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
  for (const [index, op] of patch.entries()) {
    try {
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

/**
 * One add, remove, replace or test, on containers the patch may change.
 *
 * @param {unknown} root
 * @param {Operation} op
 * @param {number} index the operation's place in its patch
 * @param {Changes} changes
 * @returns {unknown} the new root
 */
function step(root, op, index, changes) {
  /** @type {(() => void) | null} */
  let undo = null;
  // A root operation replaces the document: nothing to copy.
  if (op.path !== "") {
    const walked = walk(root, op.path, op.op === "add", op.op === "test" ? null : changes);
    root = walked.root;
    if (op.op !== "test" && isContainer(walked.parent) && !changes.fresh.has(walked.parent)) undo = inverse(op, walked.parent);
  }
  root = applyOperation(root, /** @type {any} */ (op), check, true, true, index).newDocument;
  if (undo) changes.undo.push(undo);
  return root;
}
