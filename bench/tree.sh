#!/usr/bin/env bash
# Times the dist binary (fat LTO: `cargo build --profile dist`) on a kernel tree against a bare tree-sitter parse of the same files.
# Usage: bench/tree.sh TREE [RUNS]. Prints a markdown table: the best and the median wall time
# of RUNS runs, the median user time, peak RSS, and the median wall relative to the bare parse
# measured in the same session. Set MODRACE_TIMINGS=1 to see where one run spends its time.
# Every run parses the whole tree (--no-cache); bench/cache.sh times the cache.
set -euo pipefail
tree=$1
runs=${2:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
(cd "$here" && cargo build --profile dist --quiet)
bin=$here/target/dist/modrace
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
stats() { # command... -> "best_wall median_wall median_user max_rss_kb"
  : >"$tmp.all"
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$tmp" -f "%e %U %M" "$@" >/dev/null 2>/dev/null || true
    tail -1 "$tmp" >>"$tmp.all"
  done
  sort -n "$tmp.all" | awk '{w[NR]=$1; u[NR]=$2; if ($3>m) m=$3}
    END {n=NR; mid=int((n+1)/2); printf "%s %s %s %s\n", w[1], w[mid], u[mid], m}'
  rm -f "$tmp.all"
}
bare=$(stats "$bin" -q stats --bare "$tree")
read -r _ bare_median _ _ <<<"$bare"
echo "| command | best wall | median wall | median user | peak RSS | median wall / bare parse |"
echo "|---|---|---|---|---|---|"
for cmd in "stats --bare" "stats" "entries" "bkl" "check"; do
  if [ "$cmd" = "stats --bare" ]; then r=$bare; else
    # shellcheck disable=SC2086
    r=$(stats "$bin" -q --no-cache $cmd "$tree"); fi
  read -r best median user rss <<<"$r"
  ratio=$(awk -v a="$median" -v b="$bare_median" 'BEGIN{printf "%.2f", a/b}')
  echo "| \`modrace $cmd $(basename "$tree")\` | ${best} s | ${median} s | ${user} s | $((rss / 1024)) MB | ${ratio} |"
done
