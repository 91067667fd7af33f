# Help, version, and every kind of usage error (exit 2).
run cairn --help
run cairn --version
run cairn help scan
run cairn help merge
run cairn help key
run cairn help verify-proof
run cairn oplog --help
run cairn load --help
run cairn help
say usage errors: on stderr, exit 2
run cairn
run cairn frobnicate
run cairn help frobnicate
run cairn get
run cairn get t k extra
run cairn put t k
run cairn tables extra
run cairn get t k --json
run cairn scan t --bogus
run cairn scan t -x
run cairn scan t --limit
run cairn scan t --limit abc
run cairn scan t --limit -1
run cairn scan t --json=yes
run cairn -C
run cairn commit -m
run cairn branch -dx
run cairn log --oneline=yes
say no repository here, but usage is checked first
run cairn count t --reverse
