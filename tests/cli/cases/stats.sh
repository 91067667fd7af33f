# stats: the repository's store and every table's tree shape, as text and as JSON.
cairn init . >/dev/null
run cairn stats
awk 'BEGIN { for (i = 0; i < 5000; i++) printf "key%06d\tvalue number %d\n", i, i }' | cairn load big - 2>/dev/null
cairn put small k v
run cairn stats
run cairn stats --json
say a collection is an internal table underneath: counted on a line of its own, with a
say section of its own with its documents and indexes, never as a table
cairn init coll >/dev/null
cairn -C coll doc insert users '{"_id":"a","n":1}' >/dev/null
cairn -C coll doc insert users '{"_id":"b","n":2}' >/dev/null
cairn -C coll doc index create users n >/dev/null
runas 'cairn -C coll stats' sb -C coll stats
runas 'cairn -C coll stats --json' sb -C coll stats --json
run cairn -C coll tables
