# doc: collections of JSON documents: writes with metadata, queries with plans, indexes, bulk
# import, bad input refused with nothing written, reads at an older revision.
# _ts (the time of a change) differs from run to run: shown as <ts>.
dc() { "$CAIRN_BIN" "$@" >"$SCRATCH/dc.out"; r=$?; sed 's/"_ts":"[^"]*"/"_ts":"<ts>"/g' "$SCRATCH/dc.out"; return $r; }
drun() { runas "cairn $*" dc "$@"; }
cairn init . >/dev/null
drun doc insert people '{"_id":"ada","name":"Ada Lovelace","age":36,"bio":"Wrote the first program"}'
cairn doc insert people '{"_id":"alan","name":"Alan Turing","age":41,"bio":"Broke codes; defined computation"}' >/dev/null
cairn doc insert people '{"_id":"grace","name":"Grace Hopper","age":85,"bio":"Wrote the first compiler","tags":["navy","cobol"]}' >/dev/null
drun doc get people ada grace
run cairn doc find people '{"age":{"$gte":40}}' --sort age:desc --project name,age
run cairn doc find people '{"age":{"$gte":40}}' --sort age:desc --explain
run cairn doc index create people age
run cairn doc index create people bio --text
run cairn doc index create people name --unique
run cairn doc index list people
run cairn doc find people '{"age":{"$gte":40}}' --sort age:desc --project name,age
run cairn doc find people '{"age":{"$gte":40}}' --sort age:desc --explain
run cairn doc find people '{"$text":"WROTE first"}' --project name
run cairn doc find people '{"$text":"WROTE first"}' --explain
run cairn doc find people '{"tags":"navy"}' --project tags
run cairn doc find people '{"$or":[{"age":{"$lt":40}},{"name":{"$prefix":"Alan"}}]}' --project name
run cairn doc find people --sort age --limit 2 --project age
cur=$(cairn doc find people --sort age --limit 2 2>&1 >/dev/null | sed 's/.*--after //')
run cairn doc find people --sort age --limit 2 --project age --after "$cur"
run cairn doc count people
run cairn doc count people '{"age":{"$exists":true,"$ne":41}}'
cairn commit -m "three people" >/dev/null
say writes: patch, if-version, delete
drun doc patch people ada '{"age":37,"bio":null}'
drun doc upsert people '{"_id":"ada","name":"Ada"}' --if-version 1
drun doc upsert people '{"_id":"ada","name":"Ada King"}' --if-version 2
run cairn doc delete people alan
run cairn doc get people alan
run cairn doc count people --at HEAD
run cairn doc count people
run cairn doc find people '{"name":{"$prefix":"A"}}' --at HEAD --project name
say bad input: a clear error and nothing written
remember
run cairn doc insert people '{"_id":"ada"}'
run cairn doc insert people '{"_id":"x/y"}'
run cairn doc insert people '{"_id":"x", "name": "Grace Hopper"}'
run cairn doc insert people '{"_id":"x",
  "name": [1, 2}'
run cairn doc insert people '[1,2]'
run cairn doc find people '{"age":{"$near":3}}'
run cairn doc find people '{"age":{"$in":5}}'
run cairn doc find people '{"$text":3}'
run cairn doc find people --sort age:up
run cairn doc find people --after zz
printf '{"_id":"n1","name":"N1"}\n{"_id":"n2","name":"N2",}\n' > bad.jsonl
run cairn doc import people bad.jsonl
printf '{"_id":"n1","name":"N1"}\n{"_id":"n2","name":"Grace Hopper"}\n' > dup.jsonl
run cairn doc import people dup.jsonl
unchanged
printf '{"_id":"n1","name":"N1"}\n\n{"_id":"n2","name":"N2"}\n' > good.jsonl
run cairn doc import people good.jsonl
run cairn doc count people
run cairn doc index drop people name
run cairn doc index drop people name
run cairn doc list
run cairn doc check people
run cairn doc check people --at HEAD
run cairn doc repack people
say a collection as plain files, and back
cairn commit -m "four people" >/dev/null
run cairn doc export people exported --at HEAD
run ls exported
run cat exported/manifest
run cairn doc export people exported
run cairn doc import copy exported
run cairn doc find copy --project name
say usage
run cairn doc frobnicate people
run cairn doc get people
run cairn doc insert people '{}' --sort a
say "history: every committed version, newest first, with the change as a merge patch; restore"
cairn doc insert hist '{"_id":"h1","n":1}' >/dev/null
cairn commit -m "h one" >/dev/null
cairn doc patch hist h1 '{"n":2,"m":"x"}' >/dev/null
cairn commit -m "h two" >/dev/null
cairn doc delete hist h1
cairn commit -m "h gone" >/dev/null
say "diff of a collection's table names the documents, not their stored bytes"
runas 'cairn diff HEAD~2 HEAD~1 cairn_doc.hist' sh -c '"$CAIRN_BIN" diff HEAD~2 HEAD~1 cairn_doc.hist | sed "s/\"_ts\":\"[^\"]*\"/\"_ts\":\"<ts>\"/g"'
runas 'cairn doc history hist h1' sh -c '"$CAIRN_BIN" doc history hist h1 | cut -d" " -f3- | sed "s/\"_ts\":\"[^\"]*\"/\"_ts\":\"<ts>\"/g"'
runas 'cairn doc history hist h1 --json' sh -c '"$CAIRN_BIN" doc history hist h1 --json | sed -e "s/\"_ts\":\"[^\"]*\"/\"_ts\":\"<ts>\"/g" -e "s/\"time_ns\":[0-9]*/\"time_ns\":NS/"'
drun doc restore hist h1 --at HEAD~1
run cairn doc restore hist h1
run cairn doc restore hist nobody --at HEAD~1
say "proofs: a document (or its absence), checked with no repository"
cairn doc insert proved '{"_id":"p1","n":1}' >/dev/null
cairn commit -m "proved" >/dev/null
run cairn doc prove proved p1 --at HEAD -o "$SCRATCH/p1.proof"
anchor=$(cairn doc prove proved p1 --at HEAD -o "$SCRATCH/p1.proof" | cut -d" " -f2)
runas 'cairn verify-proof p1.proof --root COMMIT' sh -c '"$CAIRN_BIN" verify-proof "$SCRATCH/p1.proof" --root "$0" | sed "s/\"_ts\":\"[^\"]*\"/\"_ts\":\"<ts>\"/g"' "$anchor"
run cairn doc prove proved nobody -o "$SCRATCH/none.proof"
