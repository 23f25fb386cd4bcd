#!/usr/bin/env bash
# Runs hilo's allreduce against raw MPI (tools/bench/allreduce_bench.cc) at 2, 4 and 8 ranks on
# this machine: (a) message sizes 4 KiB..64 MiB, (b) a step of 100 tensors of 16 KiB, (c) a
# repeated step, and memory over 10,000 steps of (b) at 4 ranks. Prints the tables and writes
# every row as a JSON array.
#   tools/bench/run_allreduce_bench.sh [--json FILE] [-- benchmark flags]
set -euo pipefail
cd "$(dirname "$0")/../.."
json_out=allreduce_bench.json
if [ "${1:-}" = "--json" ]; then json_out="$2"; shift 2; fi
[ "${1:-}" = "--" ] && shift

tools/setup/install_deps.sh
bazel build --noshow_progress --ui_event_filters=-info -c opt //tools/bench:allreduce_bench

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rows=()
for ranks in 4 2 8; do
  memory_steps=0
  [ "$ranks" -eq 4 ] && memory_steps=10000
  echo "[$ranks ranks]"
  output=$(mpirun -np "$ranks" --oversubscribe --bind-to none \
    --mca btl self,vader --mca btl_vader_single_copy_mechanism none --mca mpi_yield_when_idle 1 \
    bazel-bin/tools/bench/allreduce_bench --memory_steps="$memory_steps" "$@")
  grep -v '^JSON ' <<<"$output"
  echo
  while IFS= read -r line; do rows+=("${line#JSON }"); done < <(grep '^JSON ' <<<"$output")
done
{ echo "["; for i in "${!rows[@]}"; do sep=","; [ "$i" -eq $(( ${#rows[@]} - 1 )) ] && sep=""; echo "  ${rows[$i]}$sep"; done; echo "]"; } > "$json_out"
echo "JSON written to $json_out"
