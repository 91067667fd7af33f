# put, get, del: values, missing keys and tables, stdin values, literal arguments.
cairn init . >/dev/null
run cairn put users alice "Alice Liddell"
run cairn get users alice
run cairn put users alice "replaced"
run cairn get users alice
run cairn tables
say missing key and missing table: exit 1
remember
run cairn get users nobody
run cairn get nosuchtable alice
run cairn del users nobody
run cairn del nosuchtable alice
run cairn count nosuchtable
run cairn root nosuchtable
run cairn scan nosuchtable
unchanged
say del
run cairn del users alice
run cairn get users alice
say empty key and empty value are legal
run cairn put users "" ""
run cairn get users ""
run cairn count users
say arguments are taken literally: spaces, backslashes, UTF-8, a leading dash after --
run cairn put users 'a b\t' '\n literally'
run cairn get users 'a b\t'
run cairn put users -- -dash -value
run cairn get users -- -dash
run cairn put users 'clé' 'valeur ☃'
run cairn scan users
say a value of - reads stdin, binary-safe
printf 'line1\nline2\000\377end' > value.bin
run cairn put users bin - < value.bin
hexrun cairn get users bin
printf '' | run cairn put users emptystdin -
run cairn get users emptystdin
say bad table names
run cairn put a/b k v
run cairn put '' k v
run cairn put "$(printf 'tab\tname')" k v
run cairn tables
