#!/usr/bin/env bash
# Runs the averaging benchmark in the layouts of issue 3: P = 8 as 2 groups x 4 and 4 groups x 2,
# models of 1M, 10M and 25M float32 values (tools/bench/averaging_bench.cc). Prints each layout's
# table and writes all rows as a JSON array.
#   tools/bench/run_averaging_bench.sh [--json FILE] [--emulated-nodes RATE] [-- benchmark flags]
# --emulated-nodes RATE puts each group on its own emulated node (tools/netns/emulated_nodes.sh,
# root only) whose link is limited to RATE (e.g. 1gbit); without it all ranks share one node.
set -euo pipefail
cd "$(dirname "$0")/../.."
json_out=averaging_bench.json
rate=""
while [ $# -gt 0 ]; do
  case "$1" in
    --json) json_out="$2"; shift 2 ;;
    --emulated-nodes) rate="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "run_averaging_bench.sh: unknown argument '$1' (see the header)" >&2; exit 2 ;;
  esac
done

tools/setup/install_deps.sh
bazel build --noshow_progress --ui_event_filters=-info -c opt //tools/bench:averaging_bench
bench="$PWD/bazel-bin/tools/bench/averaging_bench"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rows=()
for group_size in 4 2; do
  if [ -n "$rate" ]; then
    echo "[$(( 8 / group_size )) emulated nodes x $group_size ranks, links limited to $rate]"
    output=$(tools/netns/emulated_nodes.sh --nodes $(( 8 / group_size )) --slots "$group_size" \
      --rate "$rate" -- "$bench" "$@")
  else
    output=$(mpirun -np 8 --oversubscribe --bind-to none \
      --mca btl self,vader --mca btl_vader_single_copy_mechanism none --mca mpi_yield_when_idle 1 \
      -x HILO_GROUP_SIZE="$group_size" "$bench" "$@")
  fi
  grep -v '^JSON ' <<<"$output"
  echo
  while IFS= read -r line; do rows+=("${line#JSON }"); done < <(grep '^JSON ' <<<"$output")
done
{ echo "["; for i in "${!rows[@]}"; do sep=","; [ "$i" -eq $(( ${#rows[@]} - 1 )) ] && sep=""; echo "  ${rows[$i]}$sep"; done; echo "]"; } > "$json_out"
echo "JSON written to $json_out"
