#!/usr/bin/env python3
"""The report of tools/bench/compare_builds.sh: one line per measurement with each build's median
[min-max] over the repetitions and the per-repetition ratio after / before, median [min-max].

  compare_builds_report.py ROWS.jsonl [--json OUT]
"""
import argparse
import collections
import json
import statistics
import sys


def measurements(record):
    """(name, value in ms or us, unit) for what one benchmark row says about hilo."""
    row = record['row']
    if record['bench'] == 'allreduce' and row.get('part') == 'a':
        yield f"allreduce {row['ranks']} ranks {row['bytes'] >> 10} KiB", row['hilo_us'], 'us'
    elif record['bench'] == 'allreduce' and row.get('part') == 'b':
        yield f"step of {row['tensors']} x {row['tensor_bytes'] >> 10} KiB, {row['ranks']} ranks", \
            row['hilo_ms'], 'ms'
    elif record['bench'] == 'averaging':
        name = (f"sharded round {row['elements'] / 2**20:g}Mi floats, {row['num_groups']} groups of "
                f"{row['group_size']}")
        yield name, row['hilo_sharded_ms'], 'ms'


def spread(values):
    return statistics.median(values), min(values), max(values)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('rows')
    parser.add_argument('--json')
    args = parser.parse_args(argv)
    # values[name][build][repetition] = value
    values = collections.defaultdict(lambda: collections.defaultdict(dict))
    units = {}
    order = []
    with open(args.rows) as f:
        for line in f:
            record = json.loads(line)
            for name, value, unit in measurements(record):
                if name not in units:
                    order.append(name)
                units[name] = unit
                values[name][record['build']][record['repetition']] = value
    report = []
    print(f"{'measurement':48} {'before':>26} {'after':>26} {'after / before':>22}")
    for name in order:
        before, after = values[name]['before'], values[name]['after']
        paired = sorted(set(before) & set(after))
        if not paired:
            continue
        ratios = [after[r] / before[r] for r in paired]
        b, a, q = spread(list(before.values())), spread(list(after.values())), spread(ratios)
        unit = units[name]
        print(f"{name:48} {b[0]:9.3f} [{b[1]:.3f}-{b[2]:.3f}] {unit} "
              f"{a[0]:9.3f} [{a[1]:.3f}-{a[2]:.3f}] {unit} {q[0]:6.2f}x [{q[1]:.2f}-{q[2]:.2f}]")
        report.append({'measurement': name, 'unit': unit, 'repetitions': len(paired),
                       'before': dict(zip(('median', 'min', 'max'), b)),
                       'after': dict(zip(('median', 'min', 'max'), a)),
                       'after_over_before': dict(zip(('median', 'min', 'max'), q))})
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
        print(f"JSON written to {args.json}")
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
