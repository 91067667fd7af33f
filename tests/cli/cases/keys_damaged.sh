# Damaged key files: a damaged key made without a passphrase is reported as damaged (exit 3),
# never as needing a passphrase (which would be a usage error, exit 2); `key list` lists every
# readable key and warns about each damaged file on its own line.
cairn init . >/dev/null
run cairn key generate open --no-passphrase
printf 'pw\n' >pass.txt
run cairn key generate guarded --passphrase-file pass.txt
run cairn key generate spare --no-passphrase
keys=$CAIRN_HOME/keys
cp "$keys/open.key" "$SCRATCH/open.key.good"

say a damaged unprotected secret key: exit 3, it names the file and asks for no passphrase
# flip one bit of the sealed secret (offset 70)
dd if="$keys/open.key" bs=1 skip=70 count=1 2>/dev/null | od -An -tu1 | {
    read b
    printf "\\$(printf %o $((b ^ 1)))" | dd of="$keys/open.key" bs=1 seek=70 conv=notrunc 2>/dev/null
}
run cairn put t a 1
run cairn commit -m "signed" --sign open </dev/null
say a protected key without its passphrase is still a usage error
run cairn commit -m "signed" --sign guarded </dev/null

say key list: every readable key, a warning per damaged file
echo "cairn-ed25519 nothex broken" >"$keys/broken.pub"
head -c 50 "$keys/spare.key" >"$SCRATCH/short" && cat "$SCRATCH/short" >"$keys/spare.key"
run cairn key list
run cairn key list --json
say nothing readable: exit 3
mkdir bad
echo "junk" >bad/x.pub
run cairn key list --dir bad
say restored from a backup, it signs again
cp "$SCRATCH/open.key.good" "$keys/open.key"
run cairn commit -m "signed" --sign open
