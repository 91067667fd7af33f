# doc_export: an export checked against its manifest with no repository (verify-export), then
# against the repository's commit; a changed, missing, extra or malformed file named; import of
# a damaged export refused unless --force; an old export (manifest.json, format 1) still checked
# by its root; a document with id "manifest" exported like any other.
cairn init . >/dev/null
printf '{"_id":"ada","born":1815}\n{"_id":"alan","born":1912}\n{"_id":"grace","born":1906}\n' > p.jsonl
cairn doc import people p.jsonl 2>/dev/null
cairn commit -m "people" >/dev/null
run cairn doc export people ex --at HEAD
run ls ex
run cairn doc verify-export ex
run cairn doc verify-export ex --repo .
say damage: each file named with what is wrong
cp -r ex bad
sed -i 's/1815/1816/' bad/ada.json
rm bad/alan.json
echo '{"_id":"zed"}' > bad/zed.json
echo '{"_id":"grace",' > bad/grace.json
run cairn doc verify-export bad
run cairn doc import copy bad
run cairn doc list
cp ex/grace.json bad/grace.json
run cairn doc import copy bad --force
run cairn doc find copy --project born
run cairn doc import copy2 ex
run cairn doc count copy2
say the working state has moved on: the export still matches its commit
cairn doc insert people '{"_id":"edsger","born":1930}' >/dev/null
run cairn -C . doc verify-export ex
say "an old export (manifest.json, format 1): checked by the root only"
cp -r ex old
mv old/manifest old/manifest.json
sed -i -e 's/cairn-doc-export 2/cairn-doc-export 1/' -e '/"hashes"/,/},/d' old/manifest.json
run cat old/manifest.json
run cairn doc verify-export old
rm old/alan.json
run cairn doc verify-export old
say a damaged manifest, and none
echo '{"format":"cairn-doc-export 2"}' > bad/manifest
run cairn doc verify-export bad
rm bad/manifest
run cairn doc verify-export bad
run cairn doc import copy3 bad
say "any id exports: the manifest's name is no ID.json"
cairn doc insert people '{"_id":"manifest","born":2000}' >/dev/null
run cairn doc export people ex2
run ls ex2
run cairn doc verify-export ex2
run cairn doc import copy4 ex2
run cairn doc find copy4 '{"born":2000}' --project born
