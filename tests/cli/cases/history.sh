# History independence from the command line: the same 20,000 entries loaded in different
# orders, in one load or several, with keys added and deleted on the way, give one root hash.
awk 'BEGIN { srand(42); for (i = 0; i < 20000; i++) printf "key-%08d-%d\tvalue %d %.6f\n", int(rand() * 1e8), i, i, rand() }' > data.tsv
sort data.tsv > sorted.tsv
sort -r data.tsv > reversed.tsv
for r in gen sorted reversed split churn; do cairn init $r >/dev/null; done
cairn -C gen load t data.tsv 2>/dev/null
cairn -C sorted load t sorted.tsv 2>/dev/null
cairn -C reversed load t reversed.tsv 2>/dev/null
split -l 3000 reversed.tsv part.
for p in part.*; do cairn -C split load t $p 2>/dev/null; done
say churn: extra keys and changed values first, then the real data, then the extras deleted
awk -F'\t' 'NR % 500 == 0 { print $1 "\tstale value" } NR <= 20 { print "extra-" NR "\tx" }' data.tsv > extra.tsv
cairn -C churn load t extra.tsv 2>/dev/null
cairn -C churn load t data.tsv 2>/dev/null
i=1; while [ $i -le 20 ]; do cairn -C churn del t extra-$i; i=$((i + 1)); done
for r in gen sorted reversed split churn; do
    printf '%-9s count %s, ' $r "$(cairn -C $r count t)"
    if [ "$(cairn -C $r root t)" = "$(cairn -C gen root t)" ]; then echo "root equal to gen's"; else echo "root DIFFERS"; fi
done
echo "(split made $(ls part.* | wc -l) loads)"
