#!/usr/bin/env bash
# The function-length checker counts what it should on a fixture: a limit below a function's
# length reports it (at its opening brace), a limit at its length does not; namespaces, classes,
# array initializers, and braces in strings and comments are not functions.
set -euo pipefail
checker="$1"
fixture="$2"
fail() { echo "FAIL: $*"; exit 1; }

out=$(python3 "$checker" --limit 10 "$fixture") && fail "an 11-line function passed a limit of 10"
grep -q "lengths.cc:31: 11 lines" <<<"$out" || fail "expected Long at line 31, 11 lines; got: $out"
[ "$(wc -l <<<"$out")" -eq 1 ] || fail "only Long is over 10 lines; got: $out"

python3 "$checker" --limit 11 "$fixture" >/dev/null || fail "nothing is over 11 lines"

out=$(python3 "$checker" --limit 6 "$fixture") && fail "limit 6 must report"
grep -q "lengths.cc:6: 8 lines" <<<"$out" || fail "Short (8 lines at line 6) not reported: $out"
grep -q "lengths.cc:20: 7 lines" <<<"$out" || fail "the inline member (7 lines) not reported: $out"
[ "$(wc -l <<<"$out")" -eq 3 ] || fail "three functions over 6 lines, no namespace, class or table: $out"
echo PASS
