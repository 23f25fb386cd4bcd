#!/usr/bin/env bash
# README command 2: installs what hilo needs and runs every test (unit tests and multi-process
# MPI jobs of 2 to 8 ranks), in the default build (with CUDA where the toolkit is installed) and
# in the CPU-only build, then the in-process tests again under AddressSanitizer and
# UndefinedBehaviorSanitizer, and a pip install into a venv. Needs no network beyond Debian's package archive on first use.
# Extra arguments go to `bazel test` (e.g. --test_output=all).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup/install_deps.sh
bazel test //... "$@"
# The CPU-only build (what a machine without the CUDA toolkit gets): CUDA targets are skipped,
# everything else builds and passes. Only the actions that differ are redone.
bazel test --define=hilo_cuda=off //... "$@"
# The in-process tests (threads as ranks, loopback sockets, shared memory; no mpirun) under
# AddressSanitizer and UndefinedBehaviorSanitizer (.bazelrc's config: its own output directory).
bazel test --config=sanitize //kernels:all //runtime:all //runtime/common:all \
  //runtime/ops:all //runtime/negotiation:all //runtime/execution:all //runtime/averaging:all \
  //runtime/observability:all //runtime/transport:all //runtime/transport/shm:all \
  //runtime/transport/tcp:all //runtime/transport/local:all \
  //runtime/transport/conformance:all "$@"
# No function in runtime/ over 60 lines (docs/architecture.md, "How the code is kept").
python3 tools/lint/function_lengths.py --limit 60 runtime
# `pip install .` / `pip wheel .` / `pip uninstall hilo` in a fresh venv, offline
# (docs/python.md, "Installing with pip").
tools/setup/pip_install_test.sh
