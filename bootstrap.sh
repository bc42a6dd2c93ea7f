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
# The foundry PDK (layout.pdk: cspdk): cspdk 1.4.2 declares gdsfactory~=9.34 but works with our 9.45.0,
# so it goes in without its declared dependencies (pip cannot say --no-deps in an extra).
.venv/bin/python -m pip install -q --no-deps cspdk==1.4.2 doroutes==0.3.0 gplugins==2.0.1
# --test: also the headless browser that the report test opens report.html in (best effort: root + apt)
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "bootstrap: chromium not installed; the browser test will be skipped" >&2
  else
    echo "bootstrap: no chromium (needs root + apt-get); the browser test will be skipped" >&2
  fi
fi
