"""A repository rule that wraps system libraries found by pkg-config as one cc_library.

Bazel cannot fetch gRPC, Protobuf, Abseil or GoogleTest here (no network), so hilo links the
Debian packages. The rule runs `pkg-config --cflags --libs` once per fetch and keeps the token
order pkg-config prints (it emits --push-state/--as-needed groups that must stay together).
"""

def _split_tokens(text):
    return [t for t in text.replace("\n", " ").split(" ") if t]

def _pkg_config_impl(ctx):
    modules = ctx.attr.modules
    libs = ctx.execute(["pkg-config", "--libs"] + modules)
    if libs.return_code != 0:
        fail("pkg-config --libs %s failed: %s (run tools/setup/install_deps.sh)" % (" ".join(modules), libs.stderr))
    cflags = ctx.execute(["pkg-config", "--cflags"] + modules)
    if cflags.return_code != 0:
        fail("pkg-config --cflags %s failed: %s" % (" ".join(modules), cflags.stderr))

    # System include directories (/usr/include) need no flag; others would be absolute paths,
    # which Bazel rejects in copts, so only defines are forwarded.
    defines = [t[2:] for t in _split_tokens(cflags.stdout) if t.startswith("-D")]
    ctx.file("BUILD", """
cc_library(
    name = "lib",
    defines = {defines},
    linkopts = {linkopts},
    visibility = ["//visibility:public"],
)
""".format(defines = repr(defines), linkopts = repr(_split_tokens(libs.stdout) + ctx.attr.extra_linkopts)))

pkg_config_library = repository_rule(
    implementation = _pkg_config_impl,
    attrs = {
        "modules": attr.string_list(mandatory = True),
        "extra_linkopts": attr.string_list(),
    },
    local = True,
)
