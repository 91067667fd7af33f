# load: TSV and JSON lines, from a file and from stdin; into new and existing tables.
cairn init . >/dev/null
printf 'k1\tv1\nk2\tv2\nk3\tv3\n' > a.tsv
run cairn load t a.tsv
run cairn scan t
say into an existing table: entries merge, a later line with the same key wins
printf 'k2\tnew\nk4\tv4\nk4\tlast wins\n' | run cairn load t -
run cairn scan t
say the last line may lack its newline
printf 'k5\tv5\nk6\tv6' | run cairn load t -
run cairn count t
say an empty input loads nothing and still creates the table
run cairn load empty /dev/null
run cairn tables
run cairn count empty
say JSON lines, strings and base64 mixed
printf '{"key":"j1","value":"one"}\n{"key_b64":"AP8=","value":"two"}\n{"value_b64":"AAEC","key":"j3"}\n' > b.jsonl
run cairn load j b.jsonl --json
run cairn scan j
run cairn scan j --json
say a file that cannot be read
run cairn load t nosuchfile
run cairn load t .
