#!/bin/sh
# run-one.sh FUZZER CORPUS_DIR - run one libFuzzer target for FUZZ_SECONDS (default 10) seconds,
# starting from the checked-in corpus; new inputs land in a temp dir that is removed afterwards.
set -eu
fuzzer=$1; corpus=$2
secs=${FUZZ_SECONDS:-10}
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/new"
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/new" "$corpus" 2>"$work/log" || {
  tail -n 60 "$work/log" >&2
  for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [ -f "$a" ] && { echo "reproducer: $a (copied to ./$(basename "$a"))" >&2; cp "$a" .; }
  done
  exit 1
}
grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$work/log" || true
