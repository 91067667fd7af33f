# Proofs: prove writes a proof of a key's value (or of its absence) and the id to trust;
# verify-proof checks it anywhere, with no repository, and names what fails in a proof that
# was altered, cut short or checked against another id.

# anchor FILE: the id of an anchor line "commit ID" / "catalog ID" that prove wrote to FILE.
anchor() { sed -n 's/^[a-z]* \([0-9a-f]\{64\}\)$/\1/p' "$1"; }

# flip FILE OFFSET: overwrites the byte at OFFSET (from the end when negative) with 'X'.
flip() {
    size=$(wc -c <"$1")
    off=$2
    [ "$off" -ge 0 ] || off=$((size + off))
    printf 'X' | dd of="$1" bs=1 seek="$off" conv=notrunc 2>/dev/null
}

cairn init repo >/dev/null
cd repo
printf 'alice\t{"name": "Alice"}\nbob\t{"name": "Bob"}\ntab\\there\tline\\none\nbin\\xff\tvalue\\xfe\n' |
    cairn load users - 2>/dev/null
awk 'BEGIN { for (i = 0; i < 5000; i++) printf "key%06d\tvalue number %d\n", i, i }' |
    cairn load big - 2>/dev/null
cairn commit -m "first" >/dev/null
cairn tag v1

say a proof of the working state is anchored at its catalog root
run cairn prove users alice -o ../alice.proof
cairn prove users alice -o ../alice.proof >../alice.anchor
run cairn verify-proof ../alice.proof --root "$(anchor ../alice.anchor)"
run cairn verify-proof ../alice.proof --root "$(anchor ../alice.anchor)" --json
say the proof goes to standard output when that is no terminal, and the anchor to stderr
cairn prove big key002500 >../big.proof 2>../big.anchor
run cat ../big.anchor
echo "(a proof through a tree of depth $(cairn stats | awk '/^table big/ { t = 1 } t && /depth/ { print $2; exit }'): $(wc -c <../big.proof) bytes)"
run cairn verify-proof - --root "$(anchor ../big.anchor)" <../big.proof
say an absent key: the proof shows its absence
run cairn prove users carol -o ../carol.proof
cairn prove users carol -o ../carol.proof >../carol.anchor 2>/dev/null
run cairn verify-proof ../carol.proof --root "$(anchor ../carol.anchor)"
say keys and values that are not text are escaped as scan escapes them, base64 in JSON
runas "cairn prove users 'tab<TAB>here' -o ../tab.proof" cairn prove users "$(printf 'tab\there')" -o ../tab.proof
run cairn verify-proof ../tab.proof --root "$(anchor ../alice.anchor)"
runas "cairn prove users 'bin<0xff>' -o ../bin.proof" cairn prove users "$(printf 'bin\377')" -o ../bin.proof
run cairn verify-proof ../bin.proof --root "$(anchor ../alice.anchor)"
run cairn verify-proof ../bin.proof --root "$(anchor ../alice.anchor)" --json

say at a revision: anchored at the commit, which names the catalog root
cairn put users alice '{"name": "Alice L."}'
cairn commit -m "second" >/dev/null
run cairn prove users alice --at v1 -o ../v1.proof
cairn prove users alice --at v1 -o ../v1.proof >../v1.anchor
run cairn verify-proof ../v1.proof --root "$(anchor ../v1.anchor)"
run cairn verify-proof ../v1.proof --root "$(anchor ../v1.anchor)" --json
run cairn prove users alice --at HEAD -o ../head.proof
cairn prove users alice --at HEAD -o ../head.proof >../head.anchor
run cairn verify-proof ../head.proof --root "$(anchor ../head.anchor)"
say --at WORKING is the working state: a catalog anchor again
run cairn prove users alice --at WORKING -o ../working.proof

say verify-proof needs no repository: from a directory that has none
cd ..
mkdir elsewhere
run cairn -C elsewhere verify-proof v1.proof --root "$(anchor v1.anchor)"
cd repo

say "a proof verifies against any id of its chain: v1's proof, anchored at the commit, against"
say "the commit's catalog root (here the one prove printed before the commit) and the table's"
say "root that cairn root prints; at that level, without what is above it"
run cairn verify-proof ../v1.proof --root "$(anchor ../alice.anchor)"
run cairn verify-proof ../v1.proof --root "$(cairn root users --at v1)"
run cairn verify-proof ../v1.proof --root "$(cairn root users --at v1)" --json
cairn prove users alice -o ../now.proof >/dev/null
run cairn verify-proof ../now.proof --root "$(cairn root users)"

say proofs that do not verify: exit 3, naming what failed
run cairn verify-proof ../v1.proof --root "$(cairn root users)"
run cairn verify-proof ../alice.proof --root "$(anchor ../v1.anchor)"
cp ../alice.proof ../bad.proof && flip ../bad.proof -1
run cairn verify-proof ../bad.proof --root "$(anchor ../alice.anchor)"
cp ../alice.proof ../bad.proof && flip ../bad.proof 40
run cairn verify-proof ../bad.proof --root "$(anchor ../alice.anchor)"
cp ../v1.proof ../bad.proof && flip ../bad.proof 30
run cairn verify-proof ../bad.proof --root "$(anchor ../v1.anchor)"
cp ../alice.proof ../bad.proof && flip ../bad.proof 0
run cairn verify-proof ../bad.proof --root "$(anchor ../alice.anchor)"
head -c 60 ../alice.proof >../short.proof
run cairn verify-proof ../short.proof --root "$(anchor ../alice.anchor)"
run cairn verify-proof - --root "$(anchor ../alice.anchor)" </dev/null
run cairn verify-proof ../missing.proof --root "$(anchor ../alice.anchor)"

say usage errors: exit 2
run cairn verify-proof ../alice.proof
run cairn verify-proof ../alice.proof --root 1234
run cairn verify-proof ../alice.proof --root "$(repeat 63 a)g"
run cairn verify-proof --root "$(anchor ../alice.anchor)"
run cairn prove users
run cairn prove users alice --json
printf '$ cairn prove users alice  (standard output a terminal)\n'
script -qec "'$CAIRN_BIN' prove users alice" /dev/null | tr -d '\r'
echo "[exit $(script -qec "'$CAIRN_BIN' prove users alice" /dev/null >/dev/null; echo $?)]"

say prove errors
run cairn prove nosuch alice -o ../x.proof
run cairn prove users alice --at v9 -o ../x.proof
runas "cairn prove users <4097 bytes> -o ../x.proof" cairn prove users "$(repeat 4097 k)" -o ../x.proof
run cairn prove users alice -o ../nosuchdir/x.proof
run cairn -C ../nowhere prove users alice -o ../x.proof
run ls ../x.proof
