#!/usr/bin/env bash
# Set up (first run: creates .venv and installs requirements.txt) and start the app on http://127.0.0.1:7860.
# Extra arguments go to app.py (e.g. --port 8000 --share).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/venv.sh requirements.txt
exec python app.py "$@"
