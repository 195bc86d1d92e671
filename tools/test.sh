#!/usr/bin/env bash
# Set up (first run: creates .venv, installs requirements-dev.txt and Debian's chromium for the browser tests)
# and run the whole test suite. Extra arguments go to pytest (e.g. -k stylegan2 -x).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/venv.sh requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing chromium for the browser tests" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
      || echo "[setup] could not install chromium: the browser tests will be skipped" >&2
  else
    echo "[setup] chromium not found (install Debian's 'chromium' package): the browser tests will be skipped" >&2
  fi
fi
exec python -m pytest "$@"
