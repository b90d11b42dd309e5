#!/usr/bin/env bash
# The findings corpus, in the manner of clippy's lintcheck: runs `modrace check --format json`
# on releases of the public kernel history and writes, per tree, the sorted list of findings as
# (rule, file, line, function, slot) to tests/corpus/linux-TAG.tsv. No message text, no kernel
# code: only derived facts. A change that moves findings shows as a diff of these files.
#
# Usage: bench/corpus.sh GITDIR [TREES_DIR] [TAG...]
#   GITDIR     the git directory of schwabe/davej-history (the search tool's `fetch` gives it)
#   TREES_DIR  where trees are extracted (default: ${TMPDIR:-/tmp}/modrace-trees); existing
#              trees there are reused
#   TAG...     default: 2.0.40 2.2.26 2.3.41 2.4.0-test1 2.4.0-prerelease
# MODRACE (env) names the binary; default: the release build of this checkout.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ]; then sed -n 2,12p "$0" >&2; exit 2; fi
git_dir=$1
trees=${2:-${TMPDIR:-/tmp}/modrace-trees}
shift $(($# < 2 ? $# : 2))
tags=("$@")
[ ${#tags[@]} -gt 0 ] || tags=(2.0.40 2.2.26 2.3.41 2.4.0-test1 2.4.0-prerelease)
bin=${MODRACE:-$here/target/release/modrace}
if [ -z "${MODRACE:-}" ]; then (cd "$here" && cargo build --release --quiet); fi
mkdir -p "$trees" "$here/tests/corpus"
for tag in "${tags[@]}"; do
  tree=$trees/linux-$tag
  if [ ! -d "$tree" ]; then
    rm -rf "$tree.partial" && mkdir -p "$tree.partial"
    git -C "$git_dir" archive "$tag" | tar -x -C "$tree.partial"
    mv "$tree.partial" "$tree"
  fi
  out=$here/tests/corpus/linux-$tag.tsv
  status=0
  "$bin" -q check "$tree" --format json >"$out.json" || status=$?
  if [ "$status" -gt 1 ]; then echo "modrace failed on $tag (exit $status)" >&2; exit 1; fi
  if ! jq -e '.version == 1' "$out.json" >/dev/null; then
    echo "modrace's JSON is not version 1 (schema/check.schema.json); update this script" >&2
    exit 1
  fi
  {
    printf 'rule\tfile\tline\tfunction\tslot\n'
    jq -r '.findings[] | [.rule, .file, (.line | tostring), .function, (.slot // "")] | @tsv' \
      "$out.json" | LC_ALL=C sort
  } >"$out"
  rm -f "$out.json"
  printf '%s\t%s findings\n' "$tag" "$(($(wc -l <"$out") - 1))"
done
