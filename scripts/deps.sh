#!/usr/bin/env bash
# Installs the Debian 12 packages Marionette needs to build and test, only
# those that are missing. Run as root (or with sudo available).
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config
  libseccomp-dev libcapstone-dev catch2 libfmt-dev libcli11-dev
  # programs nobody here wrote, used by the integration tests and examples
  python3 sqlite3 coreutils faketime strace iproute2 util-linux bc
)

missing=()
for pkg in "${packages[@]}"; do
  [[ $pkg == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "marionette: installing missing packages: ${missing[*]}" >&2
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
