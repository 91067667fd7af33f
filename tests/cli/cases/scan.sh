# scan and count: ranges, prefixes, reverse, limits, escaping, JSON lines.
cairn init . >/dev/null
printf 'apple\t1\napricot\t2\nbanana\t3\nblueberry\t4\ncherry\t5\n' > fruit.tsv
cairn load fruit fruit.tsv 2>/dev/null
run cairn scan fruit
run cairn scan fruit --from b
run cairn scan fruit --to b
run cairn scan fruit --from apricot --to cherry
run cairn scan fruit --prefix b
run cairn scan fruit --prefix a --reverse
run cairn scan fruit --reverse
run cairn scan fruit --reverse --limit 2
run cairn scan fruit --limit 2 --from=b
run cairn scan fruit --limit 0
run cairn scan fruit --prefix zzz
run cairn scan fruit --from c --to b
run cairn count fruit
run cairn count fruit --prefix b
run cairn count fruit --from apricot --to cherry
run cairn count fruit --prefix zzz
say options may come first, with -C anywhere
run cairn scan --prefix=c -C . fruit
say 'escaping: tab, newline, CR, backslash, controls, DEL, invalid UTF-8; valid UTF-8 as is'
printf 'tab\\there\tnew\\nline\ncr\\r\tback\\\\slash\nctl\\x01\\x1f\tdel\\x7f\nutf8 é€😀\tbad \\xff\\xc3(\\xed\\xa0\\x80)\n\\x00nul\tz\n' > odd.tsv
run cairn load odd odd.tsv
run cairn scan odd
run cairn scan odd --json
run cairn scan fruit --json --limit 1
say a full disk on standard output is an error, reported once
runas 'cairn scan fruit > /dev/full' sh -c '"$CAIRN_BIN" scan fruit > /dev/full'
runas 'cairn scan fruit --json > /dev/full' sh -c '"$CAIRN_BIN" scan fruit --json > /dev/full'
runas 'cairn get fruit apple > /dev/full' sh -c '"$CAIRN_BIN" get fruit apple > /dev/full'
