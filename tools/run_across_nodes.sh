#!/usr/bin/env bash
# The main job across emulated nodes, against Horovod and PyTorch (tools/train/across_nodes.py):
# k nodes x 4 ranks on network namespaces whose links are shaped to 1 Gbit/s, a 1.1M-parameter
# model, synchronous, plain local and hierarchical local SGD on hilo, Horovod 0.28.1 (installed
# from PyPI here, built with MPI) and PyTorch over Gloo. Root only. Installs what it needs.
#   tools/run_across_nodes.sh                      # 2 and 4 nodes, seed 0
#   tools/run_across_nodes.sh --nodes 2 --seeds 0 1 2 --json results.json
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,7p' "$0"; exit 0 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "run_across_nodes.sh: needs root (network namespaces, tc)" >&2; exit 2; }
tools/setup/install_deps.sh
tools/setup/install_horovod.sh
bazel build --noshow_progress --ui_event_filters=-info \
  //tools/launcher:hilorun //client/python:python_package
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec /usr/bin/python3 tools/train/across_nodes.py "$@"
