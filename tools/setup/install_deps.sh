#!/usr/bin/env bash
# Installs the Debian packages hilo builds, tests and runs with. Idempotent: when every package is
# already installed it prints nothing and touches nothing (no apt-get update, no network).
set -euo pipefail

packages=(
  bazel-bootstrap pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libgtest-dev libgmock-dev
  libopenmpi-dev openmpi-bin
  iproute2
  python3 python3-dev pybind11-dev python3-numpy python3-pytest python3-venv python3-setuptools
  python3-wheel python3-pip
  python3-grpcio python3-protobuf python3-torch python3-sklearn
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "hilo setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
