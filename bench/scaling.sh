#!/usr/bin/env bash
# The scaling table of BENCHMARKS.md: for each tree, its files, bytes and functions (as the
# bare parse counts them), and the wall time, CPU (user + system) and peak RSS of `check` and
# of a bare tree-sitter parse of the same files (`stats --bare`), one run each, one after the
# other.
# Usage: bench/scaling.sh TREE... (BIN=path/to/modrace to time another binary; the default
# is target/release/modrace, built first).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${BIN:-}" ]; then
  (cd "$here" && cargo build --release --quiet)
  BIN=$here/target/release/modrace
fi
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.out"' EXIT
timed() { # command... -> "wall cpu rss_kb"; the command's output goes to $tmp.out
  /usr/bin/time -o "$tmp" -f "%e %U %S %M" "$@" >"$tmp.out" 2>/dev/null || true
  tail -1 "$tmp" | awk '{printf "%s %.1f %s\n", $1, $2 + $3, $4}'
}
echo "| tree | files | bytes | functions | check wall | check CPU | check peak RSS | bare parse wall | bare CPU | bare RSS | check / bare (wall) | check / bare (CPU) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for tree in "$@"; do
  read -r bw bc brss < <(timed "$BIN" -q --no-cache stats --bare "$tree" --format json)
  read -r files bytes functions < <(awk -F'[:,]' \
    '/"files"/{f=$2} /"bytes"/{b=$2} /"functions"/{n=$2} END{print f+0, b+0, n+0}' "$tmp.out")
  read -r cw cc crss < <(timed "$BIN" -q --no-cache check "$tree")
  ratio=$(awk -v a="$cw" -v b="$bw" 'BEGIN{printf "%.2f", a/b}')
  cpu_ratio=$(awk -v a="$cc" -v b="$bc" 'BEGIN{printf "%.2f", a/b}')
  printf '| %s | %s | %s MB | %s | %s s | %s s | %s MB | %s s | %s s | %s MB | %s | %s |\n' \
    "$(basename "$tree")" "$files" "$(awk -v b="$bytes" 'BEGIN{printf "%.1f", b/1e6}')" \
    "$functions" "$cw" "$cc" "$((crss / 1024))" "$bw" "$bc" "$((brss / 1024))" "$ratio" \
    "$cpu_ratio"
done
