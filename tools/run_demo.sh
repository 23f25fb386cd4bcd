#!/usr/bin/env bash
# README command 1: installs what hilo needs, builds it, and runs hilo's main job on this machine:
# an MLP trained on scikit-learn's handwritten digits by several local ranks, in synchronous SGD,
# plain local SGD and hierarchical local SGD (groups of 4), on hilo and on PyTorch's own
# torch.distributed, with a closing comparison table (tools/train/compare.py).
#   tools/run_demo.sh                 # P = 8, tau = 8, one seed: a few minutes
#   tools/run_demo.sh --full          # P = 8 and 16, tau = 8 and 32, three seeds
#   tools/run_demo.sh --ranks 16 --taus 32 --seeds 0 1 2 --json results.json
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,9p' "$0"; exit 0 ;; esac

tools/setup/install_deps.sh
bazel build --noshow_progress --ui_event_filters=-info \
  //tools/launcher:hilorun //client/python:python_package
exec /usr/bin/python3 tools/train/compare.py "$@"
