#!/usr/bin/env bash
# The status endpoint of a running job, queried from other processes: hilo-status (for people and
# as JSON, once and watching) and, independently, Python's grpcio with stubs generated here from
# proto/status.proto. A bad request gets INVALID_ARGUMENT and the endpoint keeps serving.
#   status_endpoint_test.sh HILORUN HILO_STATUS HILO_DEMO STATUS_PROTO
set -uo pipefail
hilorun="$1"; hilo_status="$2"; demo="$3"; status_proto="$4"
export TMPDIR="${TEST_TMPDIR:-${TMPDIR:-/tmp}}"
unset XML_OUTPUT_FILE TEST_PREMATURE_EXIT_FILE GTEST_OUTPUT
mpi_args="--mca btl self,vader --mca btl_vader_single_copy_mechanism none --mca btl_vader_backing_directory $TMPDIR"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$hilorun" -np 4 --group-size 2 --status-port "$port" --mpirun-args "$mpi_args" \
  "$demo" --steps=1000000 --tensors=4 --min_elements=256 --max_elements=1024 \
  --model_elements=1024 --tau=5 --report_every=0 > "$TMPDIR/job.out" 2>&1 &
job=$!
stop_job() { kill -TERM "$job" 2>/dev/null; wait "$job" 2>/dev/null; }
trap stop_job EXIT

# Wait for the endpoint, then for some averaging rounds.
for _ in $(seq 1 300); do
  "$hilo_status" --port "$port" --timeout_s 1 > "$TMPDIR/status.txt" 2>/dev/null && break
  sleep 0.2
done
for _ in $(seq 1 300); do
  "$hilo_status" --port "$port" --json > "$TMPDIR/status.json" 2>&1 &&
    /usr/bin/python3 -c 'import json,sys; sys.exit(0 if int(json.load(open(sys.argv[1]))["averaging"]["rounds"]) >= 2 else 1)' "$TMPDIR/status.json" && break
  sleep 0.2
done
"$hilo_status" --port "$port" > "$TMPDIR/status.txt" || fail "hilo-status failed"
cat "$TMPDIR/status.txt"
grep -q "rank 0 of 4 (group 0 of 2, member 0 of 2" "$TMPDIR/status.txt" || fail "topology not shown"
grep -Eq "^  world +4 +[0-9]+" "$TMPDIR/status.txt" || fail "world counters not shown"
grep -Eq "^  group 0 +2 +[0-9]+" "$TMPDIR/status.txt" || fail "group counters not shown"
grep -q "HILO_STATUS_PORT=$port" "$TMPDIR/status.txt" || fail "settings not shown"
grep -q "state        running" "$TMPDIR/status.txt" || fail "not running"

/usr/bin/python3 - "$TMPDIR/status.json" <<'PY' || fail "hilo-status --json does not check out"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["topology"]["world_size"] == 4 and s["topology"]["group_size"] == 2, s["topology"]
names = [c["name"] for c in s["communicators"]]
assert names == ["world", "group 0", "cross 0"], names
assert int(s["communicators"][1]["operations"]) > 0 and int(s["communicators"][1]["bytes"]) > 0
# Two groups: group-only cycles agree in the group, world cycles in the world.
assert int(s["communicators"][0]["agreements"]) > 0 and int(s["communicators"][1]["agreements"]) > 0, s["communicators"]
assert int(s["averaging"]["rounds"]) >= 2 and s["running"] is True
print("json: ok,", s["averaging"]["rounds"], "averaging rounds")
PY

watched=$("$hilo_status" --port "$port" --watch --interval_ms 50 --count 3 --json | wc -l)
[ "$watched" -eq 3 ] || fail "hilo-status --watch --count 3 printed $watched updates"

# Python's grpcio, with stubs generated from the .proto here (independent of hilo's C++).
mkdir -p "$TMPDIR/py"
cp "$status_proto" "$TMPDIR/py/status.proto"
(cd "$TMPDIR/py" && protoc -I. --python_out=. status.proto) || fail "protoc --python_out failed"
/usr/bin/python3 - "$TMPDIR/py" "$port" <<'PY' || fail "the grpcio client does not check out"
import sys
sys.path.insert(0, sys.argv[1])
import grpc
import status_pb2
channel = grpc.insecure_channel("127.0.0.1:" + sys.argv[2])
get = channel.unary_unary("/hilo.status.HiloStatus/GetStatus",
                          request_serializer=status_pb2.StatusRequest.SerializeToString,
                          response_deserializer=status_pb2.StatusReply.FromString)
watch = channel.unary_stream("/hilo.status.HiloStatus/WatchStatus",
                             request_serializer=status_pb2.WatchRequest.SerializeToString,
                             response_deserializer=status_pb2.StatusReply.FromString)
reply = get(status_pb2.StatusRequest(), timeout=10)
assert reply.topology.world_size == 4 and reply.running, reply
assert len(reply.communicators) == 3 and reply.averaging.rounds >= 2
updates = list(watch(status_pb2.WatchRequest(interval_ms=20, max_updates=3), timeout=10))
assert len(updates) == 3
assert updates[-1].uptime_seconds >= updates[0].uptime_seconds
for bad in (status_pb2.WatchRequest(interval_ms=-5), status_pb2.WatchRequest(interval_ms=50, max_updates=-1)):
    try:
        list(watch(bad, timeout=10))
        raise AssertionError("a bad request was accepted")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        print("bad request:", error.code(), error.details())
assert get(status_pb2.StatusRequest(), timeout=10).running, "the endpoint stopped serving"
print("grpcio: ok; uptime", round(reply.uptime_seconds, 1), "s; averaging rounds", reply.averaging.rounds)
PY

[ "$failures" -eq 0 ] && echo "PASS" || { echo "$failures failure(s)"; exit 1; }
