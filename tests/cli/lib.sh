# lib.sh - helpers for the golden cases (sourced; POSIX sh). A case runs in $CASE_DIR, empty at
# the start (the helpers keep their files in $SCRATCH); everything it prints is compared with
# its .expected file.

# The binary under test.
cairn() { "$CAIRN_BIN" "$@"; }

# Commits are the same from run to run in everything but their time, so their ids differ.
export CAIRN_AUTHOR="Ada Lovelace <ada@example.com>"
# Signing keys: never the real ones, never a passphrase from the environment of the run.
export CAIRN_HOME="$SCRATCH/home"
unset CAIRN_PASSPHRASE

# Replaces what differs from run to run: the case directory (and $SCRATCH in it), timings, the
# version, times of commits, reflog entries and log records (<date>), the time an open spent
# replaying the log, and ids (below).
normalise() {
    sed -e "s|$CASE_DIR|\$CASE|g" \
        -e 's/ in [0-9]*\.[0-9][0-9] s ([0-9]* keys\/s)/ in S.SS s (K keys\/s)/' \
        -e 's/^cairn version .*/cairn version X.Y.Z/' \
        -e 's/ in [0-9]*\.[0-9][0-9] s$/ in S.SS s/' \
        -e 's/(pid [0-9]*)/(pid PID)/g' \
        -e 's/^\(  recovery  *\)[0-9]*\.[0-9]* s/\1S.SSSSSS s/' \
        -e 's/"recovery_ns":[0-9]*/"recovery_ns":NS/' \
        -e 's/[0-9]\{4\}-[0-9]\{2\}-[0-9]\{2\}T[0-9]\{2\}:[0-9]\{2\}:[0-9]\{2\}\(\.[0-9]\{3\}\)\{0,1\}Z/<date>/g' | ids
}

# Names ids by their first appearance in the case: a word of 12 hex digits (a short commit id)
# becomes <idN>, one of 64 (a commit id, a root hash, a public key) <IDN>, where N is the same
# for a short id and the full id it abbreviates; one of 16 (a key's fingerprint) <fpN>. Equal
# hashes get equal names, so a transcript still shows which ids are the same. The names live in
# $SCRATCH/ids, one "FIRST12 N" (for a fingerprint "FINGERPRINT N") a line.
ids() {
    awk -v map="$SCRATCH/ids" '
        BEGIN { while ((getline l < map) > 0) { split(l, f, " "); name[f[1]] = f[2]; n++ } }
        {
            out = ""; s = $0
            while (match(s, /[0-9a-f]+/)) {
                len = RLENGTH; pre = substr(s, 1, RSTART - 1); tok = substr(s, RSTART, len)
                s = substr(s, RSTART + len)
                if ((len == 12 || len == 16 || len == 64) &&
                    substr(pre, length(pre)) !~ /[A-Za-z0-9_]/ && substr(s, 1, 1) !~ /[A-Za-z0-9_]/) {
                    k = len == 16 ? tok : substr(tok, 1, 12)
                    if (!(k in name)) { name[k] = ++n; print k, n >> map }
                    tok = (len == 12 ? "<id" : len == 16 ? "<fp" : "<ID") name[k] ">"
                }
                out = out pre tok
            }
            print out s
        }
        END { close(map) }'
}

# Prints a file, and a marker when its last line has no newline (as `get` prints values).
show_out() {
    [ -s "$1" ] || return 0
    normalise <"$1" # (which ends the last line with a newline in any case)
    [ "$(tail -c 1 "$1" | od -An -tx1 | tr -d ' ')" = "0a" ] || printf '[no newline at end]\n'
}

# run CMD ARGS...: prints "$ CMD ARGS", then stdout, then stderr with each line marked "2> ",
# then "[exit N]" unless N is 0.
run() { runas "$*" "$@"; }

# runas LABEL CMD ARGS...: as run, but shows LABEL instead of a long command line.
runas() {
    label=$1
    shift
    printf '$ %s\n' "$label" | normalise
    "$@" >"$SCRATCH/out" 2>"$SCRATCH/err"
    rc=$?
    show_out "$SCRATCH/out"
    normalise <"$SCRATCH/err" | sed 's/^/2> /'
    [ $rc -eq 0 ] || echo "[exit $rc]"
}

# masked WORD NAME CMD ARGS...: as run, with WORD (something that varies from run to run, such as
# a short id prefix) shown as NAME.
masked() {
    word=$1 name=$2
    shift 2
    run "$@" | sed "s/$word/$name/g"
}

# hexrun CMD ARGS...: as run, but stdout is shown in hex (for binary output).
hexrun() {
    printf '$ %s | od\n' "$*"
    "$@" >"$SCRATCH/out" 2>"$SCRATCH/err"
    rc=$?
    od -An -tx1 <"$SCRATCH/out"
    normalise <"$SCRATCH/err" | sed 's/^/2> /'
    [ $rc -eq 0 ] || echo "[exit $rc]"
}

# sb ARGS...: cairn ARGS with the stored byte count shown as N (compressed sizes vary with
# what varies in the data: times, generated ids).
sb() { "$CAIRN_BIN" "$@" >"$SCRATCH/sb.out"; r=$?
       sed -E -e 's/^stored_bytes( +)[0-9]+/stored_bytes\1N/' -e 's/"stored_bytes":[0-9]+/"stored_bytes":N/' "$SCRATCH/sb.out"
       return $r; }

# say TEXT: a comment in the transcript.
say() { printf '# %s\n' "$*"; }

# The state of the repository in the current directory (or -C $1): tables, their roots, and
# the store's chunk and byte counts, so that a failed write that leaves stray chunks shows too.
state() {
    d=${1:-.}
    cairn -C "$d" tables
    for t in $(cairn -C "$d" tables); do printf '%s ' "$t"; cairn -C "$d" root "$t"; done
    cairn -C "$d" stats | head -3
}

# remember [DIR]; ...; unchanged [DIR]: checks that nothing in the repository changed.
remember() { state "${1:-.}" >"$SCRATCH/state" 2>&1; }
unchanged() {
    state "${1:-.}" >"$SCRATCH/state2" 2>&1
    if cmp -s "$SCRATCH/state" "$SCRATCH/state2"; then
        echo "(repository unchanged)"
    else
        echo "(REPOSITORY CHANGED)"
        diff "$SCRATCH/state" "$SCRATCH/state2"
    fi
}

# repeat N CHAR: CHAR N times, no newline.
repeat() { head -c "$1" /dev/zero | tr '\0' "$2"; }

# hold_lock: starts `cairn load t fifo` in the background (its pid in $loader, its stderr in
# $SCRATCH/load.err), which holds the writer lock until a line is written to file descriptor 3
# and 3 is closed (printf 'k\tv\n' >&3; exec 3>&-); returns once the loader holds the lock
# (a writer puts its pid into LOCK once it has it).
hold_lock() {
    mkfifo fifo
    "$CAIRN_BIN" load t fifo 2>"$SCRATCH/load.err" &
    loader=$!
    exec 3>fifo
    i=0
    while [ "$(cat LOCK 2>/dev/null)" != "$loader" ] && [ $i -lt 1000 ]; do
        sleep 0.01
        i=$((i + 1))
    done
}
