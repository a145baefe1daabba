#!/usr/bin/env bash
# tests/regression/regress.sh BUILD_DIR [--regen]
# The regression table (zstd tests/regression style): every trace in traces/
# (*.ast, recorded) plus two deterministic synthetic traces written by
# as-gen-trace, through every registered model with its defaults and an
# mmap-threshold sweep -> trace,model,params,peak_rss,peak_live.
# Without --regen: compares with tests/regression/results.csv (exit 1 and a
# diff on any change). With --regen: rewrites results.csv.
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
regen=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$build/as-gen-trace" "$tmp/gen-churn.ast" churn 200000 1
"$build/as-gen-trace" "$tmp/gen-phases.ast" phases 100000 2
traces=("$tmp/gen-churn.ast" "$tmp/gen-phases.ast")
for t in "$root"/traces/*.ast; do
  [ -e "$t" ] && traces+=("$t")
done

out="$tmp/results.csv"
echo "trace,model,params,peak_rss,peak_live" >"$out"
for t in "${traces[@]}"; do
  name=$(basename "$t")
  "$build/allocsim" replay "$t" -j 2 --format csv \
      $(for m in $("$build/allocsim" replay --help | sed -n '/^models:/,/^$/p' | awk '/^  [a-z]/{print $1}'); do
          echo "--model $m"; done) \
      --sweep 'mmap-threshold:mmap_threshold=64K,1M' --model mmap-threshold:mmap_max=0 \
      --model mmap-threshold:top_pad=0,trim_threshold=0 >"$tmp/one.csv"
  # Columns by name, so new result fields do not shift anything.
  awk -F, -v name="$name" 'NR==1{for(i=1;i<=NF;i++)c[$i]=i; next}
      {print name "," $c["model"] "," $c["params"] "," $c["peak_rss"] "," $c["peak_live"]}' \
      "$tmp/one.csv" >>"$out"
done

if [ "$regen" = "--regen" ]; then
  cp "$out" "$here/results.csv"
  echo "wrote $here/results.csv ($(($(wc -l <"$out") - 1)) rows)"
  exit 0
fi
if ! diff -u "$here/results.csv" "$out"; then
  echo "regression table changed: review, then run tests/regression/regen.sh" >&2
  exit 1
fi
echo "regression table: $(($(wc -l <"$out") - 1)) rows match"
