# gc and verify: garbage from a deleted branch and a replaced working state is counted, then
# deleted; everything reachable still reads and verifies; a byte flipped inside a pack is named
# by verify (chunk, pack, offset) and a read of that chunk fails instead of returning wrong data.
# Stored sizes follow the compressed size of the commits and working states, which hold their
# times, so they move by a byte from run to run: sized shows the store's byte counts and pack
# offsets as N (chunk counts, and the plain bytes verify re-hashes, stay exact).
sized() {
    run "$@" | sed -E -e 's/^(garbage +[0-9]+ chunks, )[0-9]+ bytes/\1N bytes/' \
        -e 's/^(stored_bytes +)[0-9]+ -> [0-9]+$/\1N -> N/' -e 's/^(disk_freed +)[0-9]+ bytes/\1N bytes/' \
        -e 's/"(bytes_before|bytes_after)":[0-9]+/"\1":N/g' -e 's/ at offset [0-9]+/ at offset N/g'
}
cairn init . >/dev/null
printf 'a\t1\nb\t2\nc\t3\n' | cairn load t - 2>/dev/null
cairn commit -m one >/dev/null
cairn branch side
cairn checkout side >/dev/null
printf 'd\t4\ne\t5\n' | cairn load t - 2>/dev/null
cairn commit -m two >/dev/null
cairn checkout main >/dev/null
cairn branch -d side >/dev/null
say a clean repository verifies, garbage included
run cairn verify
sized cairn gc --dry-run
sized cairn gc
say after gc: nothing unreachable, every ref still reads and verifies
run cairn verify
run cairn scan t
run cairn log --oneline
sized cairn gc --json
run cairn verify --reachable-only --json
say a flipped byte inside a pack: verify names the chunk, its pack and offset
pack=$(ls packs/*.pack | tail -n 1)
size=$(wc -c <"$pack")
printf 'x\t%s\n' "$(seq 1 3000 | tr -d '\n')" | cairn load u - 2>/dev/null
# the table's leaf is the first chunk the load appended
printf 'Z' | dd of="$pack" bs=1 seek=$((size + 300)) conv=notrunc 2>/dev/null
sized cairn verify
sized cairn get u x
run cairn get t a
say the grace of gc on a remote store: below a minute only with --force, and the setting takes a minute or more
run cairn gc --grace 0
run cairn gc --grace soon --force
run cairn gc --force
run cairn config gc.grace 30s
run cairn config gc.grace 2h
run cairn config gc.grace
