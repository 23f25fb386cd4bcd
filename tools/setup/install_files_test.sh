#!/usr/bin/env bash
# tools/install.sh's copying step, into a temporary prefix and site-packages: the installed
# hilorun runs a 2-rank job of /usr/bin/python3 that imports the installed `hilo` (not this
# checkout's) from a directory outside the checkout, the installed hilo-status runs, and a C
# program builds against the installed hilo.h and libhilo.so and runs. A second installation
# replaces the first.
#   install_files_test.sh INSTALL_FILES HILORUN HILO_STATUS LIBHILO HILO_H PACKAGE_DIR
set -euo pipefail
install_files=$1 hilorun=$2 hilo_status=$3 libhilo=$4 hilo_h=$5 package=$6
root=${TEST_TMPDIR:-$(mktemp -d)}/installed
prefix=$root/prefix site=$root/site
elsewhere=$root/elsewhere
mkdir -p "$elsewhere"
fail() { echo "FAILED: $*" >&2; exit 1; }

for attempt in first second; do
  "$install_files" "$hilorun" "$hilo_status" "$libhilo" "$hilo_h" "$package" "$prefix" "$site" \
    || fail "$attempt installation"
done
for file in bin/hilorun bin/hilo-status lib/libhilo.so include/hilo.h; do
  [ -f "$prefix/$file" ] || fail "$prefix/$file not installed"
done
[ -z "$(ls -A "$site" | grep -v '^hilo$')" ] || fail "leftovers in $site: $(ls -A "$site")"

# A missing artifact is a clear error, not a half installation.
if "$install_files" "$hilorun" "$hilo_status" "$libhilo" "$hilo_h" "$root/nothing" \
    "$root/p2" "$root/s2" 2>"$root/err"; then
  fail "installing from a missing package directory succeeded"
fi
grep -q "is missing" "$root/err" || fail "no clear error: $(cat "$root/err")"
[ ! -e "$root/p2/bin/hilorun" ] || fail "a failed installation copied files"

cd "$elsewhere"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
output=$(env -u PYTHONPATH PYTHONPATH="$site" "$prefix/bin/hilorun" -np 2 /usr/bin/python3 -c '
import sys, numpy, hilo
assert hilo.__file__.startswith(sys.argv[1]), hilo.__file__
hilo.init()
total = hilo.allreduce(numpy.array([hilo.rank() + 1.0]), op=hilo.Sum)
print("rank %d of %d: sum %g" % (hilo.rank(), hilo.size(), total[0]))
hilo.shutdown()
' "$site" 2>&1) || fail "installed hilorun job: $output"
echo "$output"
[ "$(echo "$output" | grep -c 'of 2: sum 3$')" -eq 2 ] || fail "both ranks should sum to 3"

# hilo.torch is several modules: every one of them was installed (import does not start hilo).
env -u PYTHONPATH PYTHONPATH="$site" /usr/bin/python3 -c '
import sys, hilo.torch as hvd
assert hvd.__file__.startswith(sys.argv[1]), hvd.__file__
hvd.DistributedOptimizer, hvd.SyncBatchNorm, hvd.Compression.fp16, hvd.broadcast_optimizer_state
' "$site" || fail "the installed hilo.torch does not import"

# With no job to ask (loopback port 1 refuses), the installed hilo-status runs and says so.
status_output=$("$prefix/bin/hilo-status" --port 1 2>&1) && fail "hilo-status found a job on port 1"
echo "$status_output" | grep -q "^hilo-status: 127.0.0.1:1: " \
  || fail "the installed hilo-status did not run: $status_output"

cat > hello.c <<'C'
#include <stdio.h>
#include "hilo.h"
int main(void) {
  hilo_context_t* ctx = NULL;
  int size = 0;
  if (hilo_init(&ctx) != HILO_OK || hilo_size(ctx, &size) != HILO_OK) {
    fprintf(stderr, "%s\n", hilo_last_error());
    return 1;
  }
  printf("C ABI: size %d\n", size);
  hilo_shutdown(ctx);
  hilo_context_free(ctx);
  return 0;
}
C
cc -I"$prefix/include" hello.c -L"$prefix/lib" -lhilo -Wl,-rpath,"$prefix/lib" -o hello \
  || fail "building against the installed C ABI"
./hello | grep -q "C ABI: size 1" || fail "the C program did not run as one rank"
echo "PASS"
