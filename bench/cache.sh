#!/usr/bin/env bash
# Times the fact cache and the whole-run memo (issue 17) on a kernel tree, against a bare
# tree-sitter parse of the same files in the same session.
# Usage: bench/cache.sh TREE [RUNS] [PROFILE]. PROFILE is a cargo profile (default: release).
# The tree is copied to a temporary directory first (a file of the copy is edited), and the
# cache is a temporary directory too: the user's cache is neither read nor written.
# Prints a markdown table (best and median wall, median user and system CPU, peak RSS) and the
# size of the cache, and fails if a cached output differs from an uncached one.
set -euo pipefail
src=$1
runs=${2:-5}
profile=${3:-release}
here=$(cd "$(dirname "$0")/.." && pwd)
(cd "$here" && cargo build --profile "$profile" --quiet)
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
bin=$here/target/$dir/modrace
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/tree
cache=$work/cache
cp -r "$src" "$tree"
edit=$(cd "$tree" && find . -name '*.c' | sort | sed -n 1p)
stats() { # label, then the command -> a table row
  local label=$1
  shift
  : >"$work/all"
  for _ in $(seq "$runs"); do
    # A change to the code, not a comment: the file's facts change with its bytes.
    [ "$label" = "warm, one file edited" ] &&
      echo "int modrace_bench_$RANDOM(void) { return 0; }" >>"$tree/$edit"
    [ "$label" = "warm facts, no stored result" ] && rm -rf "$cache/v1/memo"
    /usr/bin/time -o "$work/t" -f "%e %U %S %M" "$@" >/dev/null 2>/dev/null || true
    tail -1 "$work/t" >>"$work/all"
  done
  sort -n "$work/all" | awk -v l="$label" '{w[NR]=$1; u[NR]=$2; s[NR]=$3; if ($4>m) m=$4}
    END {n=NR; mid=int((n+1)/2);
      printf "| %s | %s s | %s s | %s s | %s s | %d MB |\n", l, w[1], w[mid], u[mid], s[mid], m/1024}'
}
echo "| run | best wall | median wall | median user | median system | peak RSS |"
echo "|---|---|---|---|---|---|"
stats "bare parse (stats --bare)" "$bin" -q stats --bare "$tree"
stats "check, no cache" "$bin" -q --no-cache check "$tree" --format json
rm -rf "$cache"
/usr/bin/time -o "$work/t" -f "%e %U %S %M" "$bin" -q --cache-dir "$cache" check "$tree" --format json >"$work/cold.json" || true
tail -1 "$work/t" | awk '{printf "| check, cold cache (one run) | %s s | %s s | %s s | %s s | %d MB |\n", $1, $1, $2, $3, $4/1024}'
stats "check, warm" "$bin" -q --cache-dir "$cache" check "$tree" --format json
stats "warm facts, no stored result" "$bin" -q --cache-dir "$cache" check "$tree" --format json
stats "warm, one file edited" "$bin" -q --cache-dir "$cache" check "$tree" --format json
echo
echo "cache: $(du -sb "$cache" | cut -f1) bytes in $(find "$cache" -type f | wc -l) files after the runs (edited file: $edit)"
"$bin" -q --no-cache check "$tree" --format json >"$work/plain.json" || true
"$bin" -q --cache-dir "$cache" check "$tree" --format json >"$work/warm.json" || true
rm -rf "$cache/v1/memo"
"$bin" -q --cache-dir "$cache" check "$tree" --format json >"$work/facts.json" || true
cmp "$work/plain.json" "$work/warm.json"
cmp "$work/plain.json" "$work/facts.json"
echo "outputs: warm and facts-only runs byte-identical to an uncached run"
