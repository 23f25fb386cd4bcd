#!/usr/bin/env bash
# The averaging benchmark in the setting the paper is about: P = 8 ranks on emulated nodes
# (network namespaces, tools/netns/emulated_nodes.sh) whose links are limited to --rate (default
# 1gbit), 2 nodes x 4 ranks and 4 nodes x 2; a group is a node. Needs root.
#   tools/bench/run_averaging_bench_netns.sh [--rate 1gbit] [--json FILE] [-- benchmark flags]
set -euo pipefail
cd "$(dirname "$0")/../.."
rate=1gbit
json_out=averaging_bench_netns.json
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate="$2"; shift 2 ;;
    --json) json_out="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "run_averaging_bench_netns.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
tools/setup/install_deps.sh
bazel build --noshow_progress --ui_event_filters=-info -c opt //tools/bench:averaging_bench
rows=()
for layout in "2 4" "4 2"; do
  read -r nodes slots <<<"$layout"
  output=$(tools/netns/emulated_nodes.sh --nodes "$nodes" --slots "$slots" --rate "$rate" -- \
    "$PWD/bazel-bin/tools/bench/averaging_bench" "$@")
  echo "[$nodes emulated nodes x $slots ranks, links limited to $rate]"
  grep -v '^JSON ' <<<"$output"
  echo
  while IFS= read -r line; do rows+=("${line#JSON }"); done < <(grep '^JSON ' <<<"$output")
done
{ echo "["; for i in "${!rows[@]}"; do sep=","; [ "$i" -eq $(( ${#rows[@]} - 1 )) ] && sep=""; echo "  ${rows[$i]}$sep"; done; echo "]"; } > "$json_out"
echo "JSON written to $json_out"
