#!/usr/bin/env bash
# Installs the Debian 12 packages Marionette needs to build and test, only
# those that are missing. Run as root (or with sudo available).
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config
  # nm, readelf, objdump: tests/unit/interpose/trap_path_test.py
  binutils
  libseccomp-dev libcapstone-dev catch2 libfmt-dev libcli11-dev
  # install and packaging: man pages from --help, the .deb (cpack -G DEB, dpkg-shlibdeps)
  help2man dpkg-dev
  # programs nobody here wrote, used by the integration tests and examples
  python3 sqlite3 coreutils faketime strace iproute2 util-linux bc
  # the cluster example and test: redis-server and redis-cli
  redis-server redis-tools
  # a storage engine with background flush and compaction threads (db_bench)
  rocksdb-tools
  # LMDB through Python: shared file mappings (tests/integration/mmap_shared_test.sh)
  python3-lmdb
  # the scale-out recipes' test (docs/scale-out.md): GNU parallel, YAML checks
  parallel python3-yaml
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
  # Packages with services (redis-server) must not start them: the tests
  # run their own copies under simulation. policy-rc.d says so to
  # invoke-rc.d while we install, if the machine has no policy of its own.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod +x "$policy"
    own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ $own_policy -eq 1 ]]; then "${sudo_cmd[@]}" rm -f "$policy"; fi
fi
