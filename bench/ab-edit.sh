#!/usr/bin/env bash
# A/B of two modrace binaries on the run issue 17 bounds: a warm `check` after one file was
# edited. The runs alternate (A, B, A, B, ...), so that a busy host slows both alike: on a
# shared VM the wall time of the same binary drifts by a fifth between minutes, and only an
# interleaved comparison says which binary is faster.
# Usage: bench/ab-edit.sh TREE BIN_A BIN_B [RUNS]. The tree is copied to a temporary
# directory (a file of the copy is edited) and each binary gets its own temporary cache.
# Prints per binary the sorted walls, the user CPU of each run and the peak RSS.
set -euo pipefail
src=$1
a=$(realpath "$2")
b=$(realpath "$3")
runs=${4:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src" "$work/tree"
edit=$(cd "$work/tree" && find . -name '*.c' | sort | sed -n 1p)
check() { "$1" -q --cache-dir "$work/cache-$2" check "$work/tree" --format json -o /dev/null || true; }
check "$a" A
check "$b" B
for i in $(seq "$runs"); do
  for v in A B; do
    bin=$a
    [ "$v" = B ] && bin=$b
    # A change to the code, not a comment: the file's facts change with its bytes.
    echo "int modrace_ab_${i}_$v(void) { return $i; }" >>"$work/tree/$edit"
    /usr/bin/time -o "$work/t" -f "$v %e %U %M" \
      "$bin" -q --cache-dir "$work/cache-$v" check "$work/tree" --format json -o /dev/null || true
    tail -1 "$work/t" >>"$work/all"
  done
done
sort -k1,1 -k2n "$work/all" | awk '{w[$1]=w[$1]" "$2; u[$1]=u[$1]" "$3; if ($4>m[$1]) m[$1]=$4}
  END {for (v in w) printf "%s wall%s | user%s | peak RSS %d MB\n", v, w[v], u[v], m[v]/1024}' | sort
echo "A = $a, B = $b, edited: $edit, $runs runs each"
