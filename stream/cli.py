"""The ``lookout`` command line: replay, evaluate, simulate, report, run, produce."""

from __future__ import annotations

import argparse
import functools
import sys
from importlib import resources
from pathlib import Path

from detectors import DETECTOR_NAMES, DetectorStack

__all__ = ["main", "build_parser"]

DEMO_ROOT = Path(str(resources.files("sim") / "data" / "demo"))
DEMO_DATA = DEMO_ROOT / "data"
DEMO_WINDOWS = DEMO_ROOT / "labels" / "combined_windows.json"


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """Detector stack options, shared by every command that scores points."""
    group = parser.add_argument_group("detector stack")
    defaults = DetectorStack()
    group.add_argument(
        "--detectors",
        default=",".join(DETECTOR_NAMES),
        help="comma-separated detectors combined into anomaly_score (default: %(default)s)",
    )
    group.add_argument(
        "--threshold",
        type=float,
        default=defaults.threshold,
        help="anomaly_score at which an alert opens (default: %(default)s)",
    )
    group.add_argument(
        "--exit-threshold",
        type=float,
        default=defaults.exit_threshold,
        help="anomaly_score below which a firing alert may resolve (default: %(default)s)",
    )
    group.add_argument(
        "--min-duration",
        type=int,
        default=defaults.min_duration,
        help="consecutive points needed to open or resolve an alert (default: %(default)s)",
    )
    group.add_argument(
        "--cooldown",
        type=int,
        default=defaults.cooldown,
        help="points after a resolution before a new alert may open (default: %(default)s)",
    )
    group.add_argument(
        "--window-size",
        type=int,
        default=defaults.window_size,
        help="rolling window of the z-score and shape features (default: %(default)s)",
    )
    group.add_argument(
        "--n-lags",
        type=int,
        default=defaults.n_lags,
        help="lagged values used by the forecaster (default: %(default)s)",
    )
    group.add_argument(
        "--grace-period",
        type=int,
        default=defaults.grace_period,
        help="points per series before any score is reported (default: %(default)s)",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        help="seed of the Half-Space-Trees (default: %(default)s)",
    )


def stack_factory_from_args(args: argparse.Namespace):
    detectors = tuple(name.strip() for name in args.detectors.split(",") if name.strip())
    return functools.partial(
        DetectorStack,
        detectors=detectors,
        threshold=args.threshold,
        exit_threshold=args.exit_threshold,
        min_duration=args.min_duration,
        cooldown=args.cooldown,
        window_size=args.window_size,
        n_lags=args.n_lags,
        grace_period=args.grace_period,
        seed=args.seed,
    )


def cmd_replay(args: argparse.Namespace) -> int:
    from stream.csv_source import SourceError
    from stream.replay import ReplayError, replay

    paths = args.paths or [DEMO_DATA]
    try:
        factory = stack_factory_from_args(args)
        factory()  # validate the options before reading any file
        summary = replay(
            [Path(p) for p in paths],
            Path(args.out),
            stack_factory=factory,
            on_invalid=args.on_invalid,
            duplicates=args.duplicates,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
    except (ReplayError, SourceError, ValueError) as exc:
        print(f"lookout replay: error: {exc}", file=sys.stderr)
        return 2
    print(summary.format())
    print(f"results   {args.out}/ (alerts.jsonl, rejected.jsonl)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lookout",
        description="Streaming anomaly detection for SRE metrics: score every point of every "
        "series as it arrives (rolling z-score, Half-Space-Trees, lag forecaster), "
        "turn scores into alerts, and measure how good the alerts are.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    replay = commands.add_parser(
        "replay",
        help="score historical CSVs (NAB or long format) and write results",
        description="Replay CSV files through the detectors, point by point, as if they arrived "
        "live. For every input CSV, writes OUT/<path relative to the given folder> (a file given "
        "directly: OUT/<file name>) with columns timestamp,value,anomaly_score,alert,... (long "
        "format: series first), plus OUT/alerts.jsonl (firing and resolved events) and "
        "OUT/rejected.jsonl (every row not scored, with file, line and reason).",
    )
    replay.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="CSV files or folders (searched recursively; .csv and .csv.gz). Format: "
        "'timestamp,value' (series = file path) or 'series,timestamp,value'. "
        "Default: the bundled NAB demo sample",
    )
    replay.add_argument("--out", default="results", help="output folder (default: %(default)s)")
    replay.add_argument(
        "--on-invalid",
        choices=("skip", "fail"),
        default="skip",
        help="rows with unparsable or missing timestamps/values, NaN/inf values or out-of-order "
        "timestamps: skip them (logged to rejected.jsonl, counted in the summary) or stop "
        "with file:line and reason (exit 2) (default: %(default)s)",
    )
    replay.add_argument(
        "--duplicates",
        choices=("keep", "reject"),
        default="keep",
        help="rows repeating their series' previous timestamp: score them in file order and "
        "count them, or treat them as invalid (default: %(default)s)",
    )
    replay.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_stack_arguments(replay)
    replay.set_defaults(handler=cmd_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
