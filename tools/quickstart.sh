#!/usr/bin/env bash
# tools/quickstart.sh — install what is missing, build, and run the main job on
# the bundled workload (bench/workloads/fragdemo.c: long-lived small blocks pin
# the top of the brk heap, so RSS stays high after most memory is freed):
# record it once, summarize the trace, then replay it through every model.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
out=$(mktemp -d)
./build/allocsim record -o "$out/demo" -- ./build/bench/bench-fragdemo
./build/allocsim info "$out"/demo.*.ast
echo
./build/allocsim replay "$out"/demo.*.ast \
    --model ideal --model mmap-threshold --model glibc \
    --model glibc:mmap_threshold=64K,trim_threshold=128K --model glibc:arena_max=1
echo
echo "trace kept in $out; try: build/allocsim replay $out/demo.*.ast --sweep 'glibc:mmap_threshold=16K,64K,256K,1M'"
