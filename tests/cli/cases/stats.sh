# stats: the repository's store and every table's tree shape, as text and as JSON.
cairn init . >/dev/null
run cairn stats
awk 'BEGIN { for (i = 0; i < 5000; i++) printf "key%06d\tvalue number %d\n", i, i }' | cairn load big - 2>/dev/null
cairn put small k v
run cairn stats
run cairn stats --json
