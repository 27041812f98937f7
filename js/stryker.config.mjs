// StrykerJS for one module at a time (scripts/mutate.py sets which, and its tests).
// node:test has no Stryker runner of its own, so the command runner runs the
// module's test files per mutant (no per-test coverage: every test runs), all in
// one process: `node --test` starts one per file, which for the eight files of the
// tab modules cost more than the tests did (9.3 s a mutant against 3.9 s here).
// node:test sets a failing exit code when a test fails either way.
// STRYKER_MUTATE: a file, or several "file:lines" ranges separated by commas.
const mutate = process.env.STRYKER_MUTATE ?? "src/signal.js";
const tests = process.env.STRYKER_TESTS ?? "test/signal.test.js";
const name = mutate.split(",")[0].split(":")[0].split("/").at(-1);

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  mutate: mutate.split(","),
  testRunner: "command",
  commandRunner: { command: `node --input-type=module -e '${tests.split(" ").map((test) => `import "./${test}";`).join(" ")}'` },
  coverageAnalysis: "off",
  concurrency: 1, // two cores, shared
  // Added to the time the tests took unmutated: a mutant that makes a fake-clock test
  // loop for ever is caught in seconds, not a minute (the slowest run here is ~6 s).
  timeoutMS: 15_000,
  reporters: ["json", "progress-append-only"],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  // In place (restored afterwards): the tests read files beside js/ (the shared
  // vectors in ../tests, the RFC 6902 suite in ../../shared) by relative path,
  // which a sandbox copy of js/ would break. Do not edit js/src during a run.
  inPlace: true,
  // Leave every other file as it is (nothing is type-checked during a run): in place,
  // a run that is stopped cannot put back the "// @ts-nocheck" it would add to them.
  disableTypeChecks: false,
  tempDirName: ".stryker-tmp",
  // Stryker would rewrite tsconfig.json through TypeScript's JS API, which
  // TypeScript 7 (native) has not got; nothing here is compiled, so skip it.
  tsconfigFile: "no-tsconfig-for-stryker.json",
  cleanTempDir: true,
};
