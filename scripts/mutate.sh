#!/usr/bin/env bash
# Mutation testing of the core modules (docs/testing.md): installs cosmic-ray and
# StrykerJS if missing, then runs scripts/mutate.py, which writes the scores into
# docs/testing.md and the survivors into mutation-reports/. Not in CI: hours long.
#   bash scripts/mutate.sh                     # every core module, every mutant
#   bash scripts/mutate.sh _patch signal.js    # some modules
#   bash scripts/mutate.sh --sample 100 _hub   # 100 mutants of each, drawn at random
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
.venv/bin/python -m pip install -q -e ".[mutate]"
(cd js && npm ci --no-audit --no-fund --loglevel=error)
exec .venv/bin/python scripts/mutate.py "$@"
