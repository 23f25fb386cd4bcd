#!/usr/bin/env bash
# Runs an MPI job across several emulated nodes on this machine: one network namespace per node
# with its own address and hostname, all on one bridge, each node's link limited with tc.
# OpenMPI reaches the other nodes through a launch agent (instead of ssh) that enters their
# namespace. Needs root (ip netns, tc). Everything is removed on exit, even on failure.
#
#   emulated_nodes.sh [--nodes N] [--slots S] [--rate 1gbit] [--delay 0ms] [--hilorun PATH]
#                     [--link-down NODE:SECONDS] [--link-stats FILE] -- PROGRAM [ARGS...]
#
# PROGRAM runs as N*S ranks (S per node) via mpirun inside node 1 — or, with --hilorun, through
# `hilorun -np N*S -H node1:S,... ARGS...` (then the arguments after -- start with hilorun's own
# flags, as on a real cluster). HILO_* variables in the
# environment reach every rank. Within a node ranks use shared memory; between nodes, TCP over
# the limited link. The default group is a node, so a group's allreduces stay inside a namespace
# and cross-group rounds cross the link.
# --link-down NODE:SECONDS takes node NODE's link down that many seconds after the job starts (a
# node or its cable lost mid-job). On exit, any process still running on a node is reported
# ("still running on nodeN: ...") and killed, so that nothing outlives the harness.
# --link-stats FILE writes, when the job ends, one line per node: "nodeN TX_BYTES RX_BYTES", the
# bytes its link carried since the node was created (the job's traffic, its launch included).
set -euo pipefail

nodes=2
slots=2
rate=1gbit
delay=0ms
hilorun=""
link_down=""
link_stats=""
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes="$2"; shift 2 ;;
    --slots) slots="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --delay) delay="$2"; shift 2 ;;
    --hilorun) hilorun="$(realpath "$2")"; shift 2 ;;
    --link-down) link_down="$2"; shift 2 ;;
    --link-stats) link_stats="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "emulated_nodes.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "emulated_nodes.sh: no program given (use -- PROGRAM ARGS)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "emulated_nodes.sh: needs root (ip netns, tc)" >&2; exit 2; }
[[ "$nodes" =~ ^[1-9][0-9]*$ && "$nodes" -le 200 && "$slots" =~ ^[1-9][0-9]*$ ]] || {
  echo "emulated_nodes.sh: --nodes (1..200) and --slots must be positive numbers" >&2; exit 2; }

# Names unique to this invocation, so concurrent runs cannot collide.
prefix="hilo$$"
subnet="10.$(( ($$ >> 8) % 200 + 20 )).$(( $$ % 250 )).0"
subnet_prefix="${subnet%.0}"
workdir=$(mktemp -d "${TMPDIR:-/tmp}/hilo-netns.XXXXXX")

link_down_pid=""
cleanup() {
  if [ -n "$link_stats" ]; then
    : > "$link_stats"
    for i in $(seq 1 "$nodes"); do
      echo "node$i $(ip netns exec "${prefix}n$i" cat /sys/class/net/eth0/statistics/tx_bytes 2>/dev/null || echo -1)" \
        "$(ip netns exec "${prefix}n$i" cat /sys/class/net/eth0/statistics/rx_bytes 2>/dev/null || echo -1)" >> "$link_stats"
    done
  fi
  if [ -n "$link_down_pid" ]; then pkill -P "$link_down_pid" 2>/dev/null || true; kill "$link_down_pid" 2>/dev/null || true; fi
  for i in $(seq 1 "$nodes"); do
    pids=$(ip netns pids "${prefix}n$i" 2>/dev/null | xargs || true)
    if [ -n "$pids" ]; then
      echo "emulated_nodes.sh: still running on node$i: $(ps -o comm= -p "${pids// /,}" | xargs)" >&2
      kill -9 $pids 2>/dev/null || true
    fi
  done
  for i in $(seq 1 "$nodes"); do ip netns del "${prefix}n$i" 2>/dev/null || true; done
  ip netns del "${prefix}sw" 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

# The switch: a namespace holding one bridge; node i hangs off it by a veth pair.
ip netns add "${prefix}sw"
ip -n "${prefix}sw" link add br0 type bridge
ip -n "${prefix}sw" link set br0 up
hosts=()
for i in $(seq 1 "$nodes"); do
  ns="${prefix}n$i"
  ip netns add "$ns"
  ip link add "${prefix}a$i" type veth peer name "${prefix}b$i"
  ip link set "${prefix}a$i" netns "$ns"
  ip link set "${prefix}b$i" netns "${prefix}sw"
  ip -n "$ns" link set "${prefix}a$i" name eth0
  ip -n "$ns" addr add "${subnet_prefix}.$i/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "${prefix}sw" link set "${prefix}b$i" master br0
  ip -n "${prefix}sw" link set "${prefix}b$i" up
  # The node's link: everything it sends leaves at `rate` (plus `delay`).
  if [ "$delay" != "0ms" ]; then
    ip netns exec "$ns" tc qdisc add dev eth0 root handle 1: netem delay "$delay"
    ip netns exec "$ns" tc qdisc add dev eth0 parent 1: handle 2: tbf rate "$rate" burst 256kb latency 50ms
  else
    ip netns exec "$ns" tc qdisc add dev eth0 root tbf rate "$rate" burst 256kb latency 50ms
  fi
  echo "${subnet_prefix}.$i $ns node$i" >> "$workdir/hosts"
  hosts+=("${subnet_prefix}.$i:$slots")
done

# OpenMPI's launch agent: `agent HOST COMMAND...` runs COMMAND on HOST's node, with the node's
# hostname (distinct hostnames stop OpenMPI from treating two namespaces as one shared-memory node).
cat > "$workdir/agent" <<AGENT
#!/usr/bin/env bash
host="\$1"; shift
read -r _ ns name < <(grep "^\$host " "$workdir/hosts")
[ -n "\$ns" ] || { echo "hilo launch agent: unknown host \$host" >&2; exit 1; }
exec ip netns exec "\$ns" unshare -u sh -c "hostname \$name; exec \$*"
AGENT
chmod +x "$workdir/agent"

if [ -n "$link_down" ]; then
  down_node="${link_down%%:*}"; down_after="${link_down#*:}"
  [[ "$down_node" =~ ^[0-9]+$ && "$down_node" -ge 1 && "$down_node" -le "$nodes" ]] || {
    echo "emulated_nodes.sh: --link-down NODE:SECONDS, NODE from 1 to $nodes" >&2; exit 2; }
  ( sleep "$down_after"
    ip -n "${prefix}n$down_node" link set eth0 down
    echo "emulated_nodes.sh: the link of node$down_node is down" >&2 ) &
  link_down_pid=$!
fi

forward=()
for name in $(env | grep -o '^HILO_[A-Z_]*' || true); do forward+=(-x "$name"); done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
status=0
if [ -n "$hilorun" ]; then
  ip netns exec "${prefix}n1" unshare -u sh -c 'hostname node1; exec "$@"' sh \
    "$hilorun" -np $(( nodes * slots )) -H "$(IFS=,; echo "${hosts[*]}")" \
      --mpirun-args "--mca plm_rsh_agent $workdir/agent --mca btl self,vader,tcp --mca btl_tcp_if_include $subnet/24 --mca oob_tcp_if_include $subnet/24 --mca btl_vader_single_copy_mechanism none --mca mpi_yield_when_idle 1" \
      "$@" || status=$?
  exit "$status"
fi
ip netns exec "${prefix}n1" unshare -u sh -c 'hostname node1; exec "$@"' sh \
  mpirun --mca plm_rsh_agent "$workdir/agent" \
    --mca btl self,vader,tcp --mca btl_tcp_if_include "$subnet/24" \
    --mca oob_tcp_if_include "$subnet/24" \
    --mca btl_vader_single_copy_mechanism none --mca mpi_yield_when_idle 1 \
    -H "$(IFS=,; echo "${hosts[*]}")" -np $(( nodes * slots )) --oversubscribe --bind-to none \
    "${forward[@]}" "$@" || status=$?
exit "$status"
