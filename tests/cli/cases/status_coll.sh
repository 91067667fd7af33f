# status, diff --stat and show count document collections too (a collection is an internal
# table underneath, which they used to leave out: "no uncommitted changes" after a document
# write); table names print escaped as diff's lines and scan print them.
cairn init . >/dev/null
cairn doc insert users '{"_id":"a","n":1}' >/dev/null
cairn doc insert users '{"_id":"b","n":2}' >/dev/null
cairn put t k v
run cairn status
run cairn diff --stat
run cairn diff --stat --json
cairn commit -m one >/dev/null
run cairn show HEAD
say a document changed, one deleted, one added, an index made: documents are counted
cairn doc upsert users '{"_id":"a","n":5}' >/dev/null
cairn doc delete users b
cairn doc insert users '{"_id":"c","n":3}' >/dev/null
cairn doc index create users n >/dev/null
run cairn status
run cairn diff --stat
run cairn diff HEAD WORKING t --stat
cairn commit -m two >/dev/null
run cairn diff HEAD~1 HEAD --stat --json
say names: escaped as in diff lines, a backslash doubled, and a tab or a newline is refused
cairn put 'back\slash' k v
run cairn status
run cairn diff --stat
run cairn diff
run cairn put "tab	name" k v
run cairn put "new
line" k v
say only an index created: the collection changed, no document did
cairn commit -m three >/dev/null
cairn doc index create users m >/dev/null
run cairn status
run cairn diff --stat
run cairn diff --stat --json
cairn commit -m four >/dev/null
run cairn diff HEAD~1 HEAD --stat
say only a retention policy set: the collection settings changed
cairn doc retention users --days 30 >/dev/null
run cairn status
run cairn diff --stat
cairn commit -m five >/dev/null
run cairn diff HEAD~1 HEAD --stat --json
