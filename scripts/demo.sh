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

step "versions: commit the working state, branch, change, diff, merge"
export CAIRN_HOME="$work/home" CAIRN_PASSPHRASE="demo passphrase" CAIRN_AUTHOR="Ana <ana@example.com>"
run "$CAIRN" commit -m "users and 100,000 orders"
run "$CAIRN" branch pricing
run "$CAIRN" checkout pricing
run "$CAIRN" put orders order:000007 '{"item": 553, "qty": 8, "price": 12.5}'
run "$CAIRN" put users carol '{"name": "Carol", "city": "Porto"}'
run "$CAIRN" commit -m "price for order 7; user carol" --author "Rui <rui@example.com>"
run "$CAIRN" checkout main
run "$CAIRN" put users alice '{"name": "Alice", "city": "Madrid"}'
run "$CAIRN" commit -m "alice moved"
run "$CAIRN" diff main pricing
run "$CAIRN" merge pricing
run "$CAIRN" log --oneline
step "$CAIRN get users carol --at main~1"
"$CAIRN" get users carol --at main~1 || echo "  (exit status $?: carol came with the merge)"

step "conflicts are never settled silently: both branches change alice"
run "$CAIRN" branch travel
run "$CAIRN" put users alice '{"name": "Alice", "city": "Rome"}'
run "$CAIRN" commit -m "alice: Rome"
run "$CAIRN" checkout travel
run "$CAIRN" put users alice '{"name": "Alice", "city": "Paris"}'
run "$CAIRN" commit -m "alice: Paris"
run "$CAIRN" checkout main
step "$CAIRN merge travel"
"$CAIRN" merge travel || echo "  (exit status $?: nothing was changed)"
run "$CAIRN" merge travel --strategy theirs
step "$CAIRN get users alice"; "$CAIRN" get users alice; echo

step "signed commits (the secret key is sealed with a passphrase, here from CAIRN_PASSPHRASE)"
"$CAIRN" key generate ana > "$work/ana.pub"
cat "$work/ana.pub"
run "$CAIRN" key trust "$work/ana.pub"
run "$CAIRN" put users dave '{"name": "Dave", "city": "Turin"}'
run "$CAIRN" commit -m "dave joins" --sign ana
run "$CAIRN" log --limit 2

step "a proof of alice's value that anyone holding the commit id can check, without the repository"
anchor=$("$CAIRN" prove users alice --at main -o "$work/alice.proof" | cut -d' ' -f2)
echo "  commit $anchor"
(cd "$work" && run "$CAIRN" verify-proof alice.proof --root "$anchor")
printf 'X' | dd of="$work/alice.proof" bs=1 seek=200 conv=notrunc 2>/dev/null
step "$CAIRN verify-proof alice.proof --root ... (one byte changed)"
(cd "$work" && "$CAIRN" verify-proof alice.proof --root "$anchor") || echo "  (exit status $?: rejected)"

step "durability: each write is fsynced to a write-ahead log before it returns; checkpoints (here at each command's clean close) move writes into the trees; the operation log keeps both"
run "$CAIRN" put users erin '{"name": "Erin", "city": "Vigo"}'
step "$CAIRN oplog | tail -n 3"; "$CAIRN" oplog | tail -n 3

step "a crash in the middle of a load: kill -9, then look (a load is one atomic batch)"
awk 'BEGIN { for (i = 0; i < 1500000; i++) printf "evt:%07d\tpayload-%d\n", i, i }' > "$work/events.tsv"
"$CAIRN" load events "$work/events.tsv" >/dev/null 2>&1 &
sleep 0.15
kill -9 $! 2>/dev/null || true
wait 2>/dev/null || true
step "$CAIRN count events"
if n=$("$CAIRN" count events 2>/dev/null); then
    echo "$n  (the load had committed before the kill: all of it is there)"
else
    echo "  no table events: the load had not committed when it was killed, and none of it is there"
fi
run "$CAIRN" verify --reachable-only

step "garbage collection: a deleted branch's data goes, everything reachable stays"
run "$CAIRN" branch scratch
run "$CAIRN" checkout scratch
sed 's/payload/scratch/' "$work/events.tsv" | "$CAIRN" load scratch - >/dev/null
run "$CAIRN" commit -m "scratch data"
run "$CAIRN" checkout main
run "$CAIRN" branch -d scratch
run "$CAIRN" gc
run "$CAIRN" verify
echo
echo "demo finished: every step above ran on $repo"
