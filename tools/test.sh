#!/usr/bin/env bash
# Set up (first run: creates .venv and installs requirements-dev.txt) and run the whole test suite.
# Extra arguments go to pytest (e.g. -k stylegan2 -x).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/venv.sh requirements-dev.txt
exec python -m pytest "$@"
