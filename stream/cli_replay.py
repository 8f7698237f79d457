"""``lookout replay``: score historical CSVs as if they arrived live."""

from __future__ import annotations

import sys
from pathlib import Path

from stream.cli_options import DEMO_DATA, STACK_OPTIONS, stack_factory
from stream.config import Option, Settings, positive_int

__all__ = ["register", "REPLAY_OPTIONS"]

REPLAY_OPTIONS = (
    Option(
        "paths",
        [],
        "CSV files or folders (searched recursively; .csv and .csv.gz). Format: "
        "'timestamp,value' (series = file path) or 'series,timestamp,value'. "
        "Default: the bundled NAB demo sample",
        positional=True,
        nargs="*",
        metavar="PATH",
    ),
    Option("out", "results", "output folder", metavar="DIR"),
    Option(
        "on_invalid",
        "skip",
        "rows with unparsable or missing timestamps/values, NaN/inf values or out-of-order "
        "timestamps: skip them (logged to rejected.jsonl, counted in the summary) or stop "
        "with file:line and reason (exit 2)",
        choices=("skip", "fail"),
    ),
    Option(
        "duplicates",
        "keep",
        "rows repeating their series' previous timestamp: score them in file order and "
        "count them, or treat them as invalid",
        choices=("keep", "reject"),
    ),
    Option(
        "resume",
        None,
        "checkpoint into this SQLite file (series state, rows done per file, output sizes) "
        "and, if it holds a checkpoint of the same replay, continue from there: the outputs end "
        "up as those of an uninterrupted run",
        metavar="STATE.db",
    ),
    Option(
        "checkpoint_rows",
        20_000,
        "with --resume: rows between checkpoints, besides one after each file",
        type=positive_int,
        metavar="N",
    ),
    Option("progress", True, "show a progress bar on a terminal", boolean=True),
)


def cmd_replay(settings: Settings) -> int:
    from stream.csv_source import SourceError
    from stream.replay import ReplayError, replay
    from stream.state_store import StateStoreError

    paths = settings.paths or [DEMO_DATA]
    try:
        summary = replay(
            [Path(p) for p in paths],
            Path(settings.out),
            stack_factory=stack_factory(settings),
            on_invalid=settings.on_invalid,
            duplicates=settings.duplicates,
            progress=settings.progress and sys.stderr.isatty(),
            resume=Path(settings.resume) if settings.resume else None,
            checkpoint_rows=settings.checkpoint_rows,
        )
    except (ReplayError, SourceError, StateStoreError, ValueError) as exc:
        print(f"lookout replay: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if settings.resume:
            print(
                f"interrupted: run the same command again to resume from {settings.resume}",
                file=sys.stderr,
            )
        return 130
    print(summary.format())
    print(f"results   {settings.out}/ (alerts.jsonl, rejected.jsonl)")
    return 0


def register(commands) -> None:
    from stream.cli import register_command

    register_command(
        commands,
        "replay",
        cmd_replay,
        {None: REPLAY_OPTIONS, "detector stack": STACK_OPTIONS},
        validate=stack_factory,
        help="score historical CSVs (NAB or long format) and write results",
        description="Replay CSV files through the detectors, point by point, as if they arrived "
        "live. For every input CSV, writes OUT/<path relative to the given folder> (a file given "
        "directly: OUT/<file name>) with columns timestamp,value,anomaly_score,alert,... (long "
        "format: series first), plus OUT/alerts.jsonl (firing and resolved events) and "
        "OUT/rejected.jsonl (every row not scored, with file, line and reason).",
    )
