# One writer at a time: while a load holds the repository, readers work and another writer is
# refused (exit 3) with the library's message.
cairn init . >/dev/null
cairn put t k v
hold_lock
run cairn get t k
run cairn put t k2 v2
say "a writer started with --wait waits for the lock instead (and CAIRN_WAIT does the same)"
# (3>&-: the waiters must not hold the loader's input open)
"$CAIRN_BIN" --wait 60 put t k4 v4 2>"$SCRATCH/wait.err" 3>&- &
waiter=$!
CAIRN_WAIT=60 "$CAIRN_BIN" put t k5 v5 2>"$SCRATCH/wait_env.err" 3>&- &
waiter_env=$!
sleep 0.3
printf 'k3\tv3\n' >&3
exec 3>&-
wait $loader
echo "load exited with $?"
wait $waiter
echo "the writer with --wait exited with $?"
cat "$SCRATCH/wait.err"
wait $waiter_env
echo "the writer with CAIRN_WAIT exited with $?"
cat "$SCRATCH/wait_env.err"
run cairn scan t
