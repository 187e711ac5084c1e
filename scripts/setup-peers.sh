#!/usr/bin/env bash
# Creates the Python peers' virtual environment in .venv-peers (git-ignored) from the
# pinned requirements. Idempotent: a venv whose requirements stamp matches is reused.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$here/.venv-peers"
req="$here/peers/python/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
# A second, small venv inside the first (so it is git-ignored with it): rpyc 5.x, for the RPyC
# cross-version interop tests.
setup_rpyc5() {
  local v5="$venv/rpyc5" req5="$here/peers/python/requirements-rpyc5.txt"
  local want5
  want5="$(sha256sum "$req5" | cut -d' ' -f1)"
  if [ -x "$v5/bin/python" ] && [ "$(cat "$v5/.requirements.sha256" 2>/dev/null)" = "$want5" ]; then return; fi
  python3 -m venv "$v5"
  "$v5/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req5"
  echo "$want5" > "$v5/.requirements.sha256"
  echo "peers: installed rpyc 5 into $v5"
}
trap 'if [ $? -eq 0 ]; then setup_rpyc5; fi' EXIT
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "peers: $venv is up to date"
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
echo "peers: installed $(grep -cv "^#" "$req") pinned requirements into $venv"
