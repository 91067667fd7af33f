# branch, checkout, tag, reflog, and revisions: names, each branch's own working state,
# detached HEAD, deleting, revision suffixes, ambiguous prefixes.
cairn init . >/dev/null
say before the first commit the current branch has no head
run cairn branch
run cairn branch early
run cairn reflog
cairn put t k base
cairn commit -m base >/dev/null
run cairn branch
say create: at HEAD or at a start revision, bad names and duplicates fail with exit 3
run cairn branch feature
cairn put t k two
cairn commit -m two >/dev/null
run cairn branch old HEAD~1
run cairn branch
run cairn branch feature
run cairn branch "bad name"
run cairn branch -- -dash
run cairn branch HEAD
run cairn branch a..b
run cairn branch nowhere nonesuch
say each branch has its own working state, kept while away
run cairn put t k main-wip
run cairn checkout feature
run cairn get t k
run cairn checkout feature
run cairn put t k feature
run cairn commit -m "on feature"
run cairn checkout main
run cairn get t k
run cairn status
run cairn get t k --at feature
say delete: not the current branch, not one with uncommitted changes
run cairn branch -d main
cairn checkout feature >/dev/null
cairn put t z unsaved
cairn checkout main >/dev/null
run cairn branch -d feature
run cairn branch -d nonesuch
run cairn branch -d
run cairn branch -d old extra
run cairn branch -d old
run cairn branch
say detached HEAD: checkout of a revision that is not a branch
run cairn checkout HEAD~1
run cairn branch
run cairn status
run cairn put t k detached
run cairn commit -m "detached commit"
run cairn log --oneline
say a detached commit is kept by naming it before leaving
run cairn branch rescued
run cairn checkout main
run cairn reflog
say switching to a branch keeps the detached working state, detaching elsewhere would drop it
run cairn checkout rescued~1
run cairn put t k wip
run cairn checkout main
run cairn checkout HEAD
run cairn checkout rescued~1
run cairn get t k
run cairn commit -m "wip saved"
run cairn branch rescued2
run cairn checkout main
run cairn branch
run cairn checkout nonesuch
say tags
run cairn tag
run cairn tag v1 HEAD~1
run cairn tag v2
run cairn tag v1
run cairn tag "bad tag"
run cairn tag
run cairn get t k --at v1
run cairn reflog v1
run cairn tag -d v1
run cairn tag -d v1
run cairn tag
run cairn checkout v2
run cairn checkout main
say revisions: ~N, ^N, @{N}, @{TIME}, full ids and prefixes
run cairn log --oneline
run cairn log --oneline --limit 1 main~1
run cairn log --oneline --limit 1 HEAD^
run cairn log --oneline --limit 1 HEAD^^
run cairn log --oneline --limit 1 main@{1}
run cairn log --oneline --limit 1 main@{2099-01-01}
run cairn log --oneline --limit 1 main@{1999-01-01}
full=$(cairn log --json --limit 1 | cut -c8-71)
runas "cairn log --oneline --limit 1 FULL-ID" cairn log --oneline --limit 1 "$full"
runas "cairn log --oneline --limit 1 FIRST-6-DIGITS" cairn log --oneline --limit 1 "$(echo "$full" | cut -c1-6)"
masked "$(echo "$full" | cut -c1-3)" FIRST-3-DIGITS cairn log --oneline --limit 1 "$(echo "$full" | cut -c1-3)"
run cairn reflog nonesuch
run cairn reflog main extra
say an ambiguous prefix: empty commits until two ids share their first 4 hex digits
i=0 seen=" " p=""
while [ $i -lt 3000 ]; do
    i=$((i + 1))
    p=$(cairn commit --allow-empty -m "empty $i" | cut -c7-10)
    case "$seen" in *" $p "*) break ;; esac
    seen="$seen$p "
done
masked "$p" PREFIX cairn show "$p"
