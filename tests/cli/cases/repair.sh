# A torn pack tail (garbage after the last record, as a crash mid-write leaves) is set aside by
# the next writer, with a warning; every read works before and after.
cairn init . >/dev/null
printf 'a\t1\nb\t2\nc\t3\n' | cairn load t - 2>/dev/null
root=$(cairn root t)
last=$(ls packs/*.pack | tail -n 1)
printf 'garbage that is no pack record at all' >> "$last"
say readers just stop at the end of the last good record
run cairn scan t
say the next writer repairs it
run cairn put t d 4
run cairn scan t
run cairn count t
run sh -c 'ls quarantine | wc -l'
run cairn del t d
if [ "$(cairn root t)" = "$root" ]; then echo "(root as before the garbage)"; else echo "(ROOT DIFFERS)"; fi
