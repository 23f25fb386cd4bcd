#!/usr/bin/env bash
# Runs multi_node_mpi_test across emulated nodes:
#   emulated_nodes_test.sh HARNESS BINARY NODES SLOTS [HILORUN HILO_STATUS]
# With HILORUN, the job is launched by `hilorun -H` (as on a real cluster) with a status endpoint,
# and on every node a rank queries its node's endpoint with HILO_STATUS.
set -euo pipefail
harness="$1"; binary="$(realpath "$2")"; nodes="$3"; slots="$4"
hilorun="${5:-}"; hilo_status="${6:+$(realpath "$6")}"
source "$(dirname "$0")/netns_available.sh"
netns_available || exit 0
if [ -n "$hilorun" ]; then
  "$harness" --nodes "$nodes" --slots "$slots" --rate 1gbit --hilorun "$hilorun" -- \
    --status-port 50051 "$binary" "$nodes" "$hilo_status"
else
  "$harness" --nodes "$nodes" --slots "$slots" --rate 1gbit -- "$binary" "$nodes"
fi
leftover=$(ip netns list | grep -c "^hilo" || true)
[ "$leftover" -eq 0 ] || { echo "FAIL: $leftover namespaces left behind"; exit 1; }
