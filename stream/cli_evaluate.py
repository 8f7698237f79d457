"""``lookout evaluate``: NAB scores and classification metrics of replay results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detectors import DetectorStack
from stream.cli_options import DEMO_WINDOWS

__all__ = ["register", "add_evaluation_arguments", "evaluate_from_args", "write_report_from_args"]


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


def add_evaluation_arguments(parser: argparse.ArgumentParser) -> None:
    """Inputs, threshold mode and objective, shared by ``evaluate`` and ``report``."""
    parser.add_argument(
        "results",
        metavar="RESULTS",
        help="results folder: 'lookout replay' output (<relpath>.csv per data file) or NAB "
        "results (<category>/<detector>_<file>.csv)",
    )
    parser.add_argument(
        "--data",
        help="the data folder that was replayed (.csv and .csv.gz files, one series per file "
        "or long format): result files are paired with its files and checked against them. "
        "Default: the result files are read on their own (replay results carry their values)",
    )
    parser.add_argument(
        "--windows",
        help="label file (NAB's combined_windows.json format, see docs/evaluation.md): "
        '{"<file>": [["start", "end"], ...]}, keys relative to the results (or to a subfolder). '
        "Series it does not name are unlabeled: they page, but get no scores. Default: "
        "DATA/../labels/combined_windows.json if it exists; without --data, the bundled demo "
        "labels for a replay of the bundled demo; else no labels (alerts and pages only)",
    )
    parser.add_argument(
        "--profiles",
        help="NAB cost profiles file (default: NAB's standard, reward_low_FP_rate and "
        "reward_low_FN_rate, bundled)",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="evaluate only the data files that have results instead of failing (NAB scores "
        "are then normalized over those files)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--optimize",
        action="store_true",
        help="NAB scores at the best threshold per profile, found by NAB's sweep (default)",
    )
    mode.add_argument(
        "--threshold",
        type=float,
        help="NAB scores and score metrics at this anomaly_score threshold",
    )
    mode.add_argument(
        "--use-alerts",
        action="store_true",
        help="NAB scores on the alert column (what the alert policy paged)",
    )
    parser.add_argument(
        "--paging-threshold",
        type=float,
        default=DetectorStack().threshold,
        metavar="T",
        help="the anomaly score from which the replay's alerts opened (its --threshold), drawn "
        "on the report's score panels (default: replay's default, %(default)s)",
    )
    parser.add_argument(
        "--objective",
        metavar="OBJECTIVE",
        help="choose the score metrics' threshold by business context: max-f1 (event F1), "
        "recall:R (fewest pages catching a share R of incidents), fp-per-day:N (most "
        "incidents with at most N false pages a day). Default: the threshold of --threshold, "
        "else NAB's optimized threshold for the standard profile",
    )


def evaluate_from_args(args: argparse.Namespace):
    """Load and evaluate as the options say; returns ``(result_set, evaluation)``.

    Raises :class:`sim.results.EvaluationError` or ``ValueError`` with a message for the user.
    """
    from sim.evaluation import BUNDLED_PROFILES, evaluate_results, load_profiles, parse_objective
    from sim.results import load_result_set

    if args.threshold is not None and args.objective:
        raise ValueError("--threshold and --objective both set the score threshold; give one")
    objective = parse_objective(args.objective) if args.objective else None
    data = Path(args.data) if args.data else None
    windows = Path(args.windows) if args.windows else default_windows(data, Path(args.results))
    profiles_path = Path(args.profiles) if args.profiles else BUNDLED_PROFILES
    try:
        profiles = load_profiles(profiles_path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{profiles_path}: not a NAB profiles file ({exc!r})") from exc
    result_set = load_result_set(args.results, data, windows, allow_missing=args.allow_missing)
    evaluation = evaluate_results(
        result_set,
        profiles,
        threshold=args.threshold,
        use_alerts=args.use_alerts,
        objective=objective,
    )
    return result_set, evaluation


def paging_threshold(args: argparse.Namespace, result_set, evaluation) -> tuple[float, str]:
    """The anomaly score from which alerts opened, and where that number comes from.

    The alert column is what paged: it opened at ``--paging-threshold`` (the replay's
    ``--threshold``). Results without one (NAB's reference results) page where the evaluation
    thresholds their scores.
    """
    if result_set.has_alerts or evaluation.score_threshold is None:
        if args.paging_threshold != DetectorStack().threshold:
            return args.paging_threshold, "the replay's --threshold, as --paging-threshold says"
        return args.paging_threshold, (
            "the replay's default --threshold; pass --paging-threshold if it ran with another"
        )
    return evaluation.score_threshold, evaluation.threshold_source


def write_report_from_args(args: argparse.Namespace, result_set, evaluation, out: Path) -> Path:
    """The postmortem report of an evaluation; the results' state snapshot joins it if found."""
    from sim.evaluation import report_frames
    from sim.report import write_report
    from sim.results import find_state_snapshot

    threshold, source = paging_threshold(args, result_set, evaluation)
    return write_report(
        report_frames(result_set, evaluation.score_threshold),
        out,
        windows=result_set.windows,
        metrics=evaluation.to_dict(),
        threshold=threshold,
        threshold_note=source,
        state_snapshot=find_state_snapshot(args.results),
        title=f"Lookout report: {args.results}",
    )


def _error(command: str, exc: Exception) -> int:
    print(f"lookout {command}: error: {exc}", file=sys.stderr)
    return 2


def cmd_evaluate(args: argparse.Namespace) -> int:
    import orjson

    try:
        result_set, evaluation = evaluate_from_args(args)
        index = None
        if args.report:
            index = write_report_from_args(args, result_set, evaluation, Path(args.report))
    except (ValueError, OSError) as exc:  # EvaluationError is a ValueError
        return _error("evaluate", exc)
    if result_set.missing:
        print(
            f"lookout evaluate: warning: {len(result_set.missing)} data files without results "
            "left out",
            file=sys.stderr,
        )
    if args.json:
        options = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
        print(orjson.dumps(evaluation.to_dict(), option=options).decode())
    else:
        print(evaluation.format())
        if index is not None:
            print(f"report    {index}")
    return 0


def register(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="what replay results paged, and with labels how good that was (NAB score, "
        "precision/recall, ...)",
        description="Read replay results and print what paged: every alert (series, start, "
        "end, duration, peak score, actual vs expected value) and the alerts per day of every "
        "series; no labels needed. A long-format result file holds several series, named "
        "<file>::<series>. With labeled windows (--windows), on the labelled series: the NAB "
        "normalized score for each cost profile (standard, reward_low_FP_rate, "
        "reward_low_FN_rate) with the threshold mode used, then point-wise and event-wise "
        "precision, recall, F1, accuracy beside the always-healthy accuracy, the confusion "
        "matrix, ROC-AUC, PR-AUC, detection delay and false alerts per day: once for the alert "
        "column (what pages people) and once for anomaly_score >= threshold. With --data, every "
        "data file needs a result file, or the command fails listing the missing ones "
        "(--allow-missing evaluates the matched files only). The label file format is in "
        "docs/evaluation.md. Exit status 2 on bad input.",
    )
    add_evaluation_arguments(evaluate)
    evaluate.add_argument(
        "--json",
        action="store_true",
        help="print a JSON document instead: {nab: {<profile>: {score, raw_score, threshold, "
        "mode}}, classification: {alert: {...}, score: {threshold, ...}}, pages: [...], "
        "alerts: [...], ...} (nab empty and classification null without labels)",
    )
    evaluate.add_argument("--report", metavar="DIR", help="also write the report into DIR")
    evaluate.set_defaults(handler=cmd_evaluate)
