#!/usr/bin/env bash
# Times the release binary on a kernel tree against a bare tree-sitter parse of the same files.
# Usage: bench/tree.sh TREE [RUNS]. Prints a markdown table: best-of-RUNS wall, its user time,
# peak RSS, and wall relative to the bare parse measured in the same session.
set -euo pipefail
tree=$1
runs=${2:-3}
bin=$(dirname "$0")/../target/release/modrace
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
best() { # command... -> "wall user rss" of the fastest run
  local best_line=""
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$tmp" -f "%e %U %M" "$@" >/dev/null 2>/dev/null || true
    line=$(tail -1 "$tmp")
    if [ -z "$best_line" ] || awk -v a="${line%% *}" -v b="${best_line%% *}" 'BEGIN{exit !(a<b)}'; then
      best_line=$line
    fi
  done
  echo "$best_line"
}
bare=$(best "$bin" -q stats --bare "$tree")
bare_wall=${bare%% *}
echo "| command | wall | user | peak RSS | wall / bare parse |"
echo "|---|---|---|---|---|"
for cmd in "stats --bare" "stats" "entries" "bkl" "why-sleeps request_irq --tree" "check"; do
  if [ "$cmd" = "stats --bare" ]; then r=$bare; else
    # shellcheck disable=SC2086
    r=$(best "$bin" -q $cmd "$tree"); fi
  read -r wall user rss <<<"$r"
  ratio=$(awk -v a="$wall" -v b="$bare_wall" 'BEGIN{printf "%.2f", a/b}')
  echo "| \`modrace $cmd $(basename "$tree")\` | ${wall} s | ${user} s | $((rss / 1024)) MB | ${ratio} |"
done
