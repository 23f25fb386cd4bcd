"""The @cuda repository: CUDA and NCCL from a local toolkit, when there is one.

hilo builds its CUDA code by default wherever the toolkit is installed (HILO_CUDA_PATH, default
/usr/local/cuda, with include/cuda_runtime.h and include/nccl.h), and a CPU-only runtime where it
is not. The repository always exists so that BUILD files can load @cuda//:defs.bzl; without a
toolkit its libraries are empty and `CUDA_FOUND` is False, which makes every CUDA target
incompatible (skipped by `bazel build //...`; see //third_party:cuda.bzl).
"""

def _hilo_local_cuda_impl(repository_ctx):
    path = repository_ctx.os.environ.get("HILO_CUDA_PATH", "/usr/local/cuda")
    root = repository_ctx.path(path)
    found = (root.get_child("include").get_child("cuda_runtime.h").exists and
             root.get_child("include").get_child("nccl.h").exists and
             root.get_child("bin").get_child("nvcc").exists)
    if found:
        for child in ["include", "lib64"]:
            repository_ctx.symlink(root.get_child(child), child)
        repository_ctx.template("BUILD", repository_ctx.attr.build_file, {
            "%{cuda_path}": str(root),
        })
    else:
        repository_ctx.file("BUILD", "\n".join([
            "# No CUDA toolkit at %s: nothing here is built (CUDA targets are incompatible)." % path,
            'cc_library(name = "cudart", visibility = ["//visibility:public"])',
            'cc_library(name = "nccl", visibility = ["//visibility:public"])',
            "",
        ]))
    repository_ctx.file("defs.bzl", "\n".join([
        "# Written by //third_party:cuda_configure.bzl.",
        "CUDA_FOUND = %s" % ("True" if found else "False"),
        'CUDA_PATH = "%s"' % path,
        "",
    ]))

hilo_local_cuda = repository_rule(
    implementation = _hilo_local_cuda_impl,
    attrs = {"build_file": attr.label(mandatory = True)},
    environ = ["HILO_CUDA_PATH"],
    local = True,
)
