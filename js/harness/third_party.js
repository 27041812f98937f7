// A third-party stack following a stream of ours, for the Python tests: the npm
// `eventsource` client (a WHATWG EventSource: reconnects after `retry:`, sends the
// last id as Last-Event-ID) and the `rfc6902` JSON Patch library. None of this
// package's own client code runs here.
//
//   node js/harness/third_party.js EVENTS_URL   (with its ?signal=...&token=...)
//
// Prints one JSON line per event applied: {name, rev, value, id, snapshot}. A
// revision gap or a patch that does not apply prints {error} and exits 1. It exits
// when its stdin closes, so a parent that dies takes it along.
import { EventSource } from "eventsource";
import { applyPatch } from "rfc6902";

const [url] = process.argv.slice(2);
if (!url) {
  process.stderr.write("usage: node js/harness/third_party.js EVENTS_URL\n");
  process.exit(2);
}

/** @param {unknown} line */
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

/** @param {string} error */
const fail = (error) => {
  print({ error });
  process.exit(1);
};

/** @type {Map<string, any>} */
const values = new Map();
/** @type {Map<string, number>} */
const revs = new Map();
const source = new EventSource(url);

source.onmessage = (event) => {
  const { name, rev, patch } = JSON.parse(event.data);
  // A snapshot is one root replace: it replaces the value whatever the revision.
  // rfc6902 patches in place, so a root replace is not one of its operations.
  const snapshot = patch.length === 1 && patch[0].op === "replace" && patch[0].path === "";
  if (snapshot) {
    values.set(name, patch[0].value);
  } else {
    const have = revs.get(name);
    if (have === undefined || rev !== have + 1) fail(`${name}: expected rev ${have} + 1, got ${rev}`);
    const errors = applyPatch(values.get(name), patch).filter((e) => e !== null);
    if (errors.length) fail(`${name}: patch of rev ${rev} does not apply: ${errors.join("; ")}`);
  }
  revs.set(name, rev);
  print({ name, rev, value: values.get(name), id: event.lastEventId, snapshot });
};

process.stdin.resume();
process.stdin.on("end", () => {
  source.close();
  process.exit(0);
});
