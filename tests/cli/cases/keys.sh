# Signing keys and signed commits: key generate / list / trust / trusted, commit --sign, the
# passphrase from the environment, a file or the terminal, and how log and show grade each
# signature. Keys are random: fingerprints show as <fpN>, public keys as <IDN>. The default key
# directory is $CAIRN_HOME/keys, with CAIRN_HOME set by lib.sh to $SCRATCH/home.

# pp PASSPHRASE ARGS...: cairn ARGS with CAIRN_PASSPHRASE set to PASSPHRASE.
pp() {
    p=$1
    shift
    runas "CAIRN_PASSPHRASE=$p cairn $*" env CAIRN_PASSPHRASE="$p" "$CAIRN_BIN" "$@"
}

# on_tty ANSWERS ARGS...: cairn ARGS on a pseudo-terminal (script(1)), typing the next of the
# space-separated ANSWERS each time a passphrase prompt shows; prints what the terminal showed
# (nothing typed is echoed) and the exit code.
on_tty() {
    answers=$1
    shift
    printf '$ cairn %s  (on a terminal, typing: %s)\n' "$*" "$answers"
    cmd="'$CAIRN_BIN'"
    for arg in "$@"; do cmd="$cmd '$(printf %s "$arg" | sed "s/'/'\\\\''/g")'"; done
    : >"$SCRATCH/tty"
    i=0
    for a in $answers; do
        i=$((i + 1))
        n=0
        while [ "$(grep -o passphrase "$SCRATCH/tty" | wc -l)" -lt $i ] && [ $n -lt 400 ]; do
            sleep 0.05
            n=$((n + 1))
        done
        printf '%s\n' "$a"
    done | script -qec "$cmd" /dev/null >"$SCRATCH/tty"
    rc=$?
    tr -d '\r' <"$SCRATCH/tty" | normalise
    [ $rc -eq 0 ] || echo "[exit $rc]"
}

cairn init . >/dev/null
say no keys yet: empty lists
run cairn key list
run cairn key list --json
run cairn key trusted

say a new key needs a passphrase, or --no-passphrase
run cairn key generate alice </dev/null
pp correct-horse key generate alice
run cairn key generate bob --no-passphrase
printf 's3cret\nthe rest of the file is not read\n' >pass.txt
run cairn key generate carol --passphrase-file pass.txt
mkdir other
pp battery key generate dave --dir other
on_tty "staple staple" key generate erin
run cairn key list
run cairn key list --json
run cairn key list --dir other

say key errors
run cairn key generate alice --no-passphrase
run cairn key generate bad/name --no-passphrase
run cairn key generate .hidden --no-passphrase
pp "" key generate frank
run cairn key generate frank --passphrase-file missing.txt
: >empty.txt
run cairn key generate frank --passphrase-file empty.txt
printf 'crlf\r\n' >crlf.txt
run cairn key generate frank --passphrase-file crlf.txt
run cairn key generate frank --no-passphrase --passphrase-file pass.txt
on_tty "one two" key generate frank
run cairn key list --dir pass.txt
run ls "$CAIRN_HOME/keys"
say usage errors
run cairn key
run cairn key frobnicate
run cairn key list extra
run cairn key generate
run cairn key trusted --dir other
run cairn key trust -C . --no-passphrase f

say trusting keys: a .pub file or its line on standard input
run cairn key trust "$CAIRN_HOME/keys/alice.pub"
run cairn key trust "$CAIRN_HOME/keys/alice.pub"
sed 's/ alice$/ alice2/' "$CAIRN_HOME/keys/alice.pub" >alias.pub
run cairn key trust alias.pub
run cairn key trust - <other/dave.pub
run cairn key trusted
run cairn key trusted --json
say not a key line: exit 3, nothing trusted
echo "ssh-ed25519 AAAAC3Nza alice@example.com" >ssh.pub
run cairn key trust ssh.pub
sed 's/ [0-9a-f]\{64\} / 0000000000000000000000000000000000000000000000000000000000000000 /' \
    "$CAIRN_HOME/keys/bob.pub" >zero.pub
run cairn key trust zero.pub
run cairn key trust missing.pub
run cairn key trust - </dev/null
run cairn -C nowhere key trust other/dave.pub
run cairn key trusted

say signed commits
run cairn put t a 1
run cairn commit -m "signed by alice" --sign alice </dev/null
pp wrong commit -m "signed by alice" --sign alice
run cairn log --oneline
pp correct-horse commit -m "signed by alice" --sign alice
run cairn put t b 2
run cairn commit -m "signed by bob, whose key is not trusted" --sign bob
run cairn put t c 3
run cairn commit -m "signed by carol" --sign carol --passphrase-file pass.txt
run cairn put t d 4
pp battery commit -m "signed by dave" --sign dave --key-dir other
run cairn put t e 5
on_tty "wrong" commit -m "signed by erin" --sign erin
on_tty "staple" commit -m "signed by erin" --sign erin
run cairn commit -m "unsigned" --allow-empty
run cairn log
run cairn log --json --limit 2
run cairn show HEAD~1
say signing errors
run cairn commit -m x --allow-empty --sign nobody
run cairn commit -m x --allow-empty --sign dave
run cairn commit -m x --allow-empty --sign ../alice
run cairn commit -m x --allow-empty --key-dir other
run cairn commit -m x --allow-empty --passphrase-file pass.txt
run cairn commit -m x --allow-empty --sign
run cairn log --oneline --limit 1

say commit.require_signature refuses unsigned commits, takes signed ones
run cairn config commit.require_signature true
run cairn put t f 6
run cairn commit -m "unsigned"
pp correct-horse commit -m "signed by alice" --sign alice
say "... including those of a key the repository does not trust (log grades them)"
run cairn put t g 7
run cairn commit -m "signed by bob" --sign bob
run cairn log --limit 2
run cairn config commit.require_signature --unset
