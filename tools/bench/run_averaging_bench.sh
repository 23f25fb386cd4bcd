#!/usr/bin/env bash
# Runs the averaging benchmark in the layouts of issue 3: P = 8 as 2 groups x 4 and 4 groups x 2,
# models of 1M, 10M and 25M float32 values. Prints each layout's table and writes all rows as a
# JSON array to the file given by --json (default: averaging_bench.json).
#   tools/bench/run_averaging_bench.sh [--json FILE] [-- benchmark flags, e.g. --rounds=11]
set -euo pipefail
cd "$(dirname "$0")/../.."
json_out=averaging_bench.json
if [ "${1:-}" = "--json" ]; then json_out="$2"; shift 2; fi
[ "${1:-}" = "--" ] && shift

tools/setup/install_deps.sh
bazel build --noshow_progress --ui_event_filters=-info -c opt //tools/bench:averaging_bench

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rows=()
for group_size in 4 2; do
  output=$(mpirun -np 8 --oversubscribe --bind-to none \
    --mca btl self,vader --mca btl_vader_single_copy_mechanism none --mca mpi_yield_when_idle 1 \
    -x HILO_GROUP_SIZE="$group_size" bazel-bin/tools/bench/averaging_bench "$@")
  grep -v '^JSON ' <<<"$output"
  echo
  while IFS= read -r line; do rows+=("${line#JSON }"); done < <(grep '^JSON ' <<<"$output")
done
{ echo "["; for i in "${!rows[@]}"; do sep=","; [ "$i" -eq $(( ${#rows[@]} - 1 )) ] && sep=""; echo "  ${rows[$i]}$sep"; done; echo "]"; } > "$json_out"
echo "JSON written to $json_out"
