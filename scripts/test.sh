#!/usr/bin/env bash
# The whole test suite, from scratch: setup, then lint, types, JS tests, Python tests.
# The same command runs in CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== ruff"
.venv/bin/ruff check nb_sse_signals tests bench
.venv/bin/ruff format --check nb_sse_signals tests bench scripts README.md docs  # the docs' Python blocks too
echo "== import layers (import-linter)"
.venv/bin/lint-imports --no-cache
echo "== mypy --strict"
.venv/bin/mypy
echo "== js: tsc --checkJs, node --test"
(cd js && npm run --silent typecheck && npm test --silent)
echo "== pytest"
.venv/bin/pytest "$@"
