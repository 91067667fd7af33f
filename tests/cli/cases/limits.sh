# Keys and values at and over the limits (4096-byte keys, 1 MiB values); every refusal leaves
# the repository as it was and creates no table.
cairn init . >/dev/null
cairn put t seed v
k4096=$(repeat 4096 k)
k4097=$(repeat 4097 k)
runas 'cairn put t K4096 "at the key limit"' cairn put t "$k4096" "at the key limit"
run cairn count t
remember
runas 'cairn put t K4097 v' cairn put t "$k4097" v
unchanged
runas 'cairn put newtable K4097 v' cairn put newtable "$k4097" v
unchanged
runas 'cairn get t K4097' cairn get t "$k4097"
runas 'cairn del t K4097' cairn del t "$k4097"
unchanged
say values through stdin: 1 MiB is fine, one byte more is not
repeat 1048576 v > v1m
repeat 1048577 v > v1m1
run cairn put t big - < v1m
runas 'cairn get t big | wc -c' sh -c '"$CAIRN_BIN" get t big | wc -c'
remember
run cairn put t big2 - < v1m1
run cairn put newtable big2 - < v1m1
unchanged
