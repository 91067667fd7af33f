#!/bin/sh
# demo.sh CAIRN_BIN - an end-to-end session on a new local repository in a temp directory,
# printing each command and what it did. Run by `make demo`.
set -eu
CAIRN=${1:-build/cairn}
[ -x "$CAIRN" ] || { echo "demo: $CAIRN is not built; run 'make build'" >&2; exit 1; }
CAIRN=$(cd "$(dirname "$CAIRN")" && pwd)/$(basename "$CAIRN")
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-demo-XXXXXX")
trap 'rm -rf "$work"' EXIT
repo="$work/repo"

if [ -t 1 ]; then bold=$(printf '\033[1m'); plain=$(printf '\033[0m'); else bold=; plain=; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }
run() { step "$*"; "$@"; }

echo "cairn demo: a new repository in $repo"
run "$CAIRN" init "$repo"
cd "$repo"

run "$CAIRN" put users alice '{"name": "Alice", "city": "Lisbon"}'
run "$CAIRN" put users bob '{"name": "Bob", "city": "Oslo"}'
step "$CAIRN get users alice"; "$CAIRN" get users alice; echo

step "generate 100,000 rows of TSV (key<TAB>value)"
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "order:%06d\t{\"item\": %d, \"qty\": %d}\n", i, (i * 7919) % 1000, i % 9 + 1 }' > "$work/orders.tsv"
head -n 3 "$work/orders.tsv"
run "$CAIRN" load orders "$work/orders.tsv"
run "$CAIRN" count orders
run "$CAIRN" count orders --prefix order:0001
run "$CAIRN" scan orders --from order:050000 --limit 3
run "$CAIRN" scan orders --reverse --limit 2
run "$CAIRN" tables
run "$CAIRN" root orders

step "history independence: the same rows loaded in another order give the same root"
"$CAIRN" init "$work/other" >/dev/null
sort -r "$work/orders.tsv" > "$work/orders-reversed.tsv"
"$CAIRN" -C "$work/other" load orders "$work/orders-reversed.tsv"
a=$("$CAIRN" root orders); b=$("$CAIRN" -C "$work/other" root orders)
echo "  this repository:  $a"
echo "  other repository: $b"
[ "$a" = "$b" ] && echo "  identical" || { echo "  DIFFERENT" >&2; exit 1; }

step "bad input is refused and changes nothing"
before=$("$CAIRN" root orders)
printf 'good\tline\nno tab on this line\n' > "$work/bad.tsv"
"$CAIRN" load orders "$work/bad.tsv" || echo "  (exit status $?)"
after=$("$CAIRN" root orders)
[ "$before" = "$after" ] && echo "  root unchanged: $after"

run "$CAIRN" del users bob
step "$CAIRN get users bob"; "$CAIRN" get users bob || echo "  (exit status $?: not found)"
run "$CAIRN" stats
echo
echo "demo finished: every step above ran on $repo"
