"""The main job: trains tools/train/train_digits.py in three modes (synchronous SGD, plain local
SGD, hierarchical local SGD) on hilo and on PyTorch's own torch.distributed (Gloo), and prints a
closing table: final test accuracy (mean and range over seeds), wall time, bytes across nodes and
in total, and hilo's speed-up over PyTorch per mode.

  compare.py                       # P = 8, tau = 8, seed 0 (a few minutes on 2 cores)
  compare.py --full                # P = 8 and 16, tau = 8 and 32, seeds 0, 1, 2
  compare.py --ranks 16 --taus 32 --seeds 0 1 2 --json results.json

Needs the built launcher and package (tools/run_demo.sh builds them):
bazel-bin/tools/launcher/hilorun and bazel-bin/client/python/package; --hilorun, --package and
--python point elsewhere (tools/gpu/run_main_job.sh does, on a machine without Bazel).
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(ROOT, "tools/train/train_digits.py")
# Shared memory between the local ranks, without the single-copy path containers often forbid.
MCA = ["--mca", "btl", "self,vader", "--mca", "btl_vader_single_copy_mechanism", "none"]
MODES = ["sync", "local", "hierarchical"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(paths, stack, mode, ranks, node_size, tau, seed, epochs):
    train = [paths.python, TRAIN, "--stack", stack, "--mode", mode, "--node-size", str(node_size),
             "--tau", str(tau), "--seed", str(seed), "--epochs", str(epochs)]
    if stack == "hilo":
        group_size = {"sync": ranks, "local": 1, "hierarchical": node_size}[mode]
        return [paths.hilorun, "-np", str(ranks), "--group-size", str(group_size),
                "--mpirun-args", " ".join(MCA)] + train
    # PyTorch's stack, started by plain mpirun (hilo plays no part in it).
    return (["mpirun", "-np", str(ranks), "--oversubscribe", "--bind-to", "none",
             "--mca", "mpi_yield_when_idle", "1"] + MCA + train + ["--port", str(free_port())])


def run(paths, stack, mode, ranks, node_size, tau, seed, epochs, verbose):
    env = dict(os.environ, PYTHONPATH=paths.package, OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env.pop("HILO_GROUP_SIZE", None)
    process = subprocess.Popen(command(paths, stack, mode, ranks, node_size, tau, seed, epochs),
                               env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result, output = None, []
    for line in process.stdout:
        output.append(line)
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
        elif verbose and line.startswith("  ["):
            print(line, end="", flush=True)
    if process.wait() != 0 or result is None:
        sys.stderr.write("".join(output[-40:]))
        raise SystemExit("compare.py: the %s %s run (P=%d, tau=%d, seed %d) failed"
                         % (stack, mode, ranks, tau, seed))
    return result


def summarize(results):
    rows = []
    keys = sorted({(r["ranks"], r["tau"]) for r in results})
    for ranks, tau in keys:
        for mode in MODES:
            wall = {}
            for stack in ("hilo", "torch"):
                runs = [r for r in results if (r["ranks"], r["tau"], r["mode"], r["stack"]) ==
                        (ranks, tau, mode, stack)]
                if not runs:
                    continue
                accuracies = [100 * r["final_accuracy"] for r in runs]
                wall[stack] = statistics.mean(r["wall_seconds"] for r in runs)
                rows.append({
                    "ranks": ranks, "tau": tau, "mode": mode, "stack": stack, "seeds": len(runs),
                    "accuracy_mean": statistics.mean(accuracies),
                    "accuracy_min": min(accuracies), "accuracy_max": max(accuracies),
                    "wall_seconds": wall[stack],
                    "cross_node_mib": statistics.mean(r["cross_node_bytes_per_rank"] for r in runs) / 2**20,
                    "total_mib": statistics.mean(r["total_bytes_per_rank"] for r in runs) / 2**20,
                })
            if "hilo" in wall and "torch" in wall:
                rows[-2]["speedup_over_torch"] = wall["torch"] / wall["hilo"]
    return rows


def print_table(rows, node_size):
    print("\nClosing table (final test accuracy of the consensus model; bytes per rank; "
          "nodes of %d ranks)" % node_size)
    header = "%5s %4s  %-13s %-6s %22s %9s %15s %11s %9s" % (
        "P", "tau", "mode", "stack", "accuracy % mean [range]", "wall s", "cross-node MiB",
        "total MiB", "hilo is")
    print(header)
    print("-" * len(header))
    for row in rows:
        spread = "%.1f [%.1f-%.1f]" % (row["accuracy_mean"], row["accuracy_min"], row["accuracy_max"])
        speed = ("%.2fx faster" % row["speedup_over_torch"]) if "speedup_over_torch" in row else ""
        print("%5d %4d  %-13s %-6s %22s %9.2f %15.2f %11.2f %9s" % (
            row["ranks"], row["tau"], row["mode"], row["stack"], spread, row["wall_seconds"],
            row["cross_node_mib"], row["total_mib"], speed))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true",
                        help="P = 8 and 16, tau = 8 and 32, seeds 0, 1, 2")
    parser.add_argument("--ranks", type=int, nargs="+", default=[8])
    parser.add_argument("--taus", type=int, nargs="+", default=[8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--node-size", type=int, default=4)
    parser.add_argument("--stacks", nargs="+", default=["hilo", "torch"])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=MODES)
    parser.add_argument("--json", help="write every run and the table here")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    parser.add_argument("--hilorun",
                        default=os.path.join(ROOT, "bazel-bin/tools/launcher/hilorun"))
    parser.add_argument("--package", default=os.path.join(ROOT, "bazel-bin/client/python/package"),
                        help="the folder holding the hilo package (PYTHONPATH of every rank)")
    parser.add_argument("--python", default="/usr/bin/python3",
                        help="the ranks' Python (Debian's torch imports only in /usr/bin/python3)")
    args = parser.parse_args()
    if args.full:
        args.ranks, args.taus, args.seeds = [8, 16], [8, 32], [0, 1, 2]
    for path in (args.hilorun, args.package):
        if not os.path.exists(path):
            raise SystemExit("compare.py: %s is missing; run tools/run_demo.sh (it builds it)" % path)
    results, start = [], time.time()
    for ranks in args.ranks:
        for tau in args.taus:
            for seed in args.seeds:
                for mode in args.modes:
                    for stack in args.stacks:
                        print("== %s, %s, P=%d (groups of %d), tau=%d, seed %d" % (
                            stack, mode, ranks, args.node_size, tau, seed), flush=True)
                        result = run(args, stack, mode, ranks, args.node_size, tau, seed,
                                     args.epochs, not args.quiet)
                        print("   final accuracy %.1f%%, %.2f s, %.2f MiB across nodes per rank"
                              % (100 * result["final_accuracy"], result["wall_seconds"],
                                 result["cross_node_bytes_per_rank"] / 2**20), flush=True)
                        results.append(result)
    rows = summarize(results)
    print_table(rows, args.node_size)
    print("\n%d runs in %.0f s" % (len(results), time.time() - start))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": results, "table": rows}, f, indent=1)
        print("JSON written to %s" % args.json)


if __name__ == "__main__":
    main()
