// A JS subscriber for the Python tests: the browser client's own code
// (connection.js's ConnectionPool and the Signal of signal.js, exactly what
// the widget's pool runs) following one signal from Node, printing each value
// and status it shows as one JSON line on stdout.
//
//   node js/harness/follow.js BASE NAME [TOKEN]
//
// Node 20 has fetch (used for the snapshot endpoint) but no EventSource; the
// `eventsource` package (a devDependency) is a WHATWG-conformant one on fetch:
// reconnects after `retry:`, sends Last-Event-ID, CLOSED on a non-200. It lives
// outside test/ because `node --test test/` runs every file there as a test.
// It exits when its stdin closes, so a parent that dies takes it along.
import { EventSource } from "eventsource";
import { ConnectionPool } from "../src/connection.js";

const [base, name, token = ""] = process.argv.slice(2);
if (!base || !name) {
  process.stderr.write("usage: node js/harness/follow.js BASE NAME [TOKEN]\n");
  process.exit(2);
}

/** @param {unknown} line */
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const pool = new ConnectionPool({
  // The package's class has the DOM's shape; its typings differ only in detail.
  EventSource: /** @type {typeof globalThis.EventSource} */ (/** @type {unknown} */ (EventSource)),
  log: { error: (...data) => console.error(...data), warn: (...data) => console.error(...data) },
});
const leave = pool.join(base, name, (event) => print(event), { token });

process.stdin.resume();
process.stdin.on("end", () => {
  leave();
  process.exit(0);
});
