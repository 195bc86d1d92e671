#!/usr/bin/env bash
# Create (or reuse) the project virtualenv in .venv and install the given requirements file into it, constrained by
# requirements.lock (the whole tested dependency tree, exact versions), so every fresh machine gets the set the suite
# was run with. Re-running is cheap: pip is skipped when none of those files changed since the last install.
# Usage: source tools/venv.sh requirements.txt
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
req="${1:-requirements.txt}"
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating virtualenv in $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
fi
stamp="$venv/.installed-$(basename "$req")"
want="$(cat "$root/requirements.txt" "$root/$req" "$root/requirements.lock" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing $req (first run takes a few minutes)" >&2
  # (this machine's pip config names local wheel folders that may be absent: drop those warnings only)
  status=0
  (cd "$root" && "$venv/bin/python" -m pip install -q -r "$req" -c requirements.lock) > "$venv/pip.log" 2>&1 || status=$?
  grep -v "^WARNING: Location 'file://" "$venv/pip.log" >&2 || true
  if [ "$status" -ne 0 ]; then
    echo "[setup] pip failed (exit $status); see $venv/pip.log" >&2
    exit "$status"
  fi
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
