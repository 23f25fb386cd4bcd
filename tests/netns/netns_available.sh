# Sourced by the emulated-node tests. netns_available returns 0 when this machine can run them:
# root with CAP_NET_ADMIN (namespaces, veth pairs) and the kernel's tbf queueing discipline.
# Where any of that is missing the tests have nothing to run on: it says so loudly and returns 1,
# and the test passes as skipped instead of failing the whole suite.
netns_available() {
  local probe="hiloprobe$$" error
  error=$(ip netns add "$probe" 2>&1) || { echo "SKIPPED: cannot create network namespaces here ($error)"; return 1; }
  if ! error=$(ip -n "$probe" link add "${probe}a" type veth peer name "${probe}b" 2>&1); then
    ip netns del "$probe" 2>/dev/null || true
    echo "SKIPPED: cannot create veth pairs here ($error)"; return 1
  fi
  if ! error=$(ip netns exec "$probe" tc qdisc add dev "${probe}a" root tbf rate 1gbit burst 256kb latency 50ms 2>&1); then
    ip netns del "$probe" 2>/dev/null || true
    echo "SKIPPED: cannot limit a link with tc tbf here ($error)"; return 1
  fi
  ip netns del "$probe"
}
