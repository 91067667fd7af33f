# messages found by running every command once (the CLI audit): each says what is true and
# what to do.
cairn init . >/dev/null
say doc history of a document no commit holds: it printed nothing, exit 0
cairn doc insert users '{"_id":"a","n":1}' >/dev/null
cairn commit -m one >/dev/null
cairn doc insert users '{"_id":"b","n":2}' >/dev/null
runas 'cairn doc history users a | cut -d" " -f3,4' sh -c '"$CAIRN_BIN" doc history users a | cut -d" " -f3,4'
run cairn doc history users b
run cairn doc history users nobody --at HEAD
run cairn doc history users nobody --json
say pull of a branch the remote does not have: it said no revision r/nope exists
cairn init "$SCRATCH/r" >/dev/null
cairn remote add r "$SCRATCH/r"
cairn push r >/dev/null 2>&1
run cairn pull r nope
say a doc subcommand of two words is named as typed, and one argument is not "1 arguments"
run cairn doc index create users
run cairn doc index drop users n --unique
run cairn doc check
say a setting cairn does not know is called unknown, a known one unset is called not set
run cairn config nope
run cairn config audit.reads
say a remote URL of a kind no store takes is refused when added, not at the first push
run cairn remote add x ftp://example.org/repo
run cairn remote add x 's3://my-bucket/repo?endpoint=http://127.0.0.1:7480&regoin=eu'
run cairn remote add x 'postgres://me@db:5432/repo?table_prefix=1st'
run cairn remote list
say push of a branch that does not exist names it as missing, not as having no commits
run cairn push r nope
