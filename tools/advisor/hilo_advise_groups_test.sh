#!/usr/bin/env bash
# The advisor tool on synthetic trials whose answer is known.
set -uo pipefail
tool="$1"
fail() { echo "FAIL: $*"; exit 1; }

out=$("$tool" --trials='8:0.03,0.05,0.04;1:0;2:0.001,0.002;4:0.006,0.009,0.5') || fail "exit $? for a good input"
echo "$out"
grep -q "recommended: 4 groups" <<<"$out" || fail "expected 4 groups"

json=$("$tool" --json --threshold=0.002 --trials='2:0.001;4:0.004') || fail "json run failed"
echo "$json"
grep -q '"recommended_groups": 2' <<<"$json" || fail "expected 2 groups at threshold 0.002"

file="${TEST_TMPDIR:-/tmp}/trials.txt"
printf '# groups  discrepancies\n2 0.3 0.2\n4 0.5\n' > "$file"
"$tool" --trials_file="$file"; status=$?
[ "$status" -eq 3 ] || fail "expected exit 3 when nothing is within the threshold, got $status"

"$tool" --trials='2:abc' 2>/dev/null; status=$?
[ "$status" -eq 2 ] || fail "expected exit 2 for bad input, got $status"
"$tool" --trials_file=/nonexistent 2>/dev/null; status=$?
[ "$status" -eq 2 ] || fail "expected exit 2 for a missing file, got $status"
echo PASS
