#!/usr/bin/env bash
# Timed trials of `check --fix` against a concurrent writer (issue 19): each trial copies the
# owners fixture, starts a writer that appends numbered lines to the file the fix rewrites
# (opening it by path for every line, as `>>` does), runs `modrace check --fix`, and then
# counts the lines the writer appended that the file no longer holds. A fix either refuses the
# changed file or lands before the appends; it must never replace them with its older text.
# Usage: bench/fix-race.sh [TRIALS] (default 200). Prints trials, lost lines, refused fixes.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
trials=${1:-200}
bin=${MODRACE:-$here/target/release/modrace}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
lost_trials=0 lost_lines=0 refused=0 fixed=0
for t in $(seq "$trials"); do
  rm -rf "$work/tree"; cp -r "$here/tests/fixtures/owners" "$work/tree"
  target=$work/tree/drivers/misc/frob.c
  : > "$work/written"
  (
    for i in $(seq 1 40); do
      echo "/* appended $i */" >> "$target"; echo "$i" >> "$work/written"
      sleep 0.00$((RANDOM % 5))
    done
  ) & writer=$!
  sleep 0.00$((RANDOM % 9))
  out=$("$bin" -q --no-cache check "$work/tree" --fix 2>&1 || true)
  wait "$writer"
  case "$out" in *"not fixed drivers/misc/frob.c"*) refused=$((refused + 1)) ;; *) fixed=$((fixed + 1)) ;; esac
  missing=0
  while read -r i; do
    grep -q "^/\* appended $i \*/\$" "$target" || missing=$((missing + 1))
  done < "$work/written"
  if [ "$missing" -gt 0 ]; then lost_trials=$((lost_trials + 1)); lost_lines=$((lost_lines + missing)); fi
done
echo "trials=$trials fix_landed_or_other=$fixed refused=$refused trials_with_lost_lines=$lost_trials lost_lines=$lost_lines"
