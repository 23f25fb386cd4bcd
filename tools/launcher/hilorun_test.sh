#!/usr/bin/env bash
# hilorun end to end: bad requests fail before anything starts (one line, status 2); a real job
# runs with the launcher's settings; a job's exit status comes back; a rank killed with SIGKILL
# or exiting with an error ends the job non-zero within 30 s, named, with no process left; a
# SIGTERM to hilorun reaches the job.
#   hilorun_test.sh HILORUN HILO_DEMO FAILING_WORKER with-cuda|cpu-only
set -uo pipefail
hilorun="$1"; demo="$2"; worker="$3"; cuda_build="$4"
export TMPDIR="${TEST_TMPDIR:-${TMPDIR:-/tmp}}"
unset XML_OUTPUT_FILE TEST_PREMATURE_EXIT_FILE GTEST_OUTPUT
# The test sandbox: shared memory without CMA, session files in the test's own TMPDIR.
mpi_args="--mca btl self,vader --mca btl_vader_single_copy_mechanism none --mca btl_vader_backing_directory $TMPDIR"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# 1. Bad requests: status 2, one line on stderr, the command never runs.
marker="$TMPDIR/started"
check_refused() {
  local expect="$1"; shift
  rm -f "$marker"
  local err status
  err=$("$hilorun" "$@" 2>&1 >/dev/null); status=$?
  [ "$status" -eq 2 ] || fail "'$*' exited $status, expected 2"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "'$*' printed more than one line: $err"
  grep -q -- "$expect" <<<"$err" || fail "'$*' said '$err', expected '$expect'"
  [ ! -e "$marker" ] || fail "'$*' started the command"
  echo "refused as expected: $err"
}
check_refused "not divisible by --group-size 4" -np 6 --group-size 4 touch "$marker"
check_refused "no command to run" -np 4
check_refused "needs a positive number of slots" -np 4 -H node1:x touch "$marker"
check_refused "is not a host name" -np 4 -H "node1:2,,node2:2" touch "$marker"
check_refused "cannot read hostfile" -np 4 --hostfile "$TMPDIR/no-such-file" touch "$marker"
check_refused "unknown flag '--bogus'" -np 2 --bogus touch "$marker"
check_refused "more than the 2 slots" -np 4 -H localhost:2 touch "$marker"
printf 'node1 slots=3\nnode2 slots=x\n' > "$TMPDIR/hosts"
check_refused "line 2" -np 4 --hostfile "$TMPDIR/hosts" touch "$marker"

# 2. --check-build.
build=$("$hilorun" --check-build) || fail "--check-build exited non-zero"
grep -q "control plane *MPI (Open MPI" <<<"$build" || fail "--check-build: $build"
if [ "$cuda_build" = with-cuda ]; then
  grep -q "CUDA *built with CUDA" <<<"$build" || fail "--check-build does not say CUDA is built: $build"
else
  grep -q "CUDA *not built" <<<"$build" || fail "--check-build does not say CUDA is not built: $build"
fi

# 3. A real job, with the launcher's settings reaching the ranks.
out=$("$hilorun" -np 4 --group-size 2 --averaging-period 5 --fusion-threshold-mb 1 \
      --cycle-time-ms 2 --log-level warning --timeline "$TMPDIR/timeline.json" --mpirun-args "$mpi_args" \
      "$demo" --steps=20 --tensors=8 --max_elements=4096 --model_elements=4096 --report_every=0 2>&1)
status=$?
echo "$out" | tail -12
[ "$status" -eq 0 ] || fail "the demo job exited $status"
grep -q "4 ranks = 2 groups x 2" <<<"$out" || fail "the job did not run as 2 groups of 2"
grep -Eq "cross-group averaging rounds +4 \(every 5 steps" <<<"$out" ||
  fail "--averaging-period 5 did not reach the job"

# The timeline: valid JSON; per tensor the phases in order; fused allreduces packed and
# unpacked; the averaging rounds with their discrepancy.
/usr/bin/python3 - "$TMPDIR/timeline.json" <<'PY' || fail "the timeline does not check out"
import json, sys, collections
events = json.load(open(sys.argv[1]))
rows = {e["pid"]: e["args"]["name"] for e in events if e["ph"] == "M"}
phases = collections.defaultdict(list)
for e in events:
    if e["ph"] == "X":
        assert e["dur"] >= 0 and e["ts"] >= 0, e
        phases[rows[e["pid"]]].append(e)
# Every execution of a tensor: QUEUE, NEGOTIATE, then PACK, TRANSPORT, UNPACK when it was fused
# with others, or TRANSPORT alone when its step's burst sent it by itself (timing decides which).
alone, fused_run = ["QUEUE", "NEGOTIATE", "TRANSPORT"], ["QUEUE", "NEGOTIATE", "PACK", "TRANSPORT", "UNPACK"]
fused = [name for name, es in phases.items() if any(e["name"] == "PACK" for e in es)]
assert fused, "no fused allreduce in the timeline"
for name in fused:
    sequence = [e["name"] for e in sorted(phases[name], key=lambda e: e["ts"])]
    while sequence:
        run = fused_run if sequence[2:3] == ["PACK"] else alone
        assert sequence[:len(run)] == run, (name, sequence[:5])
        sequence = sequence[len(run):]
    assert all(e["args"]["fused_tensors"] >= 1 for e in phases[name] if e["name"] == "PACK")
rounds = [e for e in phases["averaging rounds"]]
assert len(rounds) == 4, len(rounds)
assert all("discrepancy" in e["args"] for e in rounds)
print("timeline: %d rows, %d events, %d fused tensors, %d averaging rounds"
      % (len(rows), len(events), len(fused), len(rounds)))
PY

# Progress: a periodic line with steps per second while the job runs (on its own endpoint).
"$hilorun" -np 4 --group-size 2 --progress --progress-interval-s 0.3 --mpirun-args "$mpi_args" \
  "$demo" --steps=8000 --tensors=4 --min_elements=256 --max_elements=1024 --model_elements=1024 \
  --tau=10 --report_every=0 > /dev/null 2> "$TMPDIR/progress.err"
status=$?
grep '^hilorun: progress' "$TMPDIR/progress.err" | head -3
[ "$status" -eq 0 ] || fail "the job with --progress exited $status"
grep -Eq '^hilorun: progress at [0-9.]+ s: [0-9.]+ steps/s \([0-9]+ steps\), [0-9.]+ MiB/s through rank 0, [0-9]+ averaging rounds' \
  "$TMPDIR/progress.err" || fail "no progress line with steps/s: $(cat "$TMPDIR/progress.err")"

# 4. The job's exit status comes back.
"$hilorun" -np 2 --mpirun-args "$mpi_args" sh -c 'exit 7' >/dev/null 2>&1
status=$?
[ "$status" -eq 7 ] || fail "a job exiting 7 made hilorun exit $status"

# 5. A rank that dies (SIGKILL) or exits with an error mid-job.
# Live (not zombie) processes running the worker binary.
alive_workers() { ps -eo stat=,args= | awk -v w="$worker" '$1 !~ /^Z/ && $2 == w' | wc -l; }
for mode in kill exit; do
  start=$(date +%s)
  err=$(timeout 60 "$hilorun" -np 4 --group-size 2 --mpirun-args "$mpi_args" \
        "$worker" --mode="$mode" --fail_rank=1 --fail_step=5 2>&1 >/dev/null)
  status=$?
  elapsed=$(( $(date +%s) - start ))
  summary=$(grep '^hilorun:' <<<"$err" | tail -1)
  echo "mode $mode: status $status after ${elapsed}s: $summary"
  [ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "mode $mode: hilorun exited $status"
  [ "$elapsed" -le 30 ] || fail "mode $mode: took ${elapsed}s"
  grep -q "rank 1" <<<"$summary" || fail "mode $mode: the summary does not name rank 1"
  sleep 1
  [ "$(alive_workers)" -eq 0 ] || fail "mode $mode: worker processes left behind"
done

# 6. SIGTERM to hilorun ends the job.
"$hilorun" -np 2 --mpirun-args "$mpi_args" "$worker" --fail_rank=-1 > "$TMPDIR/term.out" 2>&1 &
launcher=$!
for _ in $(seq 1 100); do
  [ "$(grep -c '^rank .* pid' "$TMPDIR/term.out")" -ge 2 ] && break
  sleep 0.2
done
[ "$(alive_workers)" -ge 2 ] || fail "the process check sees no running worker (broken check)"
kill -TERM "$launcher"
start=$(date +%s)
wait "$launcher"; status=$?
elapsed=$(( $(date +%s) - start ))
echo "SIGTERM: hilorun exited $status after ${elapsed}s"
[ "$status" -ne 0 ] || fail "SIGTERM: hilorun exited 0"
[ "$elapsed" -le 30 ] || fail "SIGTERM: took ${elapsed}s"
sleep 1
[ "$(alive_workers)" -eq 0 ] || fail "SIGTERM: worker processes left behind"

[ "$failures" -eq 0 ] && echo "PASS" || { echo "$failures failure(s)"; exit 1; }
