#!/usr/bin/env bash
# Runs a test binary as an MPI job on this machine, for Bazel sh_tests.
#   mpirun_test.sh NP GROUP_SIZE BINARY [ARGS...]
# GROUP_SIZE is exported as HILO_GROUP_SIZE ("default" leaves it unset: a group is a node).
# Extra HILO_* variables already in the environment are forwarded to every rank.
set -euo pipefail
np="$1"; group_size="$2"; binary="$3"; shift 3

# OpenMPI refuses root without these; Bazel's sandbox gives us a private TMPDIR for its
# session directory.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export TMPDIR="${TEST_TMPDIR:-${TMPDIR:-/tmp}}"
# Bazel's per-test files would be written by every rank at once: one XML report and one
# premature-exit marker per test, not per rank.
unset XML_OUTPUT_FILE TEST_PREMATURE_EXIT_FILE GTEST_OUTPUT
forward=()
if [ "$group_size" != "default" ]; then
  export HILO_GROUP_SIZE="$group_size"
fi
for name in $(env | grep -o '^HILO_[A-Z_]*' || true); do forward+=(-x "$name"); done

# Bazel's sandboxes give each test its own PID namespace, so two concurrent jobs can have the
# same PIDs: vader's shared-memory files go in the test's private TMPDIR so they cannot collide.
# Shared memory only, without the cross-process single-copy (CMA) path, which sandboxes and
# containers often forbid (vader then crashes in mca_btl_vader_poll_handle_frag); more ranks than cores; ranks yield the CPU while they wait in MPI, which
# keeps oversubscribed jobs from starving each other.
exec mpirun -np "$np" --oversubscribe --bind-to none \
  --mca btl self,vader --mca btl_vader_single_copy_mechanism none \
  --mca btl_vader_backing_directory "$TMPDIR" --mca mpi_yield_when_idle 1 \
  "${forward[@]}" "$binary" "$@"
