"""``lookout evaluate``: NAB scores and classification metrics of replay results."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from stream.cli_options import DEMO_DATA, DEMO_WINDOWS
from stream.cli_replay import INPUT_OPTIONS, read_options
from stream.config import Option, Settings

__all__ = ["register", "EVALUATION_OPTIONS", "evaluate_from_settings", "write_report_from_settings"]


def default_windows(data_dir: Path) -> Path:
    """``<data>/../labels/combined_windows.json`` (NAB's layout) if it exists, else the demo's."""
    beside = data_dir.parent / "labels" / "combined_windows.json"
    return beside if beside.is_file() else DEMO_WINDOWS


def readable_data(data: Path, options, folder: Path) -> Path:
    """The data as ``lookout replay`` read it, written into ``folder`` in NAB's layout: each
    input at the relative path of its results (``.csv`` for its suffix; an export's series at
    ``<export path without .json>/<series>.csv``), rows as read (rejected ones left out),
    timestamps as written. So evaluate sees CSVs of any delimiter, encoding or column names,
    and Prometheus or CloudWatch exports, exactly as replay scored them."""
    import pandas as pd

    from stream.csv_source import SourceError, discover_input_files, read_input_file

    try:
        inputs = discover_input_files(data)
    except SourceError as exc:
        raise ValueError(f"data not found: {exc}") from exc
    for path, relpath in inputs:
        try:
            parsed_files = read_input_file(path, relpath, options)
        except SourceError:
            continue  # replay skipped it too: it has no results to evaluate
        for parsed in parsed_files:
            columns = {"timestamp": parsed.raw_timestamps, "value": parsed.values}
            if parsed.long_format:
                columns = {"series": parsed.written_series, **columns}
            target = folder / parsed.out_relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(columns).to_csv(target, index=False)
    return folder


#: Inputs, threshold mode and objective, shared by ``evaluate`` and ``report``.
EVALUATION_OPTIONS = (
    Option(
        "results",
        None,
        "results folder: 'lookout replay' output (<relpath>.csv per data file) or NAB "
        "results (<category>/<detector>_<file>.csv)",
        positional=True,
        metavar="RESULTS",
    ),
    Option(
        "data",
        str(DEMO_DATA),
        "the data that was replayed: a NAB-style folder, or any files or folders "
        "'lookout replay' reads (CSV layouts, Prometheus and CloudWatch JSON exports), read "
        "with the same input options (default: the bundled demo data)",
        metavar="DIR",
    ),
    Option(
        "windows",
        None,
        "NAB label file combined_windows.json (none: DATA/../labels/combined_windows.json if it "
        "exists, else the bundled demo labels)",
        metavar="FILE",
    ),
    Option(
        "profiles",
        None,
        "NAB cost profiles file (none: NAB's standard, reward_low_FP_rate and "
        "reward_low_FN_rate, bundled)",
        metavar="FILE",
    ),
    Option(
        "allow_missing",
        False,
        "evaluate only the data files that have results instead of failing (NAB scores "
        "are then normalized over those files)",
        boolean=True,
    ),
    Option(
        "optimize",
        False,
        "NAB scores at the best threshold per profile, found by NAB's sweep (the default mode)",
        boolean=True,
        exclusive="mode",
    ),
    Option(
        "threshold",
        None,
        "NAB scores and score metrics at this anomaly_score threshold",
        type=float,
        metavar="SCORE",
        exclusive="mode",
    ),
    Option(
        "use_alerts",
        False,
        "NAB scores on the alert column (what the alert policy paged)",
        boolean=True,
        exclusive="mode",
    ),
    Option(
        "objective",
        None,
        "choose the score metrics' threshold by business context: max-f1 (event F1), "
        "recall:R (fewest pages catching a share R of incidents), fp-per-day:N (most "
        "incidents with at most N false pages a day); none: the threshold of --threshold, "
        "else NAB's optimized threshold for the standard profile",
        metavar="OBJECTIVE",
    ),
)


EVALUATE_OUTPUT_OPTIONS = (
    Option(
        "json",
        False,
        "print a JSON document instead: {nab: {<profile>: {score, raw_score, threshold, "
        "mode}}, classification: {alert: {...}, score: {threshold, ...}}, ...}",
        boolean=True,
    ),
    Option("report", None, "also write the report into DIR", metavar="DIR"),
)


def evaluate_from_settings(settings: Settings):
    """Load and evaluate as the options say; returns ``(result_set, evaluation)``.

    Raises :class:`sim.evaluation.EvaluationError` or ``ValueError`` with a message for the user.
    """
    from sim.evaluation import (
        BUNDLED_PROFILES,
        evaluate_results,
        load_profiles,
        load_result_set,
        parse_objective,
    )

    if settings.threshold is not None and settings.objective:
        raise ValueError("--threshold and --objective both set the score threshold; give one")
    objective = parse_objective(settings.objective) if settings.objective else None
    data = Path(settings.data)
    windows = Path(settings.windows) if settings.windows else default_windows(data)
    profiles_path = Path(settings.profiles) if settings.profiles else BUNDLED_PROFILES
    try:
        profiles = load_profiles(profiles_path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{profiles_path}: not a NAB profiles file ({exc!r})") from exc
    with tempfile.TemporaryDirectory(prefix="lookout-data-") as folder:
        readable = readable_data(data, read_options(settings), Path(folder))
        try:
            result_set = load_result_set(
                settings.results, readable, windows, allow_missing=settings.allow_missing
            )
        except ValueError as exc:  # name the user's data, not the copy
            raise type(exc)(str(exc).replace(str(readable), str(data))) from exc
    evaluation = evaluate_results(
        result_set,
        profiles,
        threshold=settings.threshold,
        use_alerts=settings.use_alerts,
        objective=objective,
    )
    return result_set, evaluation


def write_report_from_settings(settings: Settings, result_set, evaluation, out: Path) -> Path:
    """The postmortem report of an evaluation; the results' state snapshot joins it if found."""
    from sim.evaluation import find_state_snapshot, report_frames
    from sim.report import write_report

    return write_report(
        report_frames(result_set, evaluation.score_threshold),
        out,
        windows=result_set.windows,
        metrics=evaluation.to_dict(),
        threshold=evaluation.score_threshold,
        state_snapshot=find_state_snapshot(settings.results),
        title=f"Lookout report: {settings.results}",
    )


def _error(command: str, exc: Exception) -> int:
    print(f"lookout {command}: error: {exc}", file=sys.stderr)
    return 2


def cmd_evaluate(settings: Settings) -> int:
    import orjson

    try:
        result_set, evaluation = evaluate_from_settings(settings)
        index = None
        if settings.report:
            index = write_report_from_settings(
                settings, result_set, evaluation, Path(settings.report)
            )
    except (ValueError, OSError) as exc:  # EvaluationError is a ValueError
        return _error("evaluate", exc)
    if result_set.missing:
        print(
            f"lookout evaluate: warning: {len(result_set.missing)} data files without results "
            "left out",
            file=sys.stderr,
        )
    if settings.json:
        options = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
        print(orjson.dumps(evaluation.to_dict(), option=options).decode())
    else:
        print(evaluation.format())
        if index is not None:
            print(f"report    {index}")
    return 0


def register(commands) -> None:
    from stream.cli import register_command

    register_command(
        commands,
        "evaluate",
        cmd_evaluate,
        {None: EVALUATION_OPTIONS + EVALUATE_OUTPUT_OPTIONS, "input files": INPUT_OPTIONS},
        help="score replay results against labeled windows (NAB score, precision/recall, ...)",
        description="Compare a detector's results with the labeled anomaly windows of the data "
        "it scored. Prints the NAB normalized score for each cost profile (standard, "
        "reward_low_FP_rate, reward_low_FN_rate) with the threshold mode used, then point-wise "
        "and event-wise precision, recall, F1, accuracy beside the always-healthy accuracy, the "
        "confusion matrix, ROC-AUC, PR-AUC, detection delay and false alerts per day: once for "
        "the alert column (what pages people) and once for anomaly_score >= threshold. Every "
        "data file needs a result file, or the command fails listing the missing ones "
        "(--allow-missing evaluates the matched files only). Exit status 2 on bad input.",
    )
