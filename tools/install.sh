#!/usr/bin/env bash
# Installs hilo for programs outside this checkout, as `pip install horovod` does for Horovod:
# installs the Debian packages it needs, builds, and copies hilorun and hilo-status to
# PREFIX/bin, the C ABI to PREFIX/include and PREFIX/lib, and the Python package `hilo` to the
# site-packages of /usr/bin/python3 (Debian's torch imports only there). Afterwards, anywhere:
#   hilorun -np 4 /usr/bin/python3 train.py      # train.py: import hilo.torch as hvd
#   tools/install.sh [--prefix DIR]   (default /usr/local)   [--python-site DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=/usr/local
site=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --python-site) site=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "tools/install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$site" ]; then
  # Debian's /usr/bin/python3 reads /usr/local/lib/python3.X/dist-packages for local installs.
  site=$(/usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])')
fi
tools/setup/install_deps.sh
bazel build --noshow_progress --ui_event_filters=-info //tools/launcher:hilorun \
  //tools/status:hilo-status //client:libhilo.so //client/python:python_package
bin=$(bazel info bazel-bin 2>/dev/null)
tools/setup/install_files.sh "$bin/tools/launcher/hilorun" "$bin/tools/status/hilo-status" \
  "$bin/client/libhilo.so" client/hilo.h "$bin/client/python/package" "$prefix" "$site"
