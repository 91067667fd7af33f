# A merge in progress: status says what is being merged and how to finish or abort it; merge
# refuses to start another and says the same; merge --abort restores the head commit's state.
cairn init . >/dev/null
for kv in "t a 1" "t b 1"; do cairn put $kv; done
cairn commit -m base >/dev/null
cairn branch theirs
cairn put t a ours
cairn commit -m ours >/dev/null
cairn checkout theirs >/dev/null
cairn put t a theirs
cairn put t b theirs
cairn commit -m theirs >/dev/null
cairn checkout main >/dev/null
say a merge recorded for resolution is in progress
run cairn merge theirs --strategy record
run cairn status
run cairn merge theirs
run cairn merge theirs --strategy ours
run cairn resolve t a --theirs
run cairn status
say abort: the working state is the head commit again, resolutions dropped
run cairn merge --abort
run cairn status
run cairn get t a
run cairn get t b
run cairn conflicts
run cairn merge --abort
run cairn merge --abort theirs
run cairn merge
say the merge can be made again
run cairn merge theirs --strategy theirs
run cairn get t a
run cairn status
