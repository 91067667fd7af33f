# audit: reads recorded when audit.reads is on (get, a miss, scan, count), the log with its
# filters and JSON, verify and its head, --expect, the report of reads and commits, signed
# entries, bad options. Tampering with entries is tests/test_audit.c's (it needs the store).
cairn init . >/dev/null
# JSON lines carry the time in nanoseconds too, which differs from run to run.
ns() { "$@" | sed 's/"time_ns":[0-9]*/"time_ns":NS/'; }
cairn put people ada 1 >/dev/null
cairn put people bob 2 >/dev/null
cairn commit -m "two people" >/dev/null
say off by default: nothing recorded
run cairn get people ada
run cairn audit log
run cairn audit verify
run cairn config audit.reads
run cairn config audit.reads maybe
run cairn config audit.reads true
say every read is recorded before it is shown, a miss too
run cairn get people ada
run cairn get people zed
run cairn scan people --limit 1
run cairn count people --prefix b
export CAIRN_AUTHOR="Grace Hopper <grace@example.com>"
run cairn scan people --from b --json
export CAIRN_AUTHOR="Ada Lovelace <ada@example.com>"
run cairn audit log
runas 'cairn audit log --who "Grace Hopper <grace@example.com>" --json' \
    ns cairn audit log --who "Grace Hopper <grace@example.com>" --json
run cairn audit log --from 2000-01-01T00:00:00Z --to 2000-01-02T00:00:00Z
run cairn audit log --from yesterday
say verify prints the head to keep, --expect checks it later
run cairn audit verify
head=$(cairn audit verify | sed -n 's/^head //p')
run cairn audit verify --expect "$head"
run cairn audit verify --expect "9:$(echo "$head" | cut -d: -f2)"
run cairn audit verify --expect 3:nothex
run cairn audit verify --json
say signed with the key \$CAIRN_AUDIT_KEY names
cairn key generate reader --no-passphrase >/dev/null 2>&1
CAIRN_AUDIT_KEY=reader runas 'CAIRN_AUDIT_KEY=reader cairn get people bob' cairn get people bob
CAIRN_AUDIT_KEY=nobody runas 'CAIRN_AUDIT_KEY=nobody cairn get people bob' cairn get people bob
run cairn audit log --from 2000-01-01T00:00:00Z
run cairn audit verify
say the report: reads per user and table, changes per author and table
cairn put people cy 3 >/dev/null
cairn del people bob >/dev/null
cairn commit -m "cy in, bob out" --author "Grace Hopper <grace@example.com>" >/dev/null
run cairn audit report --from 2000-01-01T00:00:00Z --to 2100-01-01T00:00:00Z
run cairn audit report --from 2000-01-01T00:00:00Z --to 2100-01-01T00:00:00Z --json
run cairn audit report --from 2000-01-01T00:00:00Z
run cairn audit report --from 2100-01-01T00:00:00Z --to 2000-01-01T00:00:00Z
say bad use
run cairn audit
run cairn audit list
run cairn audit verify --who ada
run cairn audit log --expect 1:00
say "document reads are recorded too: get (ids asked, how many exist), find (the filter,"
say "how many it returns), count, export; before anything is shown"
cairn doc insert staff '{"_id":"e1","name":"Eve","dept":"ops"}' >/dev/null
cairn doc insert staff '{"_id":"e2","name":"Dan","dept":"dev"}' >/dev/null
# _ts (the time of a change) differs from run to run: shown as <ts>.
dc() { "$CAIRN_BIN" "$@" >"$SCRATCH/dc.out"; r=$?; sed 's/"_ts":"[^"]*"/"_ts":"<ts>"/g' "$SCRATCH/dc.out"; return $r; }
runas 'cairn doc get staff e1 e9' dc doc get staff e1 e9
runas "cairn doc find staff '{\"dept\":\"ops\"}'" dc doc find staff '{"dept":"ops"}'
run cairn doc count staff
run cairn doc export staff "$SCRATCH/staff"
run cairn audit log --from 2000-01-01T00:00:00Z --who "Ada Lovelace <ada@example.com>"
run cairn audit verify
say "the report counts changes to collections by the collection's name (not its index tables)"
cairn commit -m "staff" --author "Grace Hopper <grace@example.com>" >/dev/null
run cairn audit report --from 2000-01-01T00:00:00Z --to 2100-01-01T00:00:00Z
