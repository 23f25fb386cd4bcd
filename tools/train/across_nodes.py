"""The main job across emulated nodes: tools/train/train_digits.py with a model large enough that
communication matters (64-1024-1024-10, 1.1M parameters), on k nodes x G ranks whose links are
shaped with tc (tools/netns/emulated_nodes.sh), in synchronous SGD, plain local SGD and
hierarchical local SGD, on three stacks in one run: hilo, Horovod (horovod.torch over MPI; its
synchronous DistributedOptimizer, the same with HOROVOD_HIERARCHICAL_ALLREDUCE=1, and local and
hierarchical local SGD written with Horovod process sets) and PyTorch over Gloo.

Prints a progress line per run and, per node count, a table: final test accuracy, wall time,
time to reach the target accuracy (the synchronous runs' mean final accuracy minus 0.5 point;
rank 0's model is evaluated every 2 tau steps, right after an averaging round, and the
evaluations' own time is not counted),
the bytes that crossed the links (the nodes' interface counters, launch included) and how much
sooner hilo's hierarchical mode reaches the target than Horovod's synchronous SGD and than the
best Horovod hierarchical variant. Writes every run as JSON.

  across_nodes.py                                  # 2 and 4 nodes x 4 ranks, 1 Gbit/s links
  across_nodes.py --nodes 2 --epochs 6 --stacks hilo torch --json out.json

Needs root (network namespaces) and the built launcher and package (tools/run_across_nodes.sh
builds them and installs Horovod).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(ROOT, "tools/train/train_digits.py")
HARNESS = os.path.join(ROOT, "tools/netns/emulated_nodes.sh")

# (stack, variant, mode, extra environment). The variant names what a user would pick.
VARIANTS = {
    "hilo": [("hilo", "sync", "sync", {}),
             ("hilo", "local", "local", {}),
             ("hilo", "hierarchical", "hierarchical", {})],
    "horovod": [("horovod", "sync", "sync", {}),
                ("horovod", "sync+hierarchical-allreduce", "sync",
                 {"HOROVOD_HIERARCHICAL_ALLREDUCE": "1"}),
                ("horovod", "local", "local", {}),
                ("horovod", "hierarchical", "hierarchical", {})],
    "torch": [("torch", "sync", "sync", {}),
              ("torch", "local", "local", {}),
              ("torch", "hierarchical", "hierarchical", {})],
}
# Horovod's variants that use the node structure: the reference for "the best Horovod
# hierarchical variant".
HOROVOD_HIERARCHICAL = ("sync+hierarchical-allreduce", "hierarchical")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--slots", type=int, default=4, help="ranks per node, G")
    parser.add_argument("--rate", default="1gbit", help="each node's link (tc tbf rate)")
    parser.add_argument("--tau", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--stacks", nargs="+", default=["hilo", "horovod", "torch"],
                        choices=sorted(VARIANTS))
    parser.add_argument("--json", default="across_nodes_results.json")
    parser.add_argument("--hilorun", default=os.path.join(ROOT, "bazel-bin/tools/launcher/hilorun"))
    parser.add_argument("--package", default=os.path.join(ROOT, "bazel-bin/client/python/package"))
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    return parser.parse_args()


def run(args, stack, variant, mode, extra_env, nodes, seed, port):
    train = [args.python, TRAIN, "--stack", stack, "--mode", mode, "--node-size", str(args.slots),
             "--tau", str(args.tau), "--seed", str(seed), "--epochs", str(args.epochs),
             "--hidden", str(args.hidden), "--eval-every", str(2 * args.tau)]
    with tempfile.NamedTemporaryFile("r", suffix=".links") as stats:
        harness = [HARNESS, "--nodes", str(nodes), "--slots", str(args.slots), "--rate", args.rate,
                   "--link-stats", stats.name]
        if stack == "hilo":
            group_size = {"sync": nodes * args.slots, "local": 1,
                          "hierarchical": args.slots}[mode]
            cmd = harness + ["--hilorun", args.hilorun, "--", "--group-size", str(group_size)] + train
        else:
            cmd = harness + ["--"] + train + (["--port", str(port)] if stack == "torch" else [])
        env = dict(os.environ, PYTHONPATH=args.package, GLOO_SOCKET_IFNAME="eth0", **extra_env)
        env.pop("HILO_GROUP_SIZE", None)
        started = time.time()
        process = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        result, output = None, []
        for line in process.stdout:
            output.append(line)
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
            elif not args.quiet and line.startswith("  ["):
                print(line, end="", flush=True)
        if process.wait() != 0 or result is None:
            sys.stderr.write("".join(output[-40:]))
            raise SystemExit("across_nodes.py: the %s %s run on %d nodes failed" %
                             (stack, variant, nodes))
        links = {}
        for line in stats.read().split("\n"):
            if line.strip():
                name, tx, rx = line.split()
                links[name] = (int(tx), int(rx))
    result.update({"variant": variant, "nodes": nodes, "rate": args.rate,
                   "job_seconds": time.time() - started,
                   "link_tx_bytes": sum(tx for tx, _ in links.values()),
                   "link_tx_bytes_per_node": {name: tx for name, (tx, _) in links.items()}})
    return result


def time_to(result, target):
    """Training seconds until rank 0's model first reached `target` at a checkpoint (every
    2 tau steps: right after an averaging round, when every rank holds the consensus model)."""
    for seconds, _, accuracy in result["checkpoints"]:
        if accuracy >= target:
            return seconds
    return None


def report(results, nodes_list, seeds):
    for nodes in nodes_list:
        for seed in seeds:
            rows = [r for r in results if r["nodes"] == nodes and r["seed"] == seed]
            if not rows:
                continue
            sync = [r["final_accuracy"] for r in rows if r["mode"] == "sync"]
            target = statistics.mean(sync) - 0.005
            for r in rows:
                r["target_accuracy"] = target
                r["seconds_to_target"] = time_to(r, target)
            print("\n%d nodes x %d ranks (P = %d), links %s, tau %d, seed %d; target %.1f%% "
                  "(the synchronous runs' mean final accuracy - 0.5 point)"
                  % (nodes, rows[0]["ranks"] // nodes, rows[0]["ranks"], rows[0]["rate"],
                     rows[0]["tau"], seed, 100 * target))
            print("%-8s %-28s %9s %9s %11s %12s" % ("stack", "variant", "final %", "wall s",
                                                    "to target s", "link MiB"))
            for r in rows:
                to_target = r["seconds_to_target"]
                print("%-8s %-28s %9.1f %9.1f %11s %12.1f" % (
                    r["stack"], r["variant"], 100 * r["final_accuracy"], r["wall_seconds"],
                    "never" if to_target is None else "%.1f" % to_target,
                    r["link_tx_bytes"] / 2**20))
            hilo = [r for r in rows if (r["stack"], r["variant"]) == ("hilo", "hierarchical")]
            horovod_sync = [r for r in rows if (r["stack"], r["variant"]) == ("horovod", "sync")]
            horovod_hier = [r for r in rows if r["stack"] == "horovod" and
                            r["variant"] in HOROVOD_HIERARCHICAL and
                            r["seconds_to_target"] is not None]
            if hilo and hilo[0]["seconds_to_target"] is not None:
                mine = hilo[0]["seconds_to_target"]
                if horovod_sync and horovod_sync[0]["seconds_to_target"] is not None:
                    ratio = horovod_sync[0]["seconds_to_target"] / mine
                    print("hilo hierarchical reaches the target %.2fx sooner than Horovod's "
                          "synchronous SGD (goal 3x: %s)" % (ratio, "met" if ratio >= 3 else "not met"))
                    hilo[0]["speedup_over_horovod_sync"] = ratio
                if horovod_hier:
                    best = min(horovod_hier, key=lambda r: r["seconds_to_target"])
                    ratio = best["seconds_to_target"] / mine
                    print("hilo hierarchical reaches the target %.2fx sooner than the best Horovod "
                          "hierarchical variant (%s; goal 1.5x: %s)"
                          % (ratio, best["variant"], "met" if ratio >= 1.5 else "not met"))
                    hilo[0]["speedup_over_best_horovod_hierarchical"] = ratio


def main():
    args = parse_args()
    if os.geteuid() != 0:
        raise SystemExit("across_nodes.py: needs root (network namespaces, tc)")
    plan = [(nodes, seed, variant) for nodes in args.nodes for seed in args.seeds
            for stack in args.stacks for variant in VARIANTS[stack]]
    results = []
    for index, (nodes, seed, (stack, variant, mode, extra_env)) in enumerate(plan):
        result = run(args, stack, variant, mode, extra_env, nodes, seed, 29500 + index)
        results.append(result)
        print("[%d/%d] %d nodes, seed %d, %s %s: %.1f%% in %.1f s, %.1f MiB over the links"
              % (index + 1, len(plan), nodes, seed, stack, variant, 100 * result["final_accuracy"],
                 result["wall_seconds"], result["link_tx_bytes"] / 2**20), flush=True)
    report(results, args.nodes, args.seeds)
    with open(args.json, "w") as out:
        json.dump(results, out, indent=1)
    print("\nJSON written to %s" % args.json)


if __name__ == "__main__":
    main()
