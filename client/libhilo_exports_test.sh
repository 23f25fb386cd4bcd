#!/usr/bin/env bash
# Checks that the shared library exports every function its C header declares.
#   libhilo_exports_test.sh HEADER LIBRARY
set -euo pipefail
header="$1"; library="$2"
declared=$(grep -E '^[a-z_ *]+[ *]hilo_[a-z_]+\(' "$header" | grep -oE '[ *]hilo_[a-z_]+\(' | tr -d ' *(' | sort -u)
exported=$(nm -D --defined-only "$library" | awk '$2 == "T" {print $3}' | sort -u)
[ -n "$declared" ] || { echo "no declarations found in $header"; exit 1; }
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
if [ -n "$missing" ]; then
  echo "declared in $(basename "$header") but not exported by $(basename "$library"):"
  echo "$missing"
  exit 1
fi
echo "all $(echo "$declared" | wc -l) functions of $(basename "$header") are exported"
