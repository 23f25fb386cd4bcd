#!/usr/bin/env bash
# `pip install .` as a Horovod user installs: into a fresh venv of Debian's python3 (with its
# system packages, for torch), offline (--no-index, --no-build-isolation: setuptools and wheel
# from Debian's packages), then checks that hilorun and hilo-status are on the venv's PATH, that
# the venv's python imports the installed hilo and runs a 2-rank job through the installed
# hilorun, that `pip wheel .` gives a wheel, and that `pip uninstall hilo` removes all of it.
# Run by tools/run_tests.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
checkout=$PWD
venv=$(mktemp -d /tmp/hilo_pip_venv.XXXXXX)
trap 'rm -rf "$venv"' EXIT
/usr/bin/python3 -m venv --system-site-packages "$venv"
pip=("$venv/bin/python" -m pip -q --disable-pip-version-check)
"${pip[@]}" install --no-index --no-build-isolation "$checkout"
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for command in hilorun hilo-status; do
  [ -x "$venv/bin/$command" ] || { echo "pip install: $command is not on the venv's PATH" >&2; exit 1; }
done
"$venv/bin/hilorun" --check-build >/dev/null
status_help=$("$venv/bin/hilo-status" --help 2>&1 || true)
case "$status_help" in
  *"prints the status of a running hilo job"*) ;;
  *) echo "pip install: hilo-status does not run: $status_help" >&2; exit 1 ;;
esac
cd /tmp
"$venv/bin/python" -c "import hilo, sys; assert hilo.__file__.startswith('$site'), hilo.__file__"
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$venv/bin/hilorun" -np 2 \
  "$venv/bin/python" -c "
import torch, hilo.torch as hvd
hvd.init()
assert hvd.allreduce(torch.ones(2), op=hvd.Sum).tolist() == [2.0, 2.0]
hvd.shutdown()"
"${pip[@]}" wheel --no-index --no-build-isolation --no-deps -w "$venv/wheels" "$checkout"
ls "$venv"/wheels/hilo-*.whl >/dev/null
"${pip[@]}" uninstall -y hilo
for leftover in "$venv/bin/hilorun" "$venv/bin/hilo-status" "$site/hilo"; do
  if [ -e "$leftover" ]; then echo "pip uninstall hilo left $leftover" >&2; exit 1; fi
done
echo "pip install / wheel / uninstall: ok"
