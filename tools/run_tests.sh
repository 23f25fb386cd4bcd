#!/usr/bin/env bash
# README command 2: installs what hilo needs and runs every test (unit tests and multi-process
# MPI jobs of 2 to 8 ranks). Needs no network beyond Debian's package archive on first use.
# Extra arguments go to `bazel test` (e.g. --test_output=all).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup/install_deps.sh
bazel test //... "$@"
