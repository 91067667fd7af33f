# retention: a collection's policy (--versions, --days, --legal-hold) honoured by gc; what gc
# let go is named as such by history, reads at an old revision, restore, prove and verify, and
# other collections keep every version. Commits carry fixed times ($CAIRN_COMMIT_TIME).
hist() { cairn doc history "$@" | awk '/^\(/ { print; next } { print $1, $2, $3 }'; }
ts() { sed 's/"_ts":"[^"]*"/"_ts":"<ts>"/g'; }
dget() { cairn doc get "$@" >"$SCRATCH/got"; r=$?; ts <"$SCRATCH/got"; return $r; }
gcsay() { cairn gc 2>/dev/null | grep '^retention' || echo "(gc let no version go)"; }
gcsay_in() { cairn -C "$1" gc >/dev/null; }
pushsay() { cairn push far 2>&1 | grep -v '^pushed'; }
farhist() { (cd "$SCRATCH/far" && hist notes a); }
vsay() { cairn verify 2>&1 | grep -E '^(note: .*retention|problems)|verify found'; }
cairn init . >/dev/null
i=1
while [ $i -le 5 ]; do
    cairn doc upsert notes "{\"_id\":\"a\",\"n\":$i}" >/dev/null
    cairn doc upsert notes "{\"_id\":\"b\",\"n\":$((i * 10))}" >/dev/null
    cairn doc upsert other "{\"_id\":\"a\",\"n\":$i}" >/dev/null
    CAIRN_COMMIT_TIME="2020-01-0${i}T12:00:00Z" cairn commit -m "round $i" >/dev/null
    i=$((i + 1))
done
run cairn doc retention notes
say bad policies change nothing
run cairn doc retention notes --days 3 --versions 2
run cairn doc retention notes --legal-hold maybe
run cairn doc retention notes --versions 0
run cairn doc retention notes --days 2000000
say the last 2 versions, under a legal hold first
run cairn doc retention notes --versions 2
run cairn doc retention notes --legal-hold on
CAIRN_COMMIT_TIME="2020-01-06T12:00:00Z" cairn commit -m "policy" >/dev/null
run gcsay
run hist notes a
run cairn doc retention notes --legal-hold off
CAIRN_COMMIT_TIME="2020-01-07T12:00:00Z" cairn commit -m "hold lifted" >/dev/null
run gcsay
run hist notes a
run hist notes b
run hist other a
run dget notes a --at HEAD~3
run dget notes a --at HEAD~4
run cairn doc restore notes a --at HEAD~4
run cairn doc prove notes a --at HEAD~4 -o proof
run vsay
say other tables and collections are untouched: their oldest versions read back
run dget other a --at HEAD~6
say the policy at an old revision, and a longer window, which brings nothing back
run cairn doc retention notes --at HEAD~2
run cairn doc retention notes --versions 100
CAIRN_COMMIT_TIME="2020-01-08T12:00:00Z" cairn commit -m "longer" >/dev/null
run gcsay
run hist notes a
run vsay
say a push to a new repository leaves out what retention let go, and says how much
cairn init "$SCRATCH/far" >/dev/null
cairn remote add far "$SCRATCH/far" >/dev/null
run pushsay
run farhist
say gc and the audit report in a repository whose collection has no commit yet
cairn init "$SCRATCH/unborn" >/dev/null
cairn -C "$SCRATCH/unborn" doc insert notes '{"_id":"a","n":1}' >/dev/null
cairn -C "$SCRATCH/unborn" doc retention notes --versions 2 >/dev/null
run gcsay_in "$SCRATCH/unborn"
run cairn -C "$SCRATCH/unborn" audit report --from 2000-01-01T00:00:00Z --to 2100-01-01T00:00:00Z
