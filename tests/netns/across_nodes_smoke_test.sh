#!/usr/bin/env bash
# A smoke run of the across-nodes main job (tools/train/across_nodes.py): 2 emulated nodes x 2
# ranks, one epoch of a small model, hilo (with blocking and with overlapped rounds) and PyTorch
# (Horovod is not installed by the test suite; tools/run_across_nodes.sh installs it for the real
# run). Checks that every run finished with an accuracy, link counters and checkpoints, and that
# the report and the JSON came out.
# Runs in its runfiles tree, where the launcher and the package are not under bazel-bin/.
set -euo pipefail
driver="$PWD/tools/train/across_nodes.py"
hilorun="$PWD/tools/launcher/hilorun"; package="$PWD/client/python/package"
source "$(dirname "$0")/netns_available.sh"
netns_available || exit 0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
/usr/bin/python3 "$driver" --nodes 2 --slots 2 --epochs 1 --hidden 64 --tau 4 \
  --stacks hilo torch --hilorun "$hilorun" --package "$package" --json "$out/results.json" \
  --quiet | tee "$out/report.txt"
fail() { echo "FAIL: $1"; exit 1; }
grep -q "^\[7/7\] 2 nodes, seed 0, torch hierarchical" "$out/report.txt" || fail "not every run finished"
grep -q "2 nodes x 2 ranks (P = 4), links 1gbit, tau 4" "$out/report.txt" || fail "no table"
/usr/bin/python3 - "$out/results.json" <<'PY' || fail "results JSON"
import json, sys
runs = json.load(open(sys.argv[1]))
assert len(runs) == 7, len(runs)
for run in runs:
    assert 0.3 < run["final_accuracy"] <= 1.0, run
    assert run["link_tx_bytes"] > 0, run
    assert run["checkpoints"], run
    assert "seconds_to_target" in run and "target_accuracy" in run, run
# Synchronous SGD moves gradients over the links every step; hierarchical local SGD only every tau.
by = {(r["stack"], r["variant"]): r for r in runs}
# The overlapped rounds move the same model as the blocking ones, one step later.
overlap = by[("hilo", "hierarchical+overlap")]
assert overlap["overlap"] == 1 and by[("hilo", "hierarchical")]["overlap"] == 0, overlap
assert overlap["link_tx_bytes"] < by[("hilo", "sync")]["link_tx_bytes"], overlap
for stack in ("hilo", "torch"):
    assert by[(stack, "hierarchical")]["link_tx_bytes"] < by[(stack, "sync")]["link_tx_bytes"], stack
PY
echo PASS
