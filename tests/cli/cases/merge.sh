# merge: fast-forward, up to date, every conflict shape with each strategy, recording
# conflicts, resolving them one by one and committing the merge; conflicts and resolve errors.
cairn init . >/dev/null
say base: t = a b c d, other = o, doomed and gone are whole tables
for kv in "t a 1" "t b 2" "t c 3" "t d 4" "other o 1" "doomed x 1" "gone g 1"; do cairn put $kv; done
cairn commit -m base >/dev/null
say fast-forward and already up to date
cairn branch ahead
cairn checkout ahead >/dev/null
cairn put t a 1.1
cairn commit -m ahead >/dev/null
cairn checkout main >/dev/null
run cairn merge ahead
run cairn merge ahead
run cairn merge ahead~1
run cairn log --oneline
say two sides change the same things differently
cairn branch theirs
# ours: a, b (same as theirs), c deleted, e added, doomed changed, gone dropped
cairn put t a ours
cairn put t b same
cairn del t c
cairn put t e ours-e
cairn put doomed x 2
cairn drop gone
cairn commit -m ours >/dev/null
cairn checkout theirs >/dev/null
# theirs: a, b (same), c changed, d deleted, e added differently, other changed (clean),
# doomed dropped, gone changed
cairn put t a theirs
cairn put t b same
cairn put t c theirs-c
cairn del t d
cairn put t e theirs-e
cairn put other o 2
cairn drop doomed
cairn put gone g 2
cairn commit -m theirs >/dev/null
cairn checkout main >/dev/null
cairn tag before-merge
say fail, the default: conflicts on stderr, nothing changes, exit 3
run cairn merge theirs
run cairn merge theirs --strategy fail
say the branch and its working state are as before: no diff against the tag, the same head
run cairn diff before-merge
run cairn status
say bad strategies and arguments are usage errors
run cairn merge theirs --strategy mine
run cairn merge
run cairn merge nonesuch
say ours: conflicts keep our side, clean changes from theirs arrive
run cairn merge theirs --strategy ours
run cairn scan t
run cairn get other o
run cairn tables
run cairn show
say theirs, from the same starting point
cairn branch take-theirs before-merge
cairn checkout take-theirs >/dev/null
run cairn merge theirs --strategy theirs
run cairn scan t
run cairn tables
say a merge needs a clean working state
cairn branch dirty before-merge
cairn checkout dirty >/dev/null
cairn put t z uncommitted
run cairn merge theirs
cairn del t z
say record: conflicts are recorded, the merge waits for them
cairn branch by-hand before-merge
cairn checkout by-hand >/dev/null
run cairn merge theirs --strategy record
run cairn status
run cairn conflicts
run cairn commit -m "too early"
run cairn merge ahead
say resolve each: a side, a value, a deletion, a whole table
run cairn resolve t a --theirs
run cairn resolve t a --theirs
run cairn resolve t c --ours
run cairn resolve t e --value both
run cairn resolve doomed --ours
run cairn conflicts
say a table theirs kept but ours dropped is loaded from their side first
run cairn resolve gone --theirs
cairn scan gone --at theirs | cairn load gone - 2>/dev/null
run cairn resolve gone --theirs
say resolve errors
run cairn resolve t zz --ours
run cairn resolve t --ours
run cairn resolve nope --ours
run cairn resolve t a
run cairn resolve t a --ours --theirs
run cairn resolve doomed --value v
run cairn status
run cairn commit -m "merged by hand"
run cairn status
run cairn conflicts
run cairn show
run cairn scan t
run cairn scan gone
run cairn tables
run cairn log --oneline --limit 3
say resolve with nothing recorded
run cairn resolve t a --ours
say merging unrelated work in the other direction commutes: same tables either way
cairn branch left before-merge
cairn branch right before-merge
cairn checkout left >/dev/null
cairn put t left 1
cairn put l x 1
cairn commit -m left >/dev/null
cairn checkout right >/dev/null
cairn put t right 1
cairn del t d
cairn commit -m right >/dev/null
cairn branch right2
cairn merge left >/dev/null
cairn checkout left >/dev/null
cairn merge right2 >/dev/null
run cairn diff left right
run cairn diff left right --stat
