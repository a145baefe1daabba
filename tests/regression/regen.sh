#!/usr/bin/env bash
# tests/regression/regen.sh [BUILD_DIR] — rebuilds allocsim and as-gen-trace
# and rewrites tests/regression/results.csv (trace x model x params -> peak
# RSS, peak live). Run it when a model's prediction changes on purpose, and
# commit the new table with the change so the difference shows in review.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" -j"$(nproc)" --target allocsim as-gen-trace >/dev/null
exec "$root/tests/regression/regress.sh" "$build" --regen
