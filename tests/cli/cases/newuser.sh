# What a new user met after the gaps of issue 10 were closed (gaps.sh): the writer lock's
# --wait on the doc commands too, byte-order marks and plurals wherever input is read, and the
# help of config naming every setting the README lists.
cairn init . >/dev/null

say "--wait is an option of every command, doc's included, before or after the command"
cairn doc insert people '{"_id":"ada","age":36}' >/dev/null
hold_lock
runas 'cairn doc insert people {"_id":"bob"}' "$CAIRN_BIN" doc insert people '{"_id":"bob"}'
run cairn doc count people --wait 0
# (3>&-: the waiters must not hold the loader's input open)
"$CAIRN_BIN" doc insert people '{"_id":"cy"}' --wait 60 >/dev/null 2>"$SCRATCH/w1.err" 3>&- &
w1=$!
"$CAIRN_BIN" --wait 60 doc insert people '{"_id":"dee"}' >/dev/null 2>"$SCRATCH/w2.err" 3>&- &
w2=$!
"$CAIRN_BIN" -C . --wait=60 doc delete people ada 2>"$SCRATCH/w3.err" 3>&- &
w3=$!
# each waiter has the lock file open while it waits (store/local.c take_lock): seen in /proc
lock_open() { for p in "$@"; do ls -l "/proc/$p/fd" 2>/dev/null | grep -q '/LOCK$' || return 1; done; }
i=0
while ! lock_open $w1 $w2 $w3 && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
lock_open $w1 $w2 $w3 && echo "3 writers wait at the lock"
printf 'k\tv\n' >&3
exec 3>&-
wait $loader
echo "load exited with $?"
wait $w1
echo "doc insert ... --wait 60 exited with $?"
cat "$SCRATCH/w1.err"
wait $w2
echo "cairn --wait 60 doc insert ... exited with $?"
cat "$SCRATCH/w2.err"
wait $w3
echo "cairn -C . --wait=60 doc delete ... exited with $?"
cat "$SCRATCH/w3.err"
run cairn doc find people --project _id
run cairn doc count people --wait soon
run cairn --wait 100000 doc count people
run cairn --wait 1 --json doc count people

say "a byte-order mark is skipped, with a note, wherever a file is read: load, del -, doc import"
printf '\357\273\277a\nzz\n' >keys.txt
printf 'a\t1\nb\t2\n' | cairn load bom - 2>/dev/null
runas 'cairn del bom - <keys.txt' sh -c '"$CAIRN_BIN" del bom - <keys.txt'
run cairn scan bom
printf '\357\273\277{"_id":"eve"}\n' >docs.jsonl
run cairn doc import people docs.jsonl
run cairn doc find people --project _id
say "a key line longer than any key: said so, nothing deleted"
repeat 20000 k >long.txt
runas 'cairn del bom - <long.txt' sh -c '"$CAIRN_BIN" del bom - <long.txt'

say one document: the singular
run cairn doc export people out
run cairn doc import people2 out
printf '{"_id":"gus"}\n' | run cairn doc import people3 -

say config names every setting the README lists
run cairn help config
run cairn config wal.segment_max 4M
run cairn config wal.segment_max
run cairn config gc.grace 30m
run cairn config gc.grace

say "before the first commit, reflog says so (it named the ref's internal name)"
mkdir fresh
run cairn -C fresh init .
run cairn -C fresh reflog
run cairn -C fresh reflog nope
say "a reflog too short for @{...} names the branch as given, and says how far it goes"
cairn -C fresh put t k v
cairn -C fresh commit -m one >/dev/null
run cairn -C fresh log --oneline 'main@{3}'
run cairn -C fresh log --oneline 'main@{2000-01-01}'
run cairn -C fresh log --oneline 'HEAD@{0}'

say "one of a kind: the singular in doc check, verify and export"
cairn -C fresh doc insert solo '{"_id":"x"}' >/dev/null
run cairn -C fresh doc check solo
runas 'cairn -C fresh verify | tail -n 2' sh -c '"$CAIRN_BIN" -C fresh verify | tail -n 2'
run cairn -C fresh doc export solo solo.out
run cairn -C fresh doc verify-export solo.out
