"""``lookout replay``: score historical CSVs as if they arrived live."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stream.cli_options import DEMO_DATA, add_stack_arguments, stack_factory_from_args

__all__ = ["register"]


def cmd_replay(args: argparse.Namespace) -> int:
    from stream.csv_source import SourceError
    from stream.replay import ReplayError, replay
    from stream.state_store import StateStoreError

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
            resume=Path(args.resume) if args.resume else None,
            checkpoint_rows=args.checkpoint_rows,
        )
    except (ReplayError, SourceError, StateStoreError, ValueError) as exc:
        print(f"lookout replay: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.resume:
            print(
                f"interrupted: run the same command again to resume from {args.resume}",
                file=sys.stderr,
            )
        return 130
    print(summary.format())
    print(f"results   {args.out}/ (alerts.jsonl, rejected.jsonl)")
    return 0


def register(commands) -> None:
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
    replay.add_argument(
        "--resume",
        metavar="STATE.db",
        help="checkpoint into this SQLite file (series state, rows done per file, output sizes) "
        "and, if it holds a checkpoint of the same replay, continue from there: the outputs end "
        "up as those of an uninterrupted run",
    )
    replay.add_argument(
        "--checkpoint-rows",
        type=int,
        default=20_000,
        metavar="N",
        help="with --resume: rows between checkpoints, besides one after each file "
        "(default: %(default)s)",
    )
    replay.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_stack_arguments(replay)
    replay.set_defaults(handler=cmd_replay)
