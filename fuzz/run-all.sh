#!/bin/sh
# run-all.sh BUILD_FUZZ_DIR - run every fuzz target for FUZZ_SECONDS on its corpus.
set -eu
dir=$1; here=$(cd "$(dirname "$0")" && pwd)
for f in "$dir"/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f"); corpus="$here/corpus/${name#fuzz_}"
  [ -d "$corpus" ] || { echo "$name has no seed corpus: add fuzz/corpus/${name#fuzz_}/" >&2; exit 1; }
  echo "== $name (${FUZZ_SECONDS:-10}s)"
  "$here/run-one.sh" "$f" "$corpus"
done
