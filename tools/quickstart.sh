#!/usr/bin/env bash
# tools/quickstart.sh — install what is missing, build, and run the main job on
# the bundled workload: record it, then summarize the trace.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
out=$(mktemp -d)
./build/allocsim record -o "$out/demo" -- ./build/bench/bench-fragdemo
./build/allocsim info "$out"/demo.*.ast
