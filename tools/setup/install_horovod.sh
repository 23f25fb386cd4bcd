#!/usr/bin/env bash
# Installs Horovod 0.28.1 from PyPI, built with MPI against Debian's torch, for the comparisons
# that pit hilo against it (tools/run_across_nodes.sh). Idempotent: quiet when it is installed.
# About 6 minutes the first time on 2 cores (it compiles Horovod's C++ core).
set -euo pipefail
if /usr/bin/python3 -c "import horovod.torch" 2>/dev/null; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# Debian's torch headers are symlinks into libtorch-dev; Horovod's build needs cmake and g++.
packages=(cmake g++ libtorch-dev python3-pip python3-psutil python3-yaml python3-cloudpickle
          python3-packaging python3-cffi)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "hilo setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "hilo setup: building Horovod 0.28.1 from PyPI with MPI (about 6 minutes)" >&2
HOROVOD_WITH_PYTORCH=1 HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1 HOROVOD_WITH_MPI=1 \
  HOROVOD_WITHOUT_GLOO=1 $SUDO /usr/bin/python3 -m pip install --quiet --no-build-isolation \
  --break-system-packages horovod==0.28.1
/usr/bin/python3 -c "import horovod.torch" ||
  { echo "hilo setup: Horovod installed but horovod.torch does not import" >&2; exit 1; }
