#!/usr/bin/env bash
# Sets up a development environment from scratch: system packages (Chromium for the
# browser tests, redis-server for the backplane's), a virtualenv in .venv, the package
# in editable mode (which builds the front end with npm), and the JS dev tools. Safe
# to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs npm)
# The README's shell examples use curl, and tests/test_readme.py runs them.
command -v curl >/dev/null || need_apt+=(curl)
[ "${NB_SSE_SIGNALS_SKIP_BROWSER:-0}" = 1 ] || [ -x /usr/bin/chromium ] || need_apt+=(chromium)
# The Redis backplane's tests run a real redis-server (tests/test_redis.py).
[ -x /usr/bin/redis-server ] || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need_apt[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
  # The tests start their own redis-server on a free port: the package's service
  # (if the install started one) must not keep running.
  if [[ " ${need_apt[*]} " == *" redis-server "* ]]; then
    $sudo service redis-server stop >/dev/null 2>&1 || true
  fi
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Editable install: hatch-jupyter-builder runs `npm install` and `npm run build` in js/.
.venv/bin/python -m pip install -q -e ".[test]"
(cd js && npm ci --no-audit --no-fund --loglevel=error)
# The Pyodide runtime (JupyterLite's kernel, run under Node) and pure wheels of what the
# package needs there, from npm and PyPI: tests/test_pyodide.py installs the package in it.
(cd tests/pyodide && npm ci --no-audit --no-fund --loglevel=error)
.venv/bin/python tests/pyodide/fetch_wheels.py
echo "setup: done"
