// RFC 6902 application that never modifies its input: the path signal.js
// uses, and the one the shared conformance suite runs through.
//
// fast-json-patch applies operations in place and, on failure, leaves the
// document half-modified; applying with its own copy deep-clones the whole
// document. Instead, before each operation we shallow-copy the containers on
// the path it touches (copy-on-write), then let fast-json-patch mutate those
// copies. The old document is never touched, untouched subtrees stay shared
// (views compare by identity), and the cost is the depth × width of the
// touched containers, not the size of the document.
import { applyOperation, validator } from "fast-json-patch/module/core.mjs";
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
  return pointer.slice(1).split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
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
 * Walk `pointer` in `root`, checking array indices strictly (fast-json-patch
 * accepts "01"). With `fresh`, replace every container on the way to the
 * target's parent by a shallow copy (once per patch) and return the new root.
 *
 * @param {unknown} root
 * @param {string} pointer
 * @param {boolean} dash whether "-" may end the pointer (the target of an add)
 * @param {WeakSet<object> | null} fresh containers already copied for this patch
 * @returns {unknown}
 */
function walk(root, pointer, dash, fresh) {
  /** @param {unknown} node */
  const own = (node) => {
    if (!fresh || !isContainer(node) || fresh.has(node)) return node;
    const copy = Array.isArray(node) ? node.slice() : { ...node };
    fresh.add(copy);
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
      if (last && dash && token === "-") return root;
      if (!INDEX.test(token)) {
        throw new PatchError(`${JSON.stringify(pointer)}: expected an array index, got ${JSON.stringify(token)}`);
      }
      key = Number(token);
    }
    if (last || !isContainer(node)) return root;
    const record = /** @type {Record<string | number, unknown>} */ (node);
    // A missing step is left for fast-json-patch to report.
    if (!Object.prototype.hasOwnProperty.call(record, key)) return root;
    const child = own(record[key]);
    record[key] = child;
    node = child;
  }
  return root;
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
 * Apply an RFC 6902 patch and return the new document. `doc` is never
 * modified, also when the patch fails; unchanged subtrees of the result are
 * the very objects of `doc`. Values from the patch are adopted, not copied.
 *
 * @param {unknown} doc
 * @param {Operation[]} patch
 * @returns {unknown}
 * @throws {PatchError} naming the operation that failed and why
 */
export function applyPatch(doc, patch) {
  if (!Array.isArray(patch)) throw new PatchError("expected the patch to be an array of operations");
  /** @type {WeakSet<object>} */
  const fresh = new WeakSet();
  let root = doc;
  for (const [index, op] of patch.entries()) {
    try {
      validator(/** @type {any} */ (op), index);
      if (op.op === "move" || op.op === "copy") {
        const from = /** @type {string} */ (op.from);
        if (select(root, from) === undefined) throw new PatchError(`no value at "from" ${JSON.stringify(from)}`);
        // RFC 6902 §4.4: a location cannot be moved into one of its children.
        if (op.op === "move" && op.path.startsWith(from + "/")) throw new PatchError("cannot move a value into itself");
        root = walk(root, from, false, op.op === "move" ? fresh : null);
      }
      // A root operation replaces the document: nothing to copy.
      if (op.path !== "") root = walk(root, op.path, op.op === "add", op.op === "test" ? null : fresh);
      root = applyOperation(root, /** @type {any} */ (op), check, true, true, index).newDocument;
    } catch (error) {
      const what = isContainer(op) ? `${String(op.op)} ${JSON.stringify(op.path)}` : "";
      const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
      throw new PatchError(`patch operation ${index} (${what}) failed: ${reason}`, { cause: error });
    }
  }
  return root;
}
