#!/usr/bin/env bash
# compare.py in a small layout: every mode on both stacks trains, and the table is printed.
set -uo pipefail
export TMPDIR="${TEST_TMPDIR:-${TMPDIR:-/tmp}}"
unset XML_OUTPUT_FILE TEST_PREMATURE_EXIT_FILE GTEST_OUTPUT
# In runfiles the launcher and the package are not under bazel-bin/: name them.
/usr/bin/python3 tools/train/compare.py --hilorun "$PWD/tools/launcher/hilorun" \
  --package "$PWD/client/python/package" --ranks 4 --node-size 2 --taus 4 --epochs 2 \
  --quiet --json "$TMPDIR/results.json" > "$TMPDIR/out.txt" 2>&1
status=$?
cat "$TMPDIR/out.txt"
[ "$status" -eq 0 ] || { echo "FAIL: compare.py exited $status"; exit 1; }
/usr/bin/python3 - "$TMPDIR/results.json" <<'PY' || { echo "FAIL: results"; exit 1; }
import json, sys
results = json.load(open(sys.argv[1]))
runs = {(r["stack"], r["mode"]) for r in results["runs"]}
assert runs == {(s, m) for s in ("hilo", "torch") for m in ("sync", "local", "hierarchical")}, runs
for r in results["runs"]:
    assert r["final_accuracy"] > 0.5, r  # two epochs already learn most digits
    assert r["total_bytes_per_rank"] > 0
hier = {r["stack"]: r for r in results["runs"] if r["mode"] == "hierarchical"}
# hilo's sharded rounds move less across nodes than the world all_reduce of PyTorch's averager.
assert hier["hilo"]["cross_node_bytes_per_rank"] < hier["torch"]["cross_node_bytes_per_rank"], hier
print("PASS")
PY
