#!/usr/bin/env bash
# Runs multi_node_mpi_test across emulated nodes:
#   emulated_nodes_test.sh HARNESS BINARY NODES SLOTS [HILORUN HILO_STATUS]
# With HILORUN, the job is launched by `hilorun -H` (as on a real cluster) with a status endpoint,
# and on every node a rank queries its node's endpoint with HILO_STATUS.
set -euo pipefail
harness="$1"; binary="$(realpath "$2")"; nodes="$3"; slots="$4"
hilorun="${5:-}"; hilo_status="${6:+$(realpath "$6")}"
# The harness needs root and CAP_NET_ADMIN (namespaces, veth pairs) and the kernel's tbf queueing
# discipline. Where any of that is missing this test has nothing to run on; say so loudly
# instead of failing the whole suite.
probe="hiloprobe$$"
skip() { ip netns del "$probe" 2>/dev/null || true; echo "SKIPPED: $1"; exit 0; }
error=$(ip netns add "$probe" 2>&1) || skip "cannot create network namespaces here ($error)"
error=$(ip -n "$probe" link add "${probe}a" type veth peer name "${probe}b" 2>&1) ||
  skip "cannot create veth pairs here ($error)"
error=$(ip netns exec "$probe" tc qdisc add dev "${probe}a" root tbf rate 1gbit burst 256kb latency 50ms 2>&1) ||
  skip "cannot limit a link with tc tbf here ($error)"
ip netns del "$probe"
if [ -n "$hilorun" ]; then
  "$harness" --nodes "$nodes" --slots "$slots" --rate 1gbit --hilorun "$hilorun" -- \
    --status-port 50051 "$binary" "$nodes" "$hilo_status"
else
  "$harness" --nodes "$nodes" --slots "$slots" --rate 1gbit -- "$binary" "$nodes"
fi
leftover=$(ip netns list | grep -c "^hilo" || true)
[ "$leftover" -eq 0 ] || { echo "FAIL: $leftover namespaces left behind"; exit 1; }
