"""hilo_mpi_test: a Bazel test that runs a binary as every rank of a local MPI job."""

def hilo_mpi_test(name, binary, np, group_size = "default", args = [], env = {}, size = "medium"):
    """Runs `binary` under tests/mpi/mpirun_test.sh.

    Args:
      name: the sh_test.
      binary: label of the cc_binary each rank runs.
      np: number of ranks.
      group_size: HILO_GROUP_SIZE for the job, or "default" (a group is the node).
      args: extra arguments for the binary.
      env: extra environment for every rank (HILO_* variables are forwarded to all ranks).
      size: Bazel test size.
    """
    native.sh_test(
        name = name,
        size = size,
        srcs = ["//tests/mpi:mpirun_test.sh"],
        args = [str(np), str(group_size), "$(location %s)" % binary] + args,
        data = [binary],
        env = env,
        tags = ["mpi"],
    )

def hilo_mpi_test_per_setting(name, binary, np, group_size, variable, values):
    """One hilo_mpi_test per value of one HILO_* setting, named NAME_VALUE.

    Args:
      name: prefix of the test names.
      binary: label of the cc_binary each rank runs.
      np: number of ranks.
      group_size: HILO_GROUP_SIZE for the jobs.
      variable: the HILO_* variable that differs between the tests.
      values: its values; "default" leaves it unset.
    """
    for value in values:
        hilo_mpi_test(
            name = "%s_%s" % (name, value),
            binary = binary,
            env = {} if value == "default" else {variable: value},
            np = np,
            group_size = group_size,
        )
