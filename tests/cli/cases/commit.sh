# commit, log, show, config: messages, authors, empty commits, every log format, unknown
# revisions. Ids and times vary from run to run: the transcript shows them as <idN> and <date>.
cairn init . >/dev/null
say a repository without commits
run cairn log
run cairn show
run cairn commit -m "nothing yet"
say the first commit
run cairn put t a 1
run cairn put t b 2
run cairn commit
run cairn commit -m "first: two keys" -m "last -m wins"
run cairn commit -m "again"
run cairn commit -m "empty on purpose" --allow-empty
say a message of several lines, another author
run cairn put t a one
run cairn del t b
run cairn put u x y
msg=$(printf 'second\n\nwith a body\nof two lines\n.'); msg=${msg%.} # ends with a newline
runas 'cairn commit -m "second<LF><LF>with a body<LF>of two lines<LF>" --author "Grace Hopper <grace@example.com>"' \
    cairn commit -m "$msg" --author "Grace Hopper <grace@example.com>"
run cairn commit -m bad --author "no email"
run cairn commit -m bad --author "<only@email>"
run cairn log
run cairn log --oneline
run cairn log --oneline --limit 2
run cairn log --oneline --limit 0
run cairn log HEAD~2 --oneline
run cairn log --json --limit 1
run cairn log --json HEAD~2
say "show: the commit, then what it changed against its first parent (for the first: everything)"
run cairn show
run cairn show HEAD~1
run cairn show HEAD~2
say errors: unknown revisions are exit 1, usage errors exit 2
run cairn log nonesuch
run cairn show HEAD~9
run cairn show main@{yesterday}
run cairn log --limit x
run cairn log --oneline --json
run cairn log a b
run cairn commit -m x extra
say config
run cairn config commit.require_signature
run cairn config commit.require_signature true
run cairn config commit.require_signature
run cairn put t z 1
run cairn commit -m "unsigned"
run cairn config commit.require_signature --unset
run cairn config commit.require_signature
run cairn commit -m "unsigned, allowed again"
run cairn config commit.require_signature maybe
run cairn config no.such.setting
run cairn config no.such.setting 1
run cairn config commit.require_signature true --unset
run cairn config wal.segment_min 256K
run cairn config wal.segment_min
run cairn config wal.segment_max 1T
run cairn config wal.segment_min 12
run cairn config wal.segment_min --unset
