#!/usr/bin/env bash
# Sets everything up and runs the standalone server with its demo signals.
# Open the URL it prints; stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
NB_SSE_SIGNALS_SKIP_BROWSER=1 bash scripts/setup.sh
exec .venv/bin/nb-sse-signals serve --demo "$@"
