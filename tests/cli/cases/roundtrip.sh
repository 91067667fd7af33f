# scan | load and scan --json | load --json restore every byte: keys and values with every
# byte value, valid and invalid UTF-8, empty ones. Equal roots prove equal contents.
cairn init a >/dev/null
# 256 keys "k" + byte i, each with a value of bytes i, i+1, ..., i+255 (mod 256); one key of all
# 256 bytes; an empty key; valid UTF-8 written raw.
awk 'BEGIN {
    for (i = 0; i < 256; i++) {
        printf "k\\x%02x\t", i
        for (j = 0; j < 256; j++) printf "\\x%02x", (i + j) % 256
        printf "\n"
    }
    for (j = 0; j < 256; j++) printf "\\x%02x", j
    printf "\tall bytes\n\tempty key\nempty value\t\n"
}' > all.tsv
printf 'caf\303\251 \342\202\254\tna\303\257ve \360\237\230\200\n' >> all.tsv
run cairn -C a load t all.tsv
run cairn -C a count t
say TSV round trip
cairn -C a scan t > a.tsv
cairn init b >/dev/null
run cairn -C b load t a.tsv
cairn -C b scan t > b.tsv
run cmp a.tsv b.tsv
run sh -c '[ "$("$CAIRN_BIN" -C a root t)" = "$("$CAIRN_BIN" -C b root t)" ] && echo same root'
say JSON lines round trip
cairn -C a scan t --json > a.jsonl
cairn init c >/dev/null
run cairn -C c load t a.jsonl --json
cairn -C c scan t --json > c.jsonl
run cmp a.jsonl c.jsonl
run sh -c '[ "$("$CAIRN_BIN" -C a root t)" = "$("$CAIRN_BIN" -C c root t)" ] && echo same root'
run sh -c 'grep -c _b64 a.jsonl'
say through pipes, and across the forms
cairn init d >/dev/null
"$CAIRN_BIN" -C c scan t | run cairn -C d load t -
run sh -c '[ "$("$CAIRN_BIN" -C a root t)" = "$("$CAIRN_BIN" -C d root t)" ] && echo same root'
say a few of the lines, as scan prints them
run sh -c 'head -n 3 a.tsv | cut -c 1-150; tail -n 3 a.tsv | cut -c 1-150'
run sh -c 'head -n 3 a.jsonl | cut -c 1-150; tail -n 3 a.jsonl | cut -c 1-150'
