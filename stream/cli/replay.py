"""``lookout replay``: score historical CSVs and exports as if they arrived live."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from stream.cli.options import DEMO_DATA, STACK_OPTIONS, pager_from_settings, stack_factory
from stream.cli.settings import ALERT_OPTIONS, Option, Settings, load_section, positive_int

__all__ = ["register", "REPLAY_OPTIONS", "INPUT_OPTIONS", "read_options"]

# Exit status when the replay finished but whole files were skipped or had no row scored.
EXIT_FILE_ERRORS = 1

#: How input files are read, shared by ``replay`` and ``evaluate``/``report``.
INPUT_OPTIONS = (
    Option(
        "encoding",
        None,
        "text encoding of the input files, e.g. latin-1 (none: UTF-8; a byte-order mark for "
        "UTF-8, UTF-16 or UTF-32 is recognised). A file that does not decode is reported and "
        "skipped",
        metavar="NAME",
    ),
    Option(
        "timestamp_column",
        "timestamp",
        "column holding the time: RFC 3339 / ISO 8601, or epoch s, ms, us or ns, told apart "
        "by magnitude (names match regardless of case)",
        metavar="NAME",
    ),
    Option("value_column", "value", "column holding the value", metavar="NAME"),
    Option(
        "series_column",
        "series",
        "column naming the series of a long-format file; without it a file is one series "
        "named by its path",
        metavar="NAME",
    ),
    Option(
        "label_columns",
        "",
        "comma-separated columns that, with the series column, identify a series: "
        'the series is named series{A="...",B="..."} (e.g. host,region)',
        metavar="A,B",
    ),
    Option(
        "join_series",
        False,
        "a long-format series of the same name in several files is one series (files are "
        "read in path order). By default series are scoped to their file: FILE/SERIES, where "
        "FILE is the file's relative path without its suffix",
        boolean=True,
    ),
)

REPLAY_OPTIONS = (
    Option(
        "paths",
        [],
        "files or folders (searched recursively; .csv, .tsv, .json, also gzipped, in any "
        "case; files under --out are never read). CSV: 'timestamp,value' (series = file path) "
        "or 'series,timestamp,value', delimiter , ; tab or | (sniffed); JSON: a Prometheus "
        "query_range response or CloudWatch get-metric-data output. "
        "Default: the bundled NAB demo sample",
        positional=True,
        nargs="*",
        metavar="PATH",
    ),
    Option("out", "results", "output folder", metavar="DIR"),
    Option(
        "on_invalid",
        "skip",
        "rows with unparsable or missing timestamps/values, NaN/inf values or (with "
        "--strict-order) out-of-order timestamps, and files that cannot be read: skip them "
        "(logged to rejected.jsonl or the summary, counted) or stop with file:line and reason "
        "(exit 2)",
        choices=("skip", "fail"),
    ),
    Option(
        "strict_order",
        False,
        "keep each file's row order and reject a row earlier than its series' previous "
        "one as out_of_order, instead of sorting each series by time",
        boolean=True,
    ),
    Option(
        "allow_bad_files",
        False,
        "exit 0 even when files were skipped or had every row rejected (still listed in "
        "the summary)",
        boolean=True,
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


def read_options(settings: Settings):
    """How to read input files, as the :data:`INPUT_OPTIONS` say."""
    from stream.sources.csv_files import ReadOptions

    return ReadOptions(
        encoding=settings.encoding,
        timestamp_column=settings.timestamp_column,
        value_column=settings.value_column,
        series_column=settings.series_column,
        label_columns=tuple(c.strip() for c in settings.label_columns.split(",") if c.strip()),
        join_series=settings.join_series,
    )


def _pager(settings: Settings):
    """The pager of the alert settings and the config file's rules (as ``lookout run``'s)."""
    rules = load_section(settings, os.environ, "rules")
    return pager_from_settings(settings, rules, stack_factory(settings))


def _validate_replay(settings: Settings) -> None:
    _pager(settings)


def cmd_replay(settings: Settings) -> int:
    from stream.runtime.replay import ReplayError, replay
    from stream.runtime.state_store import StateStoreError
    from stream.sources.csv_files import SourceError

    paths = settings.paths or [DEMO_DATA]
    try:
        summary = replay(
            [Path(p) for p in paths],
            Path(settings.out),
            stack_factory=stack_factory(settings),
            pager=_pager(settings),
            on_invalid=settings.on_invalid,
            duplicates=settings.duplicates,
            progress=settings.progress and sys.stderr.isatty(),
            resume=Path(settings.resume) if settings.resume else None,
            checkpoint_rows=settings.checkpoint_rows,
            options=read_options(settings),
            strict_order=settings.strict_order,
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
    if summary.errors and not settings.allow_bad_files:
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
    from stream.cli import register_command

    register_command(
        commands,
        "replay",
        cmd_replay,
        {
            None: REPLAY_OPTIONS,
            "input files": INPUT_OPTIONS,
            "alerts (as lookout run's; rules in the config file: docs/alerting.md)": ALERT_OPTIONS,
            "detector stack": STACK_OPTIONS,
        },
        validate=_validate_replay,
        describe_more=lambda settings: [
            f"rule {line}" for line in _pager(settings).policy.describe()
        ],
        help="score historical CSVs (NAB or long format) or Prometheus/CloudWatch exports",
        description="Replay metric files through the detectors, point by point, as if they "
        "arrived live. For every input file, writes OUT/<path relative to the given folder> (a "
        "file given directly: OUT/<file name>; .csv for its suffix) with columns "
        "timestamp,value,anomaly_score,alert,...,onset_score (long format: series first; "
        "anomaly_score is continuous, onset_score the same at onsets only, else 0), plus "
        "OUT/alerts.jsonl (firing and resolved events) and OUT/rejected.jsonl (every row not "
        "scored, with file, line and reason). A Prometheus query_range or CloudWatch "
        "get-metric-data JSON export gives OUT/<path without .json>/<series>.csv per series. "
        "Each series of a file is scored in time order (sorted, stably, if the file is not: "
        "said in the summary). A file that cannot be read (empty, binary, another encoding, no "
        "timestamp/value column) is reported and skipped; the exit status is then 1, as when "
        "every row of a file was rejected (2: stopped on an error).",
    )
