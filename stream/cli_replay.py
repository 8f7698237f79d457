"""``lookout replay``: score historical CSVs as if they arrived live."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from stream.cli_options import (
    DEMO_DATA,
    add_stack_arguments,
    pager_from_settings,
    stack_factory_from_args,
)
from stream.config import ALERT_OPTIONS, ConfigError, add_options, load_section, resolve

__all__ = ["register"]


def cmd_replay(args: argparse.Namespace) -> int:
    from stream.cli_live import RUN_LAYERED, STACK_OPTION_NAMES
    from stream.csv_source import SourceError
    from stream.replay import ReplayError, replay
    from stream.state_store import StateStoreError

    paths = args.paths or [DEMO_DATA]
    try:
        factory = stack_factory_from_args(args)
        factory()  # validate the options before reading any file
        # The alert settings and rules of a `lookout run` config file apply here the same way;
        # its other settings are the live command's.
        live_only = [option.name for option in RUN_LAYERED if option not in ALERT_OPTIONS]
        settings, _ = resolve(
            args, os.environ, ALERT_OPTIONS, (), live_only + list(STACK_OPTION_NAMES)
        )
        pager = pager_from_settings(settings, load_section(args, os.environ, "rules"), factory)
        summary = replay(
            [Path(p) for p in paths],
            Path(args.out),
            stack_factory=factory,
            on_invalid=args.on_invalid,
            duplicates=args.duplicates,
            progress=not args.no_progress and sys.stderr.isatty(),
            resume=Path(args.resume) if args.resume else None,
            checkpoint_rows=args.checkpoint_rows,
            pager=pager,
        )
    except (ReplayError, SourceError, StateStoreError, ConfigError, ValueError) as exc:
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
    replay.add_argument(
        "--config",
        metavar="FILE",
        help="TOML (or .json) file of lookout run settings (env LOOKOUT_CONFIG): its alert "
        "settings below and its [[rules]] (the alerting policy per series, docs/alerting.md) "
        "apply to the replay's alerts; precedence: flag > env > file > default",
    )
    add_options(
        replay.add_argument_group("alerts (the policy per series: [[rules]] in --config)"),
        ALERT_OPTIONS,
    )
    add_stack_arguments(replay)
    replay.set_defaults(handler=cmd_replay)
