# doc_sig: signed documents: --sign adds _sig, --verify-sig accepts it and refuses an unsigned
# document, a key outside the trusted keys, and options that go together.
# _ts (the time of a change) and signatures (random keys) differ from run to run: <ts>, <sig>.
dc() { "$CAIRN_BIN" "$@" >"$SCRATCH/dc.out"; r=$?; sed -e 's/"_ts":"[^"]*"/"_ts":"<ts>"/g' -e 's/"sig":"[0-9a-f]*"/"sig":"<sig>"/g' "$SCRATCH/dc.out"; return $r; }
drun() { runas "cairn $*" dc "$@"; }
cairn init . >/dev/null
cairn key generate alice --no-passphrase >/dev/null 2>&1
cairn key generate bob --no-passphrase >/dev/null 2>&1
drun doc insert ledger '{"_id":"t1","amount":100}' --sign alice
drun doc insert ledger '{"_id":"t2","amount":5,"_sig":{"key":"00","sig":"00"}}'
drun doc get ledger t1 --verify-sig
drun doc get ledger t2 --verify-sig
run cairn doc find ledger --verify-sig --project amount
drun doc patch ledger t2 '{"amount":6}' --sign bob
run cairn doc find ledger --verify-sig --project amount
say once the repository trusts keys, only those pass
cairn key trust "$CAIRN_HOME/keys/alice.pub" >/dev/null
run cairn doc get ledger t2 --verify-sig
run cairn doc find ledger '{"amount":100}' --verify-sig --project amount
say "a bulk import signs each document; restore signs too"
printf '{"_id":"t3","amount":1}\n{"_id":"t4","amount":2}\n' > batch.jsonl
run cairn doc import ledger batch.jsonl --sign alice
drun doc get ledger t3 t4 --verify-sig
cairn commit -m "ledger" >/dev/null
drun doc patch ledger t3 '{"amount":1000}'
run cairn doc get ledger t3 --verify-sig
drun doc restore ledger t3 --at HEAD --sign alice
drun doc get ledger t3 --verify-sig
say usage
run cairn doc insert ledger '{"_id":"t9"}' --sign nobody
run cairn doc insert ledger '{"_id":"t9"}' --key-dir "$SCRATCH"
run cairn doc delete ledger t1 --sign alice
run cairn doc count ledger --verify-sig
run cairn doc count ledger
