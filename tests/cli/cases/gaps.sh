# The gaps a new user hit (issue 10, "CLI gaps"): reserved table names, keys passed back as
# scan prints them, bulk deletes, discarding changes, the writer-lock wait, one time grammar,
# and the smaller ones (byte-order mark, diff before the first commit, plurals, huge numbers,
# repositories found from a subdirectory, unknown options and commands).
cairn init . >/dev/null

say "reserved names: cairn_ is cairn's own namespace, refused with a clear message"
run cairn put cairn_conflicts k v
run cairn load cairn_doc.users /dev/null
run cairn scan cairn_conflicts
run cairn drop cairn_conflicts
run cairn tables
say a user table can be named close to it, and commits go on
run cairn put cairn t v
run cairn put my_cairn_conflicts k v
run cairn commit -m "names"
run cairn tables

say keys that scan prints can be given back with --escaped, and messages escape alike
printf 'bin\\x00ary\tzero\nback\\\\slash\tbs\ntab\\there\tt\n' | run cairn load k -
run cairn scan k
runas 'cairn scan k | cut -f1 | od' sh -c '"$CAIRN_BIN" scan k | cut -f1 | od -An -c'
run cairn get k --escaped 'bin\x00ary'
run cairn get k 'back\slash'
run cairn get k --escaped 'back\\slash'
run cairn get k 'nope\slash'
run cairn get k --escaped 'tab\there'
run cairn count k --escaped --prefix 'b\x69n'
run cairn scan k --escaped --from 'bin\x00' --to 'bin\x01'
run cairn put k --escaped 'new\x01' 'v\tw'
run cairn scan k --prefix new
run cairn get k --escaped 'bad\q'
run cairn prove k --escaped 'bin\x00ary' -o proof
run cairn del k --escaped 'bin\x00ary'
run cairn get k --escaped 'bin\x00ary'

say bulk deletes: del TABLE - reads keys as scan prints them, one atomic batch
printf 'a\t1\nb\t2\nc\t3\nd\t4\n' | cairn load bulk - 2>/dev/null
runas 'printf "a\nc\nzz\n" | cairn del bulk -' sh -c 'printf "a\nc\nzz\n" | "$CAIRN_BIN" del bulk -'
run cairn scan bulk
runas 'printf "b\nbad\\q\n" | cairn del bulk -' sh -c 'printf "b\nbad\\\\q\n" | "$CAIRN_BIN" del bulk -'
run cairn scan bulk
runas 'cairn scan k | cut -f1 | cairn del k -' sh -c '"$CAIRN_BIN" scan k | cut -f1 | "$CAIRN_BIN" del k -'
run cairn count k
say "load: a delete form in TSV (KEY<TAB>\\-) and in JSON lines, in the same atomic batch"
printf 'b\t\\-\ne\t5\n' | run cairn load bulk -
run cairn scan bulk
printf '{"key":"e","delete":true}\n{"key":"f","value":"6"}\n' | run cairn load bulk - --json
run cairn scan bulk
printf '{"key":"f","delete":false}\n' | run cairn load bulk - --json
printf '{"key":"f","delete":true,"value":"x"}\n' | run cairn load bulk - --json
say one line: the singular
printf 'g\t7\n' | run cairn load bulk -

say a UTF-8 byte-order mark at the start of a load is skipped, with a note
printf '\357\273\277first\t1\nsecond\t2\n' | run cairn load bom -
run cairn scan bom
printf '\357\273\277{"key":"j","value":"1"}\n' | run cairn load bomj - --json
run cairn scan bomj

say discarding changes: restore one table, reset the branch
cairn commit -m "before changes" >/dev/null
cairn put bulk d changed
cairn del bulk f
cairn put bulk h 8
cairn put other x 1
run cairn status
run cairn restore bulk
run cairn scan bulk
run cairn status
run cairn restore other
run cairn status
run cairn restore bulk --at HEAD~1
run cairn diff --stat
run cairn reset --hard
run cairn status
cairn put bulk z 26
cairn commit -m "one more" >/dev/null
say a reset without --hard keeps the working state: what the commit added shows as changes
run cairn reset HEAD~1
run cairn status
run cairn log --oneline --limit 1
runas 'cairn reflog | head -n 2' sh -c '"$CAIRN_BIN" reflog | head -n 2 | sed "s/.*  //"'
run cairn reset --hard
run cairn get bulk z
run cairn reset nowhere
run cairn reset --soft

say unknown options and commands
run cairn get t k --bogus
run cairn frobnicate
run cairn resett

say the writer lock: --wait SECONDS, or CAIRN_WAIT
run cairn --wait 2 put t w 1
run cairn put t w 2 --wait 0.5
run cairn --wait soon put t w 1
runas 'CAIRN_WAIT=-1 cairn put t w 1' env CAIRN_WAIT=-1 "$CAIRN_BIN" put t w 1
run cairn --wait 100000 put t w 1

say times: one grammar for @{...}, oplog --from/--to and the rest
run cairn log --oneline 'main@{yesterday}'
run cairn log --oneline 'main@{2 days ago}'
run cairn log --oneline 'main@{last week}'
run cairn log --oneline --limit 1 'main@{now}'
run cairn log --oneline --limit 1 'main@{0.seconds.ago}'
run cairn log --oneline 'main@{2026-02-30}'
run cairn oplog --from 2026-02-30
run cairn oplog --from 'next week'
run cairn oplog --from '3 fortnights ago'
runas 'cairn oplog --from yesterday | wc -l' sh -c '"$CAIRN_BIN" oplog --from yesterday | wc -l'
runas 'cairn oplog --to "1 hour ago" | wc -l' sh -c '"$CAIRN_BIN" oplog --to "1 hour ago" | wc -l'
run cairn oplog --to 2000-01-01
run cairn oplog --to '2000-01-01 10:00'

say numbers too large for their option say so
run cairn scan bulk --limit 99999999999999999999999
run cairn scan bulk --limit 12x

say diff before the first commit compares the working state with the empty one
mkdir fresh
cairn -C fresh init . >/dev/null
cairn -C fresh put t a 1
cairn -C fresh put u 'b\c' 2
run cairn -C fresh diff
run cairn -C fresh diff --stat
run cairn -C fresh diff --json
run cairn -C fresh diff HEAD

say commands in a subdirectory find the repository above, as git does
mkdir -p sub/deeper
cd sub/deeper
run cairn get bulk a
run cairn count bulk
run cairn put t sub 1
cd ../..
run cairn get t sub
run cairn -C sub get t sub

say "resolve names a conflict's key as conflicts prints it, with --escaped"
mkdir m && cd m
cairn init . >/dev/null
printf 'k\\x00ey\tbase\n' | cairn load t - 2>/dev/null
cairn commit -m base >/dev/null
cairn branch side
printf 'k\\x00ey\tours\n' | cairn load t - 2>/dev/null
cairn commit -m ours >/dev/null
cairn checkout side >/dev/null
printf 'k\\x00ey\ttheirs\n' | cairn load t - 2>/dev/null
cairn commit -m theirs >/dev/null
cairn checkout main >/dev/null
cairn merge side --strategy record >/dev/null 2>&1
run cairn conflicts
run cairn resolve t --escaped 'k\x00ex' --theirs
run cairn resolve t --escaped 'k\x00ey' --value 'both\x01'
run cairn scan t
