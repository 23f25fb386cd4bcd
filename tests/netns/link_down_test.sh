#!/usr/bin/env bash
# A node's link goes down while averaging rounds run across 2 emulated nodes x 2 ranks, launched
# by hilorun: every rank must fail within HILO_STALL_SHUTDOWN_SECONDS with an error naming the
# host it lost, hilorun must exit non-zero, and no process may be left running on any node.
#   link_down_test.sh HARNESS BINARY HILORUN [MODEL_ELEMENTS]
set -euo pipefail
harness="$1"; binary="$(realpath "$2")"; hilorun="$(realpath "$3")"; elements=("${@:4}")
source "$(dirname "$0")/netns_available.sh"
netns_available || exit 0

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
export HILO_STALL_SHUTDOWN_SECONDS=8
allowed=$(( HILO_STALL_SHUTDOWN_SECONDS + 6 ))  # the timeout, the round in flight, a 2 s probe
start=$(date +%s)
status=0
output=$("$harness" --nodes 2 --slots 2 --rate 1gbit --link-down 2:5 --hilorun "$hilorun" -- \
  --abort-grace-s 10 "$binary" "$allowed" "$reports" "${elements[@]}" 2>&1) || status=$?
elapsed=$(( $(date +%s) - start ))
echo "$output"
echo "--- hilorun exited with status $status after $elapsed s"
fail() { echo "FAIL: $1"; exit 1; }
[ "$status" -ne 0 ] || fail "hilorun exited with status 0 after a node was lost"
grep -q "the link of node2 is down" <<<"$output" || fail "the harness did not take the link down"
for rank in 0 1 2 3; do
  [ -f "$reports/rank-$rank.txt" ] || fail "rank $rank wrote no report (did it hang?)"
  line=$(cat "$reports/rank-$rank.txt")
  echo "$line"
  grep -q "round failed after" <<<"$line" || fail "rank $rank: $line"
  # Ranks on node1 lose node2 and the other way round.
  lost=node2; [ "$rank" -ge 2 ] && lost=node1
  grep -q "(host $lost, " <<<"$line" || fail "rank $rank does not name $lost: $line"
  seconds=$(sed -n 's/.*round failed after \([0-9.]*\) s.*/\1/p' <<<"$line")
  awk -v s="$seconds" -v a="$allowed" 'BEGIN { exit !(s <= a) }' ||
    fail "rank $rank took $seconds s to fail (allowed: $allowed s)"
done
# No rank may outlive the job. On the cut-off node mpirun's daemon (orted) cannot hear that the
# job ended (its only line to mpirun is the lost link), as on a real cluster; the harness ends it.
if grep "still running on" <<<"$output" | grep -q "link_down"; then
  fail "a rank was left running"
fi
grep "still running on" <<<"$output" | grep -v "still running on node2: orted$" &&
  fail "processes other than the cut-off node's orted were left running"
[ "$elapsed" -le 120 ] || fail "hilorun took $elapsed s to exit"
echo "PASS"
