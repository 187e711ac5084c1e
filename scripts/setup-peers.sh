#!/usr/bin/env bash
# Creates the Python peers' virtual environments (git-ignored, under .venv-peers/) from pinned
# requirements, and installs the Debian packages the peers need. Idempotent: a venv whose
# requirements stamp matches is reused, a package already installed is not reinstalled.
#
#   peers/python/requirements.txt         -> .venv-peers          (the shared venv)
#   peers/python/requirements-rpyc5.txt   -> .venv-peers/rpyc5    (rpyc 5, beside rpyc 6)
#   peers/python/<dir>/requirements.txt   -> .venv-peers/<dir>    (a peer whose pins conflict
#                                                                  with the shared ones)
#   peers/python/<dir>/apt.txt            -> apt-get install      (one package per line)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$here/.venv-peers"

# make_venv DIR REQUIREMENTS: (re)creates DIR unless its stamp matches the requirements file.
make_venv() {
  local dir="$1" req="$2" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
    echo "peers: $dir is up to date"
    return
  fi
  python3 -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$dir/.requirements.sha256"
  echo "peers: installed $(grep -cv '^\s*\(#\|$\)' "$req") pinned requirements into $dir"
}

# Debian packages named by the peers' apt.txt files, installed only when missing.
missing=()
for list in "$here"/peers/python/*/apt.txt; do
  [ -f "$list" ] || continue
  while read -r pkg; do
    pkg="${pkg%%#*}"; pkg="${pkg//[[:space:]]/}"
    [ -n "$pkg" ] || continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done < "$list"
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "peers: apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

make_venv "$venv" "$here/peers/python/requirements.txt"
make_venv "$venv/rpyc5" "$here/peers/python/requirements-rpyc5.txt"
for req in "$here"/peers/python/*/requirements.txt; do
  [ -f "$req" ] || continue
  name="$(basename "$(dirname "$req")")"
  make_venv "$venv/$name" "$req"
done
