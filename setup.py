"""`pip install .` for hilo: builds the runtime, the Python package and the launcher with Bazel
(as tools/install.sh does) and installs them into the interpreter that runs pip — a venv, or
Debian's python3 with --break-system-packages — as Horovod installs with pip. `hilorun` and
`hilo-status` are console scripts that run the binaries shipped inside the package, so that
`pip uninstall hilo` removes everything. The build needs what tools/setup/install_deps.sh
installs (Bazel, gRPC, MPI, pybind11, ...); without Bazel it stops with a message saying so."""
import os
import shutil
import subprocess

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = ["//client/python:python_package", "//tools/launcher:hilorun",
           "//tools/status:hilo-status"]


def _bazel_bin():
    if shutil.which("bazel") is None:
        raise SystemExit(
            "hilo: building needs Bazel, which is not on PATH (Debian: apt-get install "
            "bazel-bootstrap; tools/setup/install_deps.sh installs every package hilo builds "
            "with)")
    build = subprocess.run(["bazel", "build", "--noshow_progress", "--ui_event_filters=-info"]
                           + TARGETS, cwd=HERE)
    if build.returncode != 0:
        raise SystemExit(
            "hilo: the Bazel build failed (above); tools/setup/install_deps.sh installs the "
            "packages it needs")
    return subprocess.run(["bazel", "info", "bazel-bin"], cwd=HERE, check=True,
                          capture_output=True, text=True).stdout.strip()


class BuildWithBazel(build_py):
    """Copies what Bazel built into the wheel: the package (modules and _hilo.so) and, under
    hilo/bin, the launcher and the status client."""

    def run(self):
        bazel_bin = _bazel_bin()
        package = os.path.join(bazel_bin, "client", "python", "package", "hilo")
        target = os.path.join(self.build_lib, "hilo")
        if os.path.exists(target):
            shutil.rmtree(target)
        shutil.copytree(package, target)
        os.makedirs(os.path.join(target, "bin"), exist_ok=True)
        for binary in ("tools/launcher/hilorun", "tools/status/hilo-status"):
            destination = os.path.join(target, "bin", os.path.basename(binary))
            shutil.copyfile(os.path.join(bazel_bin, binary), destination)
            os.chmod(destination, 0o755)
        for root, _, files in os.walk(target):  # Bazel's outputs are read-only
            for name in files:
                os.chmod(os.path.join(root, name), 0o755 if name in ("hilorun", "hilo-status")
                         or name.endswith(".so") else 0o644)


class BinaryDistribution(Distribution):
    """The wheel holds a compiled module and binaries: tagged for this platform and Python."""

    def has_ext_modules(self):
        return True


setup(
    name="hilo",
    version="0.1.0",
    description="Hierarchical local SGD communication runtime with a Horovod-compatible API",
    packages=["hilo", "hilo.torch"],
    package_dir={"": "client/python"},
    cmdclass={"build_py": BuildWithBazel},
    distclass=BinaryDistribution,
    entry_points={"console_scripts": ["hilorun = hilo._launcher:hilorun",
                                      "hilo-status = hilo._launcher:hilo_status"]},
    python_requires=">=3.9",
)
