#!/usr/bin/env bash
# Same speed before and after a change (issue 19's "no change of behaviour", and any refactor):
# builds the allreduce and averaging benchmarks at revisions BEFORE and AFTER (default HEAD; each
# in a temporary git worktree, so edits in progress do not leak in), then runs both builds
# alternately in one session — repetition i runs
# before-then-after when i is even, after-then-before when odd — and prints, per measurement,
# each build's median [min-max] over the repetitions and the per-repetition ratio after / before
# as median [min-max] (1.00 is the same speed; above 1 is slower after).
#   tools/bench/compare_builds.sh BEFORE [AFTER] [--repeats N] [--json FILE]
#                                 [--allreduce-sizes 4K,64K,1M,16M] [--no-averaging]
# Measurements: allreduce of 4 KiB, 64 KiB, 1 MiB, 16 MiB (or --allreduce-sizes) and a step of
# 100 tensors of 16 KiB at 4 ranks; sharded averaging rounds of 1M and 10M float32 at 8 ranks in
# 2 groups of 4 (unless --no-averaging).
set -euo pipefail
cd "$(dirname "$0")/../.."
before_rev="${1:?usage: tools/bench/compare_builds.sh BEFORE [AFTER] [--repeats N] [--json FILE]}"
shift
after_rev=HEAD
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then after_rev="$1"; shift; fi
repeats=3
json_out=compare_builds.json
allreduce_sizes=4K,64K,1M,16M
averaging=1
while [ $# -gt 0 ]; do
  case "$1" in
    --repeats) repeats="$2"; shift 2 ;;
    --json) json_out="$2"; shift 2 ;;
    --allreduce-sizes) allreduce_sizes="$2"; shift 2 ;;
    --no-averaging) averaging=0; shift ;;
    *) echo "compare_builds.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

tools/setup/install_deps.sh
work=$(mktemp -d /tmp/hilo-compare.XXXXXX)
trap 'for t in before after; do git worktree remove --force "$work/tree-$t" >/dev/null 2>&1 || true; done; rm -rf "$work"' EXIT
targets=(//tools/bench:allreduce_bench //tools/bench:averaging_bench)
build_into() {  # build_into SOURCE_DIR DEST_DIR
  # The build's server is shut down after: an idle Bazel server still takes CPU from the ranks.
  (cd "$1" && bazel build --noshow_progress --ui_event_filters=-info -c opt "${targets[@]}" &&
     bazel shutdown)
  mkdir -p "$2"
  cp -L "$1/bazel-bin/tools/bench/allreduce_bench" "$1/bazel-bin/tools/bench/averaging_bench" "$2/"
}
echo "before: $before_rev ($(git rev-parse --short "$before_rev")); after: $after_rev ($(git rev-parse --short "$after_rev"))"
for t in before after; do
  rev=$before_rev
  [ "$t" = after ] && rev=$after_rev
  git worktree add --quiet --detach "$work/tree-$t" "$rev"
  build_into "$work/tree-$t" "$work/$t"
done

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun --oversubscribe --bind-to none --mca btl self,vader
     --mca btl_vader_single_copy_mechanism none --mca mpi_yield_when_idle 1)
rows="$work/rows.jsonl"
: > "$rows"
run_build() {  # run_build BUILD REPETITION
  local bin="$work/$1" line
  echo "[repetition $2: $1]"
  while IFS= read -r line; do
    echo "{\"build\": \"$1\", \"repetition\": $2, \"bench\": \"allreduce\", \"row\": ${line#JSON }}" >> "$rows"
  done < <("${mpi[@]}" -np 4 "$bin/allreduce_bench" --sizes="$allreduce_sizes" --rounds=12 \
             --blocks=2 --memory_steps=0 --idle_seconds=0 | grep '^JSON ')
  [ "$averaging" -eq 1 ] || return 0
  while IFS= read -r line; do
    echo "{\"build\": \"$1\", \"repetition\": $2, \"bench\": \"averaging\", \"row\": ${line#JSON }}" >> "$rows"
  done < <("${mpi[@]}" -np 8 -x HILO_GROUP_SIZE=4 "$bin/averaging_bench" --sizes=1M,10M \
             --rounds=6 --blocks=2 | grep '^JSON ')
}
for ((i = 0; i < repeats; i++)); do
  if ((i % 2 == 0)); then order=(before after); else order=(after before); fi
  for build in "${order[@]}"; do run_build "$build" "$i"; done
done
python3 tools/bench/compare_builds_report.py "$rows" --json "$json_out"
