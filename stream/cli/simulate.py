"""``lookout simulate``: write labeled synthetic incidents as a NAB-style folder."""

from __future__ import annotations

import sys
from pathlib import Path

from stream.cli.settings import Option, Settings

__all__ = ["register"]


def _options() -> tuple[Option, ...]:
    from sim.scenarios import SCENARIOS

    return (
        Option(
            "scenario",
            None,
            f"one of {', '.join(sorted(SCENARIOS))}, or all",
            positional=True,
            choices=(*sorted(SCENARIOS), "all"),
            metavar="SCENARIO",
        ),
        Option("out", None, "output folder", metavar="DIR", required=True),
        Option("scenario_seed", 0, "random seed", type=int, metavar="N", flag_name="seed"),
    )


def cmd_simulate(settings: Settings) -> int:
    from sim.scenarios import SCENARIOS, generate, write_nab_folder

    names = sorted(SCENARIOS) if settings.scenario == "all" else [settings.scenario]
    out = Path(settings.out)
    try:
        for name in names:
            series = generate(name, seed=settings.scenario_seed)
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
    from stream.cli import register_command

    register_command(
        commands,
        "simulate",
        cmd_simulate,
        {None: _options()},
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
