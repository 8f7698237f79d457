"""``lookout evaluate``: NAB scores and classification metrics of replay results."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from detectors import DetectorStack
from stream.cli.options import DEMO_WINDOWS
from stream.cli.replay import INPUT_OPTIONS, read_options
from stream.cli.settings import Option, Settings

__all__ = ["register", "EVALUATION_OPTIONS", "evaluate_from_settings", "write_report_from_settings"]


def default_windows(data_dir: Path | None, results_dir: Path) -> Path | None:
    """The label file used when ``--windows`` is not given, or None (no labels).

    With ``--data``: ``<data>/../labels/combined_windows.json`` (NAB's layout) if it exists.
    Without: the bundled demo's labels when the results are a replay of the bundled demo.
    """
    if data_dir is not None:
        beside = data_dir.parent / "labels" / "combined_windows.json"
        return beside if beside.is_file() else None
    from sim.nab_corpus import load_windows

    demo_files = load_windows(DEMO_WINDOWS)
    replayed_demo = all((results_dir / relpath).is_file() for relpath in demo_files)
    return DEMO_WINDOWS if replayed_demo else None


def readable_data(data: Path, options, folder: Path) -> Path:
    """The data as ``lookout replay`` read it, written into ``folder`` in NAB's layout: each
    input at the relative path of its results (``.csv`` for its suffix; an export's series at
    ``<export path without .json>/<series>.csv``), rows as read (rejected ones left out),
    timestamps as written. So evaluate sees CSVs of any delimiter, encoding or column names,
    and Prometheus or CloudWatch exports, exactly as replay scored them."""
    import pandas as pd

    from stream.sources.csv_files import SourceError, discover_input_files
    from stream.sources.input_files import read_input_file

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
        None,
        "the data that was replayed: a NAB-style folder, or any files or folders "
        "'lookout replay' reads (CSV layouts, Prometheus and CloudWatch JSON exports), read "
        "with the same input options; result files are paired with its files and checked "
        "against them. None: the result files are read on their own (replay results carry "
        "their values)",
        metavar="DIR",
    ),
    Option(
        "windows",
        None,
        "label file (NAB's combined_windows.json format, see docs/evaluation.md): "
        '{"<file>": [["start", "end"], ...]}, keys relative to the results (or to a subfolder). '
        "Series it does not name are unlabeled: they page, but get no scores. None: "
        "DATA/../labels/combined_windows.json if it exists; without --data, the bundled demo "
        "labels for a replay of the bundled demo; else no labels (alerts and pages only)",
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
        "paging_threshold",
        DetectorStack().threshold,
        "the anomaly score from which the replay's alerts opened (its --threshold), drawn "
        "on the report's score panels (default: replay's default)",
        type=float,
        metavar="T",
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
        "mode}}, classification: {alert: {...}, score: {threshold, ...}}, pages: [...], "
        "alerts: [...], ...} (nab empty and classification null without labels)",
        boolean=True,
    ),
    Option("report", None, "also write the report into DIR", metavar="DIR"),
)


def evaluate_from_settings(settings: Settings):
    """Load and evaluate as the options say; returns ``(result_set, evaluation)``.

    Raises :class:`sim.results.EvaluationError` or ``ValueError`` with a message for the user.
    """
    from sim.evaluation import BUNDLED_PROFILES, evaluate_results, load_profiles, parse_objective
    from sim.results import load_result_set

    if settings.threshold is not None and settings.objective:
        raise ValueError("--threshold and --objective both set the score threshold; give one")
    objective = parse_objective(settings.objective) if settings.objective else None
    data = Path(settings.data) if settings.data else None
    windows = (
        Path(settings.windows)
        if settings.windows
        else default_windows(data, Path(settings.results))
    )
    profiles_path = Path(settings.profiles) if settings.profiles else BUNDLED_PROFILES
    try:
        profiles = load_profiles(profiles_path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{profiles_path}: not a NAB profiles file ({exc!r})") from exc
    if data is None:
        result_set = load_result_set(
            settings.results, None, windows, allow_missing=settings.allow_missing
        )
    else:
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


def paging_threshold(settings: Settings, result_set, evaluation) -> tuple[float, str]:
    """The anomaly score from which alerts opened, and where that number comes from.

    The alert column is what paged: it opened at ``--paging-threshold`` (the replay's
    ``--threshold``). Results without one (NAB's reference results) page where the evaluation
    thresholds their scores.
    """
    if result_set.has_alerts or evaluation.score_threshold is None:
        if settings.paging_threshold != DetectorStack().threshold:
            return settings.paging_threshold, "the replay's --threshold, as --paging-threshold says"
        return settings.paging_threshold, (
            "the replay's default --threshold; pass --paging-threshold if it ran with another"
        )
    return evaluation.score_threshold, evaluation.threshold_source


def write_report_from_settings(settings: Settings, result_set, evaluation, out: Path) -> Path:
    """The postmortem report of an evaluation; the results' state snapshot joins it if found."""
    from sim.evaluation import report_frames
    from sim.report import write_report
    from sim.results import find_state_snapshot

    threshold, source = paging_threshold(settings, result_set, evaluation)
    return write_report(
        report_frames(result_set, evaluation.score_threshold),
        out,
        windows=result_set.windows,
        metrics=evaluation.to_dict(),
        threshold=threshold,
        threshold_note=source,
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
        help="what replay results paged, and with labels how good that was (NAB score, "
        "precision/recall, ...)",
        description="Read replay results and print what paged: every alert (series, start, "
        "end, duration, peak score, actual vs expected value) and the alerts per day of every "
        "series; no labels needed. A long-format result file holds several series, named "
        "<file>::<series>. With labeled windows (--windows), on the labelled series: the NAB "
        "normalized score for each cost profile (standard, reward_low_FP_rate, "
        "reward_low_FN_rate) of the onsets (onset_score, else anomaly_score) with the threshold "
        "mode used, then point-wise and event-wise "
        "precision, recall, F1, accuracy beside the always-healthy accuracy, the confusion "
        "matrix, ROC-AUC, PR-AUC, detection delay and false alerts per day: once for the alert "
        "column (what pages people) and once for anomaly_score >= threshold (the continuous "
        "score, which ROC and PR rank). With --data, every "
        "data file needs a result file, or the command fails listing the missing ones "
        "(--allow-missing evaluates the matched files only). The label file format is in "
        "docs/evaluation.md. Exit status 2 on bad input.",
    )
