// Runs a Python file in the Pyodide runtime (what JupyterLite's kernel runs) under Node,
// with wheels unpacked into it the way micropip would install them (no network: the
// wheels are files). Usage: node run.mjs SCRIPT.py WHEEL...
// The script's stdout is ours; a Python exception exits non-zero with its traceback.
import { readFileSync } from "node:fs";
import { loadPyodide } from "pyodide";

const [script, ...wheels] = process.argv.slice(2);
const pyodide = await loadPyodide({ stdout: (line) => console.log(line) });
for (const wheel of wheels) {
  // unpackArchive refuses a Node Buffer: give it a plain Uint8Array.
  pyodide.unpackArchive(new Uint8Array(readFileSync(wheel)), "wheel");
}
try {
  await pyodide.runPythonAsync(readFileSync(script, "utf8"), { filename: script });
} catch (error) {
  console.error(String(error));
  process.exit(1);
}
