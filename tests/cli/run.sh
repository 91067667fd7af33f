#!/bin/sh
# run.sh - golden tests of the cairn command line tool.
#
# Each cases/NAME.sh is a small shell script run in a fresh empty directory with lib.sh's
# helpers; what it prints (commands, their stdout, their stderr marked "2> ", exit codes) is
# compared with cases/NAME.expected after normalising temporary paths and timings.
#
#   CAIRN_BIN=build/cairn sh tests/cli/run.sh            run every case
#   CAIRN_BIN=build/cairn sh tests/cli/run.sh scan load  run some
#   CAIRN_UPDATE_GOLDEN=1 ... run.sh                      rewrite the .expected files (review the diff!)
set -u
: "${CAIRN_BIN:?set CAIRN_BIN to the cairn binary}"
here=$(cd "$(dirname "$0")" && pwd)
CAIRN_BIN=$(cd "$(dirname "$CAIRN_BIN")" && pwd)/$(basename "$CAIRN_BIN")
export CAIRN_BIN
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-cli-XXXXXX")

if [ $# -gt 0 ]; then
    cases=""
    for n in "$@"; do cases="$cases $here/cases/$n.sh"; done
else
    cases=$(ls "$here"/cases/*.sh)
fi

# Runs one case; its transcript goes to $tmp/NAME.out.
run_case() {
    name=$(basename "$1" .sh)
    mkdir "$tmp/$name" "$tmp/$name.scratch"
    (cd "$tmp/$name" && CASE_DIR="$tmp/$name" SCRATCH="$tmp/$name.scratch" LIB="$here/lib.sh" \
        sh -c '. "$LIB"; . "$0"' "$1") >"$tmp/$name.out" 2>&1
}

# Two cases at a time: the machines this runs on have two cores.
pids=""
n=0
for c in $cases; do
    run_case "$c" &
    pids="$pids $!"
    n=$((n + 1))
    if [ $((n % 2)) -eq 0 ]; then wait; fi
done
wait

failed=0
for c in $cases; do
    name=$(basename "$c" .sh)
    expected="$here/cases/$name.expected"
    if [ -n "${CAIRN_UPDATE_GOLDEN:-}" ]; then
        cp "$tmp/$name.out" "$expected"
        echo "updated $name"
    elif cmp -s "$expected" "$tmp/$name.out"; then
        echo "ok   $name"
    else
        echo "FAIL $name"
        diff -u "$expected" "$tmp/$name.out" | head -100
        failed=1
    fi
done
if [ $failed -eq 0 ]; then rm -rf "$tmp"; else echo "transcripts kept in $tmp"; fi
exit $failed
