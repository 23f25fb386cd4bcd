#!/usr/bin/env bash
# Runs the averaging benchmark (tools/bench/averaging_bench.cc), prints each layout's table and
# writes all rows as a JSON array.
#   tools/bench/run_averaging_bench.sh [--json FILE] [--emulated-nodes] [-- benchmark flags]
# Without --emulated-nodes: one machine, P = 8 as 2 groups x 4 and 4 groups x 2.
# With --emulated-nodes (root only): each group on its own emulated node
# (tools/netns/emulated_nodes.sh), 2 and 4 nodes x 4 ranks, with links of 1 Gbit/s, 10 Gbit/s and
# 1 Gbit/s with 0.5 ms delay; default sizes 1M, 4M and 16M float32 values.
set -euo pipefail
cd "$(dirname "$0")/../.."
json_out=averaging_bench.json
emulated=0
while [ $# -gt 0 ]; do
  case "$1" in
    --json) json_out="$2"; shift 2 ;;
    --emulated-nodes) emulated=1; shift ;;
    --) shift; break ;;
    *) echo "run_averaging_bench.sh: unknown argument '$1' (see the header)" >&2; exit 2 ;;
  esac
done

tools/setup/install_deps.sh
bazel build --noshow_progress --ui_event_filters=-info -c opt //tools/bench:averaging_bench
bench="$PWD/bazel-bin/tools/bench/averaging_bench"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rows=()
netem_available() {
  local probe="hilonetem$$" ok=0
  ip netns add "$probe" 2>/dev/null || return 1
  ip netns exec "$probe" tc qdisc add dev lo root netem delay 1ms 2>/dev/null || ok=1
  ip netns del "$probe"
  return "$ok"
}
collect() {
  grep -v '^JSON ' <<<"$1"
  echo
  while IFS= read -r line; do rows+=("${line#JSON }"); done < <(grep '^JSON ' <<<"$1")
}
if [ "$emulated" -eq 1 ]; then
  for link in 1gbit:0ms:1 10gbit:0ms:10 1gbit:0.5ms:1; do
    IFS=: read -r rate delay gbit <<<"$link"
    if [ "$delay" != "0ms" ] && ! netem_available; then
      echo "[links of $rate with $delay delay: not run, this kernel has no netem qdisc (sch_netem)]"
      echo
      continue
    fi
    for nodes in 2 4; do
      echo "[$nodes emulated nodes x 4 ranks, links of $rate, delay $delay]"
      collect "$(tools/netns/emulated_nodes.sh --nodes "$nodes" --slots 4 --rate "$rate" \
        --delay "$delay" -- "$bench" --sizes=1M,4M,16M --link_gbit="$gbit" "$@")"
    done
  done
else
  for group_size in 4 2; do
    collect "$(mpirun -np 8 --oversubscribe --bind-to none \
      --mca btl self,vader --mca btl_vader_single_copy_mechanism none --mca mpi_yield_when_idle 1 \
      -x HILO_GROUP_SIZE="$group_size" "$bench" "$@")"
  done
fi
{ echo "["; for i in "${!rows[@]}"; do sep=","; [ "$i" -eq $(( ${#rows[@]} - 1 )) ] && sep=""; echo "  ${rows[$i]}$sep"; done; echo "]"; } > "$json_out"
echo "JSON written to $json_out"
