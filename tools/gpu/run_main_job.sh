#!/usr/bin/env bash
# Runs the main job (tools/train/compare.py: hilo against PyTorch's torch.distributed over Gloo) on
# a machine without Bazel from the bundle tools/gpu/pack.sh made (.gpu/), from the repository root,
# with that machine's Python and torch. The GPU machines lent here have 16 cores, so P = 16 ranks
# each get a core there, unlike on the 2-core development machine. Arguments go to compare.py;
# the log goes to $OUT/main_job.txt and the JSON of each invocation to $OUT when OUT is set.
#   bash tools/gpu/run_main_job.sh --ranks 16 --taus 32 --seeds 0 1 2 --quiet
set -uo pipefail
log=${OUT:-/tmp}/main_job.txt
exec > >(tee -a "$log") 2>&1
echo "=== $(date +%T) $(nproc) cores; $(python3 --version)"
python3 -c "import torch, sklearn; print('torch', torch.__version__, 'sklearn', sklearn.__version__)"
source tools/gpu/prepare.sh
[ "$binding_status" = 0 ] || { echo "the Python binding did not compile"; exit 1; }
PYTHONUNBUFFERED=1 python3 tools/train/compare.py --python "$(command -v python3)" \
  --hilorun .gpu/bin/hilorun --package .gpu/package "$@"
