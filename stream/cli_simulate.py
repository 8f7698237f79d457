"""``lookout simulate``: write labeled synthetic incidents as a NAB-style folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def cmd_simulate(args: argparse.Namespace) -> int:
    from sim.scenarios import SCENARIOS, generate, write_nab_folder

    names = sorted(SCENARIOS) if args.scenario == "all" else [args.scenario]
    out = Path(args.out)
    try:
        for name in names:
            series = generate(name, seed=args.seed)
            paths = write_nab_folder(series, out, category=name)
            n_points = sum(len(s.frame) for s in series)
            n_windows = sum(len(s.windows) for s in series)
            print(f"{name:<10} {len(paths)} files, {n_points} points, {n_windows} windows")
    except OSError as exc:
        print(f"lookout simulate: error: {exc}", file=sys.stderr)
        return 2
    print(f"data      {out / 'data'}/")
    print(f"labels    {out / 'labels' / 'combined_windows.json'}")
    print(
        f"next      lookout replay {out / 'data'} --out RESULTS && "
        f"lookout evaluate RESULTS --data {out / 'data'}"
    )
    return 0


def register(commands) -> None:
    from sim.scenarios import SCENARIOS

    simulate = commands.add_parser(
        "simulate",
        help="write labeled synthetic incidents (DDoS, SRE, nightly job, noise) as NAB data",
        description="Generate a seeded synthetic scenario and write it in NAB's layout: "
        "OUT/data/<scenario>/<series>.csv (timestamp,value) and "
        "OUT/labels/combined_windows.json (incident windows, merged with any already there). "
        "Scenarios: ddos (request rate and payload size during attack bursts), sre (one "
        "seasonal series per incident kind: spike, level shift, drift, variance burst, "
        "outage, data gap), daily_job (a nightly 03:10 batch job that must not page, and one "
        "real incident), quiet (incident-free noise: error counts, skewed and heavy-tailed "
        "latencies, replica counts; every alert is a false page). The same seed always writes "
        "the same files.",
    )
    simulate.add_argument(
        "scenario",
        metavar="SCENARIO",
        choices=[*sorted(SCENARIOS), "all"],
        help=f"one of {', '.join(sorted(SCENARIOS))}, or all",
    )
    simulate.add_argument("--out", required=True, metavar="DIR", help="output folder")
    simulate.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    simulate.set_defaults(handler=cmd_simulate)
