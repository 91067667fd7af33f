# Every bad input of load stops it with the line number and the problem, writes nothing, and
# creates no table.
cairn init . >/dev/null
printf 'a\t1\nb\t2\n' | cairn load t - 2>/dev/null
remember
# badload NAME: loads the file $SCRATCH/in into table t, then into a new table, checking
# the repository is unchanged after each.
badload() {
    say "$1"
    run cairn load t "$SCRATCH/in" $2
    run cairn load newtable "$SCRATCH/in" $2
    unchanged
}
printf 'ok\t1\nbad\\q\t2\n' > "$SCRATCH/in";                 badload "bad escape in a key"
printf 'ok\t1\nok2\t2\nv\tab\\x4' > "$SCRATCH/in";           badload "truncated \\x in a value"
printf 'ok\t1\nk\tv\\\n' > "$SCRATCH/in";                    badload "backslash at the end"
printf 'ok\t1\nno tab here\n' > "$SCRATCH/in";               badload "missing tab"
printf 'ok\t1\na\tb\tc\n' > "$SCRATCH/in";                   badload "extra tab"
printf 'ok\t1\n\nk\tv\n' > "$SCRATCH/in";                    badload "empty line"
printf 'ok\t1\nk\tv\n\n' > "$SCRATCH/in";                    badload "empty last line"
printf 'ok\t1\r\nk\tv\r\n' > "$SCRATCH/in";                  badload "CRLF line endings"
{ printf 'ok\t1\n'; repeat 4097 k; printf '\tv\n'; } > "$SCRATCH/in"; badload "key over the limit"
{ printf 'ok\t1\nk\t'; repeat 1048577 v; printf '\n'; } > "$SCRATCH/in"; badload "value over the limit"
{ printf 'ok\t1\nk\t'; repeat 9000000 v; printf '\n'; } > "$SCRATCH/in"; badload "a line over 8 MiB"
say "an escaped key at the limit is fine: 4096 bytes written as 16384 characters"
{ printf 'ok\t1\n'; i=0; while [ $i -lt 1024 ]; do printf '\\x00\\x01\\x02\\x03'; i=$((i+1)); done; printf '\tv\n'; } > "$SCRATCH/in"
run cairn load escaped "$SCRATCH/in"
run cairn count escaped
remember
printf '{"key":"a","value":"b"}\n{"key":"a",\n' > "$SCRATCH/in";  badload "malformed JSON" --json
printf '{"key":"a","value":"b"}\n{"key":"a","value":"b"} trailing\n' > "$SCRATCH/in"; badload "trailing garbage" --json
printf '{"key":"a","value":"b"}\n\n' > "$SCRATCH/in";        badload "empty line in JSON" --json
printf '{"key":"a"}\n' > "$SCRATCH/in";                      badload "no value" --json
printf '{"key":"a","value":"b","v":1}\n' > "$SCRATCH/in";    badload "unknown member" --json
printf '{"key":"a","value":"b","key":"c"}\n' > "$SCRATCH/in"; badload "duplicate member" --json
printf '["a","b"]\n' > "$SCRATCH/in";                        badload "not an object" --json
printf '{"key":7,"value":"b"}\n' > "$SCRATCH/in";            badload "not a string" --json
printf '{"key_b64":"!!","value":"b"}\n' > "$SCRATCH/in";     badload "bad base64" --json
printf '{"key":"\\ud800","value":"b"}\n' > "$SCRATCH/in";    badload "lone surrogate" --json
{ printf '{"key":"'; repeat 4097 k; printf '","value":""}\n'; } > "$SCRATCH/in"; badload "JSON key over the limit" --json
printf 'a\tb\n' > "$SCRATCH/in";                             badload "TSV given to --json" --json
run cairn tables
