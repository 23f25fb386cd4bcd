"""The main job across emulated nodes: tools/train/train_digits.py with a model large enough that
communication matters (64-1024-1024-10, 1.1M parameters), on k nodes x G ranks whose links are
shaped with tc (tools/netns/emulated_nodes.sh), in synchronous SGD, plain local SGD and
hierarchical local SGD, on three stacks in one run: hilo, Horovod (horovod.torch over MPI; its
synchronous DistributedOptimizer, the same with HOROVOD_HIERARCHICAL_ALLREDUCE=1, and local and
hierarchical local SGD written with Horovod process sets) and PyTorch over Gloo.

Prints a progress line per run and, per node count, a table: final test accuracy, wall time,
time to reach the target accuracy (the synchronous runs' mean final accuracy minus 0.5 point;
rank 0's model is evaluated every 2 tau steps, right after an averaging round has been applied,
and the evaluations' own time is not counted),
the bytes that crossed the links (the nodes' interface counters, launch included) and how much
sooner hilo's hierarchical mode reaches the target than Horovod's synchronous SGD and than the
best Horovod hierarchical variant; with several seeds, the median [min-max] of every figure and
ratio over them (each ratio taken within one seed's back-to-back runs). hilo's hierarchical mode
runs twice: with blocking rounds, and with overlap_averaging=1 (the round runs while the next
step computes and lands a step later). Writes every run as JSON.

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

# (stack, variant, mode, extra environment, extra train_digits.py arguments). The variant names
# what a user would pick.
VARIANTS = {
    "hilo": [("hilo", "sync", "sync", {}, []),
             ("hilo", "local", "local", {}, []),
             ("hilo", "hierarchical", "hierarchical", {}, []),
             # The round runs while the next step computes and lands a step later.
             ("hilo", "hierarchical+overlap", "hierarchical", {}, ["--overlap", "1"])],
    "horovod": [("horovod", "sync", "sync", {}, []),
                ("horovod", "sync+hierarchical-allreduce", "sync",
                 {"HOROVOD_HIERARCHICAL_ALLREDUCE": "1"}, []),
                ("horovod", "local", "local", {}, []),
                ("horovod", "hierarchical", "hierarchical", {}, [])],
    "torch": [("torch", "sync", "sync", {}, []),
              ("torch", "local", "local", {}, []),
              ("torch", "hierarchical", "hierarchical", {}, [])],
}
# hilo's hierarchical variants, each compared with Horovod's.
HILO_HIERARCHICAL = ("hierarchical", "hierarchical+overlap")
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
    parser.add_argument("--from-json", metavar="FILE",
                        help="run nothing: print the report of the runs saved in FILE")
    return parser.parse_args()


def run(args, stack, variant, mode, extra_env, extra_args, nodes, seed, port):
    train = [args.python, TRAIN, "--stack", stack, "--mode", mode, "--node-size", str(args.slots),
             "--tau", str(args.tau), "--seed", str(seed), "--epochs", str(args.epochs),
             "--hidden", str(args.hidden), "--eval-every", str(2 * args.tau)] + extra_args
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


def spread(values):
    """median [min-max] of the values that are not None, followed by how many of all there are
    when some are None (a run that never reached the target); 'never' if none are."""
    known = [v for v in values if v is not None]
    if not known:
        return "never"
    text = "%.2f [%.2f-%.2f]" % (statistics.median(known), min(known), max(known))
    return text if len(known) == len(values) else "%s (%d of %d)" % (text, len(known), len(values))


def speedups(rows):
    """For one seed's runs: how much sooner each hilo hierarchical variant reaches the target
    than Horovod's synchronous SGD and than the best Horovod hierarchical variant of that seed
    (None where either never reached it)."""
    found = {}
    horovod_sync = [r for r in rows if (r["stack"], r["variant"]) == ("horovod", "sync")]
    horovod_hier = [r for r in rows if r["stack"] == "horovod" and
                    r["variant"] in HOROVOD_HIERARCHICAL and r["seconds_to_target"] is not None]
    best = min(horovod_hier, key=lambda r: r["seconds_to_target"]) if horovod_hier else None
    horovod_hier_all = [r for r in rows if r["stack"] == "horovod" and
                        r["variant"] in HOROVOD_HIERARCHICAL]
    for variant in HILO_HIERARCHICAL:
        hilo = [r for r in rows if (r["stack"], r["variant"]) == ("hilo", variant)]
        if not hilo:
            continue
        # The whole run's wall time (the same epochs): no target to miss, so every seed counts.
        if horovod_sync:
            hilo[0]["wall_ratio_over_horovod_sync"] = (horovod_sync[0]["wall_seconds"] /
                                                       hilo[0]["wall_seconds"])
        if horovod_hier_all:
            hilo[0]["wall_ratio_over_best_horovod_hierarchical"] = (
                min(r["wall_seconds"] for r in horovod_hier_all) / hilo[0]["wall_seconds"])
        found[variant] = hilo[0]
        if hilo[0]["seconds_to_target"] is None:
            continue
        mine = hilo[0]["seconds_to_target"]
        if horovod_sync and horovod_sync[0]["seconds_to_target"] is not None:
            hilo[0]["speedup_over_horovod_sync"] = horovod_sync[0]["seconds_to_target"] / mine
        if best is not None:
            hilo[0]["speedup_over_best_horovod_hierarchical"] = best["seconds_to_target"] / mine
            hilo[0]["best_horovod_hierarchical"] = best["variant"]
        found[variant] = hilo[0]
    return found


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
            for variant, hilo in speedups(rows).items():
                if "speedup_over_horovod_sync" in hilo:
                    print("hilo %s reaches the target %.2fx sooner than Horovod's synchronous SGD"
                          % (variant, hilo["speedup_over_horovod_sync"]))
                if "speedup_over_best_horovod_hierarchical" in hilo:
                    print("hilo %s reaches the target %.2fx sooner than the best Horovod "
                          "hierarchical variant (%s)"
                          % (variant, hilo["speedup_over_best_horovod_hierarchical"],
                             hilo["best_horovod_hierarchical"]))
        # Across seeds: median [min-max] of each figure, and of the ratios (each taken within
        # one seed's runs, back to back).
        rows = [r for r in results if r["nodes"] == nodes]
        done_seeds = sorted({r["seed"] for r in rows})
        if len(done_seeds) < 2:
            continue
        print("\n%d nodes, over seeds %s: median [min-max]" % (nodes, done_seeds))
        print("%-8s %-28s %20s %20s %29s %26s" % ("stack", "variant", "final %", "wall s",
                                                   "to target s", "link MiB"))
        variants = []
        for r in rows:
            if (r["stack"], r["variant"]) not in variants:
                variants.append((r["stack"], r["variant"]))
        for stack, variant in variants:
            mine = [r for r in rows if (r["stack"], r["variant"]) == (stack, variant)]
            print("%-8s %-28s %20s %20s %29s %26s" % (
                stack, variant, spread([100 * r["final_accuracy"] for r in mine]),
                spread([r["wall_seconds"] for r in mine]),
                spread([r["seconds_to_target"] for r in mine]),
                spread([r["link_tx_bytes"] / 2**20 for r in mine])))
        for variant in HILO_HIERARCHICAL:
            mine = [r for r in rows if (r["stack"], r["variant"]) == ("hilo", variant)]
            if not mine:
                continue
            over_sync = [r.get("speedup_over_horovod_sync") for r in mine]
            over_hier = [r.get("speedup_over_best_horovod_hierarchical") for r in mine]
            sync_median = [v for v in over_sync if v is not None]
            hier_median = [v for v in over_hier if v is not None]
            print("hilo %s vs Horovod's synchronous SGD: %s x sooner (goal 3x: %s)"
                  % (variant, spread(over_sync),
                     "met" if sync_median and statistics.median(sync_median) >= 3 else "not met"))
            print("hilo %s vs the best Horovod hierarchical variant: %s x sooner (goal 1.5x: %s)"
                  % (variant, spread(over_hier),
                     "met" if hier_median and statistics.median(hier_median) >= 1.5
                     else "not met"))
            print("hilo %s, whole run's wall time: %s x shorter than Horovod's synchronous SGD, "
                  "%s x than its best hierarchical variant"
                  % (variant, spread([r.get("wall_ratio_over_horovod_sync") for r in mine]),
                     spread([r.get("wall_ratio_over_best_horovod_hierarchical") for r in mine])))


def main():
    args = parse_args()
    if args.from_json:
        with open(args.from_json) as saved:
            results = json.load(saved)
        report(results, sorted({r["nodes"] for r in results}), sorted({r["seed"] for r in results}))
        return
    if os.geteuid() != 0:
        raise SystemExit("across_nodes.py: needs root (network namespaces, tc)")
    plan = [(nodes, seed, variant) for nodes in args.nodes for seed in args.seeds
            for stack in args.stacks for variant in VARIANTS[stack]]
    results = []
    for index, (nodes, seed, (stack, variant, mode, extra_env, extra_args)) in enumerate(plan):
        result = run(args, stack, variant, mode, extra_env, extra_args, nodes, seed, 29500 + index)
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
