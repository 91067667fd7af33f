# remotes: remote add/list/remove, clone, push (fast-forward, up to date, non-fast-forward,
# --force), fetch, pull, remote-tracking branches in branch -a, log and diff.
cairn init origin >/dev/null
cairn -C origin put t a 1
cairn -C origin put t b 2
cairn -C origin commit -m first >/dev/null
cairn -C origin branch side
say clone copies every branch and records origin with its tracking branches
run cairn clone origin copy
run cairn -C copy branch -a
run cairn -C copy remote
run cairn -C copy remote list
run cairn -C copy log --oneline origin/main
say a new commit pushed to origin, a second push has nothing to send
cairn -C copy put t c 3
cairn -C copy commit -m "from copy" >/dev/null
run cairn -C copy push origin
run cairn -C copy push origin main
run cairn -C origin log --oneline
run cairn -C origin get t c
say origin moves on, copy diverges: the push is refused as git refuses it
cairn -C origin put t d 4
cairn -C origin commit -m "on origin" >/dev/null
cairn -C copy put t e 5
cairn -C copy commit -m "diverged" >/dev/null
run cairn -C copy push origin
run cairn -C copy fetch origin
run cairn -C copy diff main origin/main
say pull merges origin/main, then the push is a fast-forward
run cairn -C copy pull origin
run cairn -C copy push origin
run cairn -C origin get t e
say --force replaces a branch that is not an ancestor, a new branch is created
cairn -C origin put t g 7
cairn -C origin commit -m "lost on origin" >/dev/null
cairn -C copy put t f 6
cairn -C copy commit -m "forced" >/dev/null
run cairn -C copy push origin
run cairn -C copy push origin --force
run cairn -C origin log --oneline
cairn -C copy branch lone
run cairn -C copy push origin lone
run cairn -C origin branch
say usage and errors name the remote
run cairn -C copy push nowhere
run cairn -C copy remote add origin somewhere
run cairn -C copy remote add "bad/name" somewhere
run cairn -C copy remote frob
run cairn clone nothing-here empty
run cairn clone origin copy
say removing a remote drops its tracking branches
run cairn -C copy remote remove origin
run cairn -C copy branch -a
run cairn -C origin verify
