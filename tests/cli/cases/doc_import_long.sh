# doc_import_long: an import long enough that the bulk reads documents ahead on worker threads
# (after its first 1000), so a bad document is found while later lines are being added: each
# refusal still names its line (a blank line makes lines and documents differ) and, for
# malformed JSON, the column; the exit code is the same and nothing is imported.
cairn init . >/dev/null
cairn doc index create people name --unique >/dev/null
# people.jsonl: 3000 documents on lines 1-9 and 11-3001 (line 10 is blank); BAD replaces one
lines() {
    awk -v at="$1" -v bad="$2" 'BEGIN {
        for (i = 1; i <= 3000; i++) {
            if (i == 10) print ""
            if (i == at) print bad
            else printf "{\"_id\":\"p%05d\",\"name\":\"n%d\",\"age\":%d}\n", i, i, i % 90
        }
    }'
}
lines 2000 '{"_id":"p02000","name":"x",}' >malformed.jsonl
lines 2500 '{"_id":"p02500","name":"n7"}' >unique.jsonl
lines 1500 '{"_id":"p00042","name":"again"}' >twice.jsonl
lines 2999 '{"_id":"p02999","name":"n2999","age":[1,' >near_end.jsonl
remember
run cairn doc import people malformed.jsonl
run cairn doc import people unique.jsonl
run cairn doc import people twice.jsonl
run cairn doc import people near_end.jsonl
unchanged
lines 0 '' >good.jsonl
run cairn doc import people good.jsonl
run cairn doc count people
run cairn doc find people '{"name":"n3000"}' --project name,age
run cairn doc check people
