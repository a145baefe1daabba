#!/usr/bin/env bash
# tools/test.sh — build and run the whole test suite, twice: a normal
# optimised build (build/) and an ASan+UBSan debug build with clang (build-asan/,
# model invariants checked after every operation, the reader fuzzed for a
# bounded time). This is the command CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" >/dev/null
(cd build && ctest --output-on-failure -j"$jobs")

CC=clang CXX=clang++ cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
    -DALLOCSIM_SANITIZE=ON -DALLOCSIM_FUZZ=ON >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
(cd build-asan && ctest --output-on-failure -j"$jobs")
