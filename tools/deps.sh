#!/usr/bin/env bash
# tools/deps.sh [--bench] — install the Debian packages allocsim needs, if any
# are missing. Idempotent and silent when everything is there.
#   build + tests: compiler, cmake, libzstd, libunwind, cmocka, Python headers,
#                  clang (libFuzzer + sanitizers), the allocators native replay
#                  compares against (jemalloc, tcmalloc, mimalloc).
#   --bench:       also mercurial, heaptrack, hyperfine, zstd (bench/ scripts).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libzstd-dev libunwind-dev libcmocka-dev
      python3-dev python3 clang libclang-rt-14-dev libjemalloc2 libtcmalloc-minimal4
      libmimalloc2.0)
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(mercurial heaptrack hyperfine zstd git time)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "allocsim: installing ${missing[*]}" >&2
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
