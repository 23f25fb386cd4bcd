#!/usr/bin/env bash
# Runs multi_node_mpi_test across emulated nodes: emulated_nodes_test.sh HARNESS BINARY NODES SLOTS
set -euo pipefail
harness="$1"; binary="$2"; nodes="$3"; slots="$4"
# Network namespaces need root and CAP_NET_ADMIN. Where they cannot exist at all this test has
# nothing to run on; say so loudly instead of failing the whole suite.
probe="hiloprobe$$"
if ! error=$(ip netns add "$probe" 2>&1); then
  echo "SKIPPED: cannot create network namespaces here ($error)"
  exit 0
fi
ip netns del "$probe"
"$harness" --nodes "$nodes" --slots "$slots" --rate 1gbit -- "$binary" "$nodes"
leftover=$(ip netns list | grep -c "^hilo" || true)
[ "$leftover" -eq 0 ] || { echo "FAIL: $leftover namespaces left behind"; exit 1; }
