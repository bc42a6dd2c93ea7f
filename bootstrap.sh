#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment in .venv.
# torch==2.13.0 goes in first: that pin is a CPU wheel; an open range would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
.venv/bin/python -m pip install -q -c constraints.txt "torch==2.13.0"
.venv/bin/python -m pip install -q -c constraints.txt -e ".[test,sweep]"
# --test: also the headless browser that the report test opens report.html in (best effort: root + apt)
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "bootstrap: chromium not installed; the browser test will be skipped" >&2
  else
    echo "bootstrap: no chromium (needs root + apt-get); the browser test will be skipped" >&2
  fi
fi
