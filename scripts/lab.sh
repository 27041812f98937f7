#!/usr/bin/env bash
# Sets everything up and opens the quickstart notebook in JupyterLab (the server
# extension is enabled by the install). Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
NB_SSE_SIGNALS_SKIP_BROWSER=1 bash scripts/setup.sh
extra=()
[ "$(id -u)" -ne 0 ] || extra+=(--allow-root)
cd notebooks
exec ../.venv/bin/jupyter lab "${extra[@]}" "$@" quickstart.ipynb
