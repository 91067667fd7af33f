# Every command where there is no repository: a clear message and exit 3 (not 1, which means
# a missing key or table).
mkdir empty full && echo x > full/file
for d in empty missing full; do
    say "-C $d"
    run cairn -C $d get t k
done
say every command, in a directory that does not exist
for c in "put t k v" "get t k" "del t k" "scan t" "count t" "load t /dev/null" "tables" \
         "root t" "stats"; do
    run cairn -C missing $c
done
run ls missing
say the current directory
run cairn get t k
