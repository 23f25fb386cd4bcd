#!/usr/bin/env bash
# Copies built hilo artifacts where programs outside this checkout find them (tools/install.sh
# builds them first): hilorun and hilo-status into PREFIX/bin, the C ABI (hilo.h, libhilo.so)
# into PREFIX/include and PREFIX/lib, and the Python package `hilo` into SITE, a site-packages
# directory of /usr/bin/python3. Every artifact links only Debian's shared libraries, so the
# copies run anywhere on this machine. Replaces a previous installation.
#   install_files.sh HILORUN HILO_STATUS LIBHILO HILO_H PACKAGE_DIR PREFIX SITE
set -euo pipefail
if [ "$#" -ne 7 ]; then
  sed -n '2,8p' "$0" >&2
  exit 2
fi
hilorun=$1 hilo_status=$2 libhilo=$3 hilo_h=$4 package=$5 prefix=$6 site=$7
for artifact in "$hilorun" "$hilo_status" "$libhilo" "$hilo_h" "$package/hilo/__init__.py" \
    "$package/hilo/ops.py" "$package/hilo/torch/__init__.py" "$package/hilo/torch/optimizer.py" "$package/hilo/_hilo.so"; do
  if [ ! -f "$artifact" ]; then
    echo "hilo install: $artifact is missing (build first: tools/install.sh does)" >&2
    exit 1
  fi
done
install -d "$prefix/bin" "$prefix/lib" "$prefix/include" "$site"
install -m 0755 "$hilorun" "$prefix/bin/hilorun"
install -m 0755 "$hilo_status" "$prefix/bin/hilo-status"
install -m 0755 "$libhilo" "$prefix/lib/libhilo.so"
install -m 0644 "$hilo_h" "$prefix/include/hilo.h"
# The package as one directory swap, so that an import never sees half of two versions.
staging=$(mktemp -d "$site/.hilo.XXXXXX")
trap 'rm -rf "$staging"' EXIT
install -d "$staging/hilo/torch"
for module in "$package"/hilo/*.py; do  # hilo and hilo.torch are several modules each
  install -m 0644 "$module" "$staging/hilo/$(basename "$module")"
done
for module in "$package"/hilo/torch/*.py; do
  install -m 0644 "$module" "$staging/hilo/torch/$(basename "$module")"
done
install -m 0755 "$package/hilo/_hilo.so" "$staging/hilo/_hilo.so"
rm -rf "$site/hilo"
mv "$staging/hilo" "$site/hilo"
echo "hilo installed: hilorun and hilo-status in $prefix/bin, libhilo.so in $prefix/lib," \
  "hilo.h in $prefix/include, the Python package in $site/hilo"
