"""``lookout replay``: score historical CSVs as if they arrived live."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stream.cli_options import DEMO_DATA, add_stack_arguments, stack_factory_from_args

# Exit status when the replay finished but whole files were skipped or had no row scored.
EXIT_FILE_ERRORS = 1


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """How input files are read, shared by ``replay`` and ``evaluate``/``report``."""
    group = parser.add_argument_group("input files")
    group.add_argument(
        "--encoding",
        help="text encoding of the input files, e.g. latin-1 (default: UTF-8; a byte-order mark "
        "for UTF-8, UTF-16 or UTF-32 is recognised). A file that does not decode is reported "
        "and skipped",
    )
    group.add_argument(
        "--timestamp-column",
        default="timestamp",
        metavar="NAME",
        help="column holding the time: RFC 3339 / ISO 8601, or epoch s, ms, us or ns, told apart "
        "by magnitude (default: %(default)s; names match regardless of case)",
    )
    group.add_argument(
        "--value-column",
        default="value",
        metavar="NAME",
        help="column holding the value (default: %(default)s)",
    )
    group.add_argument(
        "--series-column",
        default="series",
        metavar="NAME",
        help="column naming the series of a long-format file; without it a file is one series "
        "named by its path (default: %(default)s)",
    )
    group.add_argument(
        "--label-columns",
        metavar="A,B",
        default="",
        help="comma-separated columns that, with the series column, identify a series: "
        'the series is named series{A="...",B="..."} (e.g. host,region)',
    )
    group.add_argument(
        "--join-series",
        action="store_true",
        help="a long-format series of the same name in several files is one series (files are "
        "read in path order). By default series are scoped to their file: FILE/SERIES, where "
        "FILE is the file's relative path without its suffix",
    )


def read_options_from_args(args: argparse.Namespace):
    from stream.csv_source import ReadOptions

    return ReadOptions(
        encoding=args.encoding,
        timestamp_column=args.timestamp_column,
        value_column=args.value_column,
        series_column=args.series_column,
        label_columns=tuple(c.strip() for c in args.label_columns.split(",") if c.strip()),
        join_series=args.join_series,
    )


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
            options=read_options_from_args(args),
            strict_order=args.strict_order,
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
    if summary.errors and not args.allow_bad_files:
        names = [path for path, _ in summary.skipped_files] + summary.empty_files
        print(
            f"lookout replay: {len(names)} file(s) skipped or without any scored row: "
            f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''} (see the summary; "
            "--allow-bad-files exits 0 anyway)",
            file=sys.stderr,
        )
        return EXIT_FILE_ERRORS
    return 0


def register(commands) -> None:
    replay = commands.add_parser(
        "replay",
        help="score historical CSVs (NAB or long format) or Prometheus/CloudWatch exports",
        description="Replay metric files through the detectors, point by point, as if they "
        "arrived live. For every input file, writes OUT/<path relative to the given folder> (a "
        "file given directly: OUT/<file name>; .csv for its suffix) with columns "
        "timestamp,value,anomaly_score,alert,... (long format: series first), plus "
        "OUT/alerts.jsonl (firing and resolved events) and OUT/rejected.jsonl (every row not "
        "scored, with file, line and reason). A Prometheus query_range or CloudWatch "
        "get-metric-data JSON export gives OUT/<path without .json>/<series>.csv per series. "
        "Each series of a file is scored in time order (sorted, stably, if the file is not: "
        "said in the summary). A file that cannot be read (empty, binary, another encoding, no "
        "timestamp/value column) is reported and skipped; the exit status is then 1, as when "
        "every row of a file was rejected (2: stopped on an error).",
    )
    replay.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or folders (searched recursively; .csv, .tsv, .json, also gzipped, in any "
        "case; files under --out are never read). CSV: 'timestamp,value' (series = file path) "
        "or 'series,timestamp,value', delimiter , ; tab or | (sniffed); JSON: a Prometheus "
        "query_range response or CloudWatch get-metric-data output. "
        "Default: the bundled NAB demo sample",
    )
    replay.add_argument("--out", default="results", help="output folder (default: %(default)s)")
    replay.add_argument(
        "--on-invalid",
        choices=("skip", "fail"),
        default="skip",
        help="rows with unparsable or missing timestamps/values, NaN/inf values or (with "
        "--strict-order) out-of-order timestamps, and files that cannot be read: skip them "
        "(logged to rejected.jsonl or the summary, counted) or stop with file:line and reason "
        "(exit 2) (default: %(default)s)",
    )
    replay.add_argument(
        "--strict-order",
        action="store_true",
        help="keep each file's row order and reject a row earlier than its series' previous "
        "one as out_of_order, instead of sorting each series by time",
    )
    replay.add_argument(
        "--allow-bad-files",
        action="store_true",
        help="exit 0 even when files were skipped or had every row rejected (still listed in "
        "the summary)",
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
    add_input_arguments(replay)
    add_stack_arguments(replay)
    replay.set_defaults(handler=cmd_replay)
