#!/usr/bin/env bash
# README command 1: installs what hilo needs, builds it, and runs the demo job on this machine as
# several local ranks in groups.
#   tools/run_demo.sh [--np N] [--group-size G] [-- demo flags, e.g. --steps=500]
# Defaults: 8 ranks in 2 groups of 4. Exits with the job's status.
set -euo pipefail
cd "$(dirname "$0")/.."

np=8
group_size=4
while [ $# -gt 0 ]; do
  case "$1" in
    --np) np="$2"; shift 2 ;;
    --group-size) group_size="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "run_demo.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
if ! [[ "$np" =~ ^[1-9][0-9]*$ && "$group_size" =~ ^[1-9][0-9]*$ ]] || (( np % group_size != 0 )); then
  echo "run_demo.sh: --np ($np) must be a positive multiple of --group-size ($group_size)" >&2
  exit 2
fi

tools/setup/install_deps.sh
bazel build --noshow_progress --ui_event_filters=-info //tools/launcher:hilorun //tools/demo:hilo_demo

# Launched like any hilo job, through hilorun. Shared memory without the cross-process
# single-copy path, which containers often forbid.
exec bazel-bin/tools/launcher/hilorun -np "$np" --group-size "$group_size" \
  --mpirun-args "--mca btl self,vader --mca btl_vader_single_copy_mechanism none" \
  bazel-bin/tools/demo/hilo_demo "$@"
