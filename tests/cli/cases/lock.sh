# One writer at a time: while a load holds the repository, readers work and another writer is
# refused (exit 3) with the library's message.
cairn init . >/dev/null
cairn put t k v
mkfifo fifo
"$CAIRN_BIN" load t fifo 2>"$SCRATCH/load.err" &
loader=$!
exec 3>fifo
# Wait until the loader holds the writer lock: a writer puts its pid into LOCK once it has it.
i=0
while [ "$(cat LOCK 2>/dev/null)" != "$loader" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
run cairn get t k
run cairn put t k2 v2
printf 'k3\tv3\n' >&3
exec 3>&-
wait $loader
echo "load exited with $?"
run cairn scan t
