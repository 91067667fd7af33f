# The working set: oplog (every write in order, with checkpoints and bulk loads), checkpoint,
# and the working-set part of stats, after clean runs and after a writer was killed between
# its write and its checkpoint. Times of records show as <date>.

# killed_after_write ARGS...: runs cairn ARGS, a write command that prints a report before it
# closes the repository, with that report held up (standard output is a full pipe, unbuffered),
# and kills it (kill -9) once the operation log shows its write. The repository is then as a
# crash leaves it after a write was acknowledged and before it was checkpointed.
killed_after_write() {
    printf '$ cairn %s  (killed after its write)\n' "$*"
    before=$(cairn oplog | wc -l)
    mkfifo "$SCRATCH/full"
    exec 3<>"$SCRATCH/full"
    dd if=/dev/zero of="$SCRATCH/full" bs=4096 count=1024 oflag=nonblock 2>/dev/null
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        stdbuf -o0 "$CAIRN_BIN" "$@" >"$SCRATCH/full" 2>"$SCRATCH/err" &
    pid=$!
    n=0
    while [ "$(cairn oplog | wc -l)" -le "$before" ] && [ $n -lt 200 ]; do
        sleep 0.05
        n=$((n + 1))
    done
    kill -9 $pid
    wait $pid 2>/dev/null
    exec 3<&-
    rm "$SCRATCH/full"
    normalise <"$SCRATCH/err" | sed 's/^/2> /'
}

cairn init . >/dev/null
say a new repository: an empty log
run cairn oplog
run cairn checkpoint
say each write command logs one batch and checkpoints as it closes
run cairn put users alice '{"name": "Alice"}'
run cairn put users bob "$(printf 'tab\there')"
run cairn del users bob
printf 'carol\tC\ndave\tD\n' | cairn load users - 2>/dev/null
run cairn oplog
run cairn oplog --json
say "a load of 70,000 keys of 250-byte values (over 16 MiB) goes to the trees directly: one bulk"
say "record (a smaller load is logged: its puts are listed)"
awk 'BEGIN { for (i = 0; i < 70000; i++) printf "key%06d\tv%0249d\n", i, i }' | cairn load big - 2>/dev/null
run cairn oplog --since 9
run cairn oplog --since 9 --json
say "a drop is not in the log: only the catalog roots around it show it (the next record's"
say "before is not the bulk load's after). The library logs batches and bulk loads only."
run cairn drop big
run cairn oplog --since 9

say selecting by sequence number and time
run cairn oplog --since 5
run cairn oplog --since 99
run cairn oplog --from 2000-01-01T00:00:00Z --since 8
run cairn oplog --to 2000-01-01T00:00:00Z
run cairn oplog --from 4102444800
sleep 1.1
t=$(date +%s)
run cairn put users erin E
runas 'cairn oplog --from T  (T: a Unix time between the last two writes)' cairn oplog --from "$t"
runas 'cairn oplog --to T --since 9' cairn oplog --to "$t" --since 9
iso=$(date -u -d "@$t" +%Y-%m-%dT%H:%M:%SZ)
runas 'cairn oplog --from T  (T in RFC 3339, UTC)' cairn oplog --from "$iso"
plus2=$(date -u -d "@$((t + 7200))" +%Y-%m-%dT%H:%M:%S.000+02:00)
runas 'cairn oplog --from T  (T in RFC 3339 with an offset and a fraction)' cairn oplog --from "$plus2"
minus=$(date -u -d "@$((t - 5400 - 1))" +%Y-%m-%dt%H:%M:%S.999999999-01:30)
runas 'cairn oplog --to T --since 9  (T just before, with a negative offset)' cairn oplog --to "$minus" --since 9
say bad times and numbers: usage errors
run cairn oplog --from tomorrow
run cairn oplog --from 2026-02-30T00:00:00+00:00
say "a time without an offset is UTC (cairn help log: one grammar for every time)"
run cairn oplog --to 2000-11-21T10:00:00
run cairn oplog --to 2026-11-21T25:00:00+00:00
run cairn oplog --to 2026-11-21T10:00:00.Z
run cairn oplog --to -5
run cairn oplog --from 1795255200 --to 1795251600
run cairn oplog --since x
run cairn oplog extra
run cairn checkpoint extra
run cairn checkpoint --json

say stats: the working set, all of it in the trees
# (stored bytes vary by a byte or two with the times commits hold: shown as N)
runas 'cairn stats' sb stats
runas 'cairn stats --json' sb stats --json

say a writer killed after its write, before it closed: the write is only in the log
cairn put t k base && cairn commit -m base >/dev/null
cairn branch side
cairn put t k ours && cairn commit -m ours >/dev/null
cairn checkout side >/dev/null
cairn put t k theirs && cairn commit -m theirs >/dev/null
cairn checkout main >/dev/null
cairn merge side --strategy record >/dev/null 2>&1
killed_after_write resolve t k --theirs
runas 'cairn oplog | tail -n 3' eval 'cairn oplog | tail -n 3'
run cairn get t k
say "readers see the write; those that need its trees ask for a checkpoint"
run cairn status
runas 'cairn stats' sb stats
run cairn checkpoint
runas 'cairn oplog | tail -n 4' eval 'cairn oplog | tail -n 4'
run cairn status
runas 'cairn stats' sb stats
run cairn checkpoint
say each branch has its own log
run cairn checkout side
run cairn oplog
say no repository: exit 3
run cairn -C nowhere oplog
run cairn -C nowhere checkpoint
