# History independence from the command line: two repositories reach the same tables by
# different routes (one load, against several commits, junk keys added and deleted, a side
# branch merged, a table dropped and made again) and print the same root for each table; in
# one repository, branches that reach the same tables by different routes show no difference.
awk 'BEGIN { srand(7); for (i = 0; i < 3000; i++) printf "k%06d\tvalue %d %.5f\n", int(rand() * 1e6), i, rand() }' | sort -u -k1,1 > data.tsv
head -1000 data.tsv > part1.tsv
sed -n '1001,2000p' data.tsv > part2.tsv
sed -n '2001,$p' data.tsv > part3.tsv
printf 'x\t1\ny\t2\n' > small.tsv
cairn init a >/dev/null
cairn init b >/dev/null
say a: one load per table, one commit
cairn -C a load t data.tsv 2>/dev/null
cairn -C a load u small.tsv 2>/dev/null
cairn -C a commit -m "all at once" >/dev/null
say b: parts in another order, junk added and deleted, a side branch merged, u dropped and made again
cairn -C b load t part3.tsv 2>/dev/null
cairn -C b put t junk-1 x
cairn -C b put u x stale
cairn -C b commit -m "part 3 and junk" >/dev/null
cairn -C b branch side
cairn -C b checkout side >/dev/null
cairn -C b load t part1.tsv 2>/dev/null
cairn -C b del t junk-1
cairn -C b commit -m "part 1 on a side branch" >/dev/null
cairn -C b checkout main >/dev/null
cairn -C b load t part2.tsv 2>/dev/null
cairn -C b drop u
cairn -C b load u small.tsv 2>/dev/null
cairn -C b commit -m "part 2, u made again" >/dev/null
run cairn -C b merge side
run cairn -C b log --oneline
say the same tables, the same roots
run cairn -C a tables
run cairn -C b tables
run cairn -C a root t
run cairn -C b root t
run cairn -C a root u
run cairn -C b root u
run cairn -C a count t
run cairn -C b count t
say in b, a branch from the first commit that copies the tables of a: no difference to main
cairn -C b branch copy main~2
cairn -C b checkout copy >/dev/null
cairn -C b drop t
cairn -C b drop u
cairn -C a scan t | cairn -C b load t - 2>/dev/null
cairn -C a scan u --json | cairn -C b load u - --json 2>/dev/null
cairn -C b commit -m "copied from a" >/dev/null
run cairn -C b diff main copy
run cairn -C b diff main copy --stat
run cairn -C b diff copy~1 copy --stat
run cairn -C b root t
