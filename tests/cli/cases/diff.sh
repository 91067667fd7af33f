# diff between revisions and the working state, every output form and escaping; status;
# reading older versions with --at, also of a table dropped since.
cairn init . >/dev/null
run cairn diff
run cairn status
cairn put t a 1
cairn put t b 2
cairn put t c 3
cairn put gone g x
cairn put other o 1
run cairn status
cairn commit -m one >/dev/null
say no changes: diff prints nothing
run cairn diff
run cairn diff HEAD HEAD
run cairn diff --stat
run cairn status
say changes: modified, removed, added, a table dropped, a table created
cairn put t a one
cairn del t b
cairn put t d 4
run cairn drop gone
run cairn drop gone
cairn put new n y
run cairn diff
run cairn diff --stat
run cairn diff --json
run cairn diff --stat --json
run cairn diff HEAD WORKING t
run cairn diff HEAD WORKING gone
run cairn diff HEAD WORKING nope
run cairn status
cairn commit -m two >/dev/null
say between commits, in either order, and one revision against WORKING
run cairn diff HEAD~1 HEAD
run cairn diff HEAD HEAD~1
run cairn diff HEAD~1
run cairn diff HEAD~1 HEAD t --stat
say escaping as scan: tabs, newlines, backslashes, bytes that are not UTF-8, and "-"
cairn put t "tab	key" "line
break"
printf 'bin\377' | cairn put t bin -
printf '%s' - | cairn put t dash -
cairn put t empty ""
cairn put t 'back\slash' 'x'
run cairn diff
run cairn diff --json
run cairn diff WORKING HEAD
say errors
run cairn diff nonesuch
run cairn diff HEAD nonesuch
run cairn diff a b c d
run cairn diff --limit 3
say --at: read any version, also of a table dropped since
run cairn tables --at HEAD~1
run cairn tables --at HEAD
run cairn get gone g
run cairn get gone g --at HEAD~1
run cairn get gone g --at HEAD
run cairn get t b --at HEAD~1
run cairn get t b --at HEAD
run cairn scan gone --at HEAD~1
run cairn scan t --at HEAD~1 --from b --json
run cairn count t --at HEAD~1
run cairn count t --at WORKING
run cairn root gone --at HEAD~1
run cairn root gone --at HEAD
run cairn get t a --at nonesuch
run cairn put t a 1 --at HEAD
run cairn del t a --at HEAD
