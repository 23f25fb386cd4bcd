#!/usr/bin/env bash
# Runs Horovod's own PyTorch test suite (test/parallel/test_torch.py) against hilo.torch: the
# fairest check that a Horovod program runs after changing its import (docs/python.md, "Horovod's
# own tests"). Horovod's files are read from a checkout you give and copied to a temporary
# directory with `import horovod.torch` rewritten; they never enter this project.
#
#   tools/horovod_compat/run_horovod_torch_tests.sh HOROVOD [--ranks "2 4"] [--tag v0.28.1]
#       [--match REGEX] [--timeout SECONDS]
#
# HOROVOD is a Horovod work tree or a bare git repository (then --tag picks the version, by
# default v0.28.1). Each test runs as its own job (hilorun -np N, pytest on every rank), so no
# test inherits another's leftovers; a job past --timeout (default 120 s) counts as a hang.
# Prints each test's outcome per rank count (PASS, SKIP, FAIL, HANG) and the totals; exits
# non-zero if any test failed or hung. Needs network only to install pytest/mock when missing.
set -uo pipefail
cd "$(dirname "$0")/../.."
horovod=${1:?usage: run_horovod_torch_tests.sh HOROVOD [--ranks "2 4"] [--tag TAG] [--match RE] [--timeout S]}
shift
ranks="2 4" tag=v0.28.1 match="" limit=120
while [ "$#" -gt 0 ]; do
  case "$1" in
    --ranks) ranks=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --match) match=$2; shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    *) echo "run_horovod_torch_tests.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
python=/usr/bin/python3  # Debian's torch imports only there
for module in pytest mock cloudpickle packaging; do
  if ! "$python" -c "import $module" 2>/dev/null; then
    "$python" -m pip install -q --break-system-packages "$module" >/dev/null || {
      echo "cannot install $module for $python" >&2; exit 1; }
  fi
done
if ! "$python" -c "import horovod.runner.util.threads" 2>/dev/null; then
  # Horovod's test helpers (test/utils/common.py) import horovod.runner.
  echo "Horovod's test helpers need horovod installed for $python (tools/setup/install_horovod.sh)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/hilo_horovod_tests.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/parallel" "$work/utils"
if [ -f "$horovod/test/parallel/test_torch.py" ]; then
  cp "$horovod/test/parallel/test_torch.py" "$work/parallel/"
  cp "$horovod/test/utils/common.py" "$work/utils/"
else
  git --git-dir="$horovod" show "$tag:test/parallel/test_torch.py" > "$work/parallel/test_torch.py" &&
    git --git-dir="$horovod" show "$tag:test/utils/common.py" > "$work/utils/common.py" || {
      echo "no test/parallel/test_torch.py at $tag in $horovod" >&2; exit 1; }
fi
sed -i -e 's/^import horovod\.torch as hvd/import hilo.torch as hvd/' \
  -e 's/\bhorovod\.torch\b/hilo.torch/g' "$work/parallel/test_torch.py"

bazel build --noshow_progress --ui_event_filters=-info //tools/launcher:hilorun \
  //client/python:python_package || exit 1
bin=$(bazel info bazel-bin 2>/dev/null)
export PYTHONPATH="$bin/client/python/package${PYTHONPATH:+:$PYTHONPATH}"

tests=$(grep -oE '^    def (test_[A-Za-z0-9_]+)' "$work/parallel/test_torch.py" | awk '{print $2}' |
  grep -E "${match:-.}")
failed=0
for np in $ranks; do
  pass=0 skip=0 fail=0 hang=0
  for test in $tests; do
    log="$work/$np.$test.log"
    timeout --kill-after=10 "$limit" "$bin/tools/launcher/hilorun" -np "$np" \
      "$python" -m pytest -q -p no:cacheprovider --color=no -rfEs -x "$work/parallel/test_torch.py::TorchTests::$test" \
      > "$log" 2>&1
    rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      outcome=HANG; hang=$((hang + 1))
    elif [ "$rc" -ne 0 ]; then
      outcome=FAIL; fail=$((fail + 1))
    elif grep -qE '[0-9]+ skipped' "$log" && ! grep -qE '[0-9]+ passed' "$log"; then
      outcome=SKIP; skip=$((skip + 1))
    else
      outcome=PASS; pass=$((pass + 1))
    fi
    reason=""
    if [ "$outcome" = FAIL ]; then
      # The first error line pytest shows ("E   AssertionError: ..."), else the job's last words.
      reason=$(grep -m1 -E '^E  ' "$log" | sed 's/^E  *//' | cut -c1-160)
      [ -n "$reason" ] || reason=$(grep -v '^\s*$' "$log" | tail -1 | cut -c1-160)
    fi
    printf '%-2s %-4s %s %s\n' "$np" "$outcome" "$test" "$reason"
  done
  echo "== $np ranks: $pass passed, $skip skipped, $fail failed, $hang hung"
  [ $((fail + hang)) -eq 0 ] || failed=1
done
exit "$failed"
