"""``lookout report``: a postmortem report (plots, top anomalies, metrics) of replay results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stream.cli_evaluate import add_evaluation_arguments, evaluate_from_args, write_report_from_args

__all__ = ["register"]


def cmd_report(args: argparse.Namespace) -> int:
    try:
        result_set, evaluation = evaluate_from_args(args)
        index = write_report_from_args(args, result_set, evaluation, Path(args.out))
    except (ValueError, OSError) as exc:  # EvaluationError is a ValueError
        print(f"lookout report: error: {exc}", file=sys.stderr)
        return 2
    print(f"files     {evaluation.n_files}")
    print(f"series    {evaluation.n_series} ({evaluation.n_labeled} labeled)")
    print(f"alerts    {len(evaluation.alerts)}")
    for name, entry in list(evaluation.nab.items())[:1]:
        print(f"NAB       {name} {entry['score']:.2f} ({entry['mode']})")
    print(f"report    {index}")
    return 0


def register(commands) -> None:
    report = commands.add_parser(
        "report",
        help="write a postmortem report (HTML page, alerts, pages per day, plots) of results",
        description="Evaluate replay results as 'lookout evaluate' does (labels optional) and "
        "write into OUT: index.html (self-contained: plots embedded, no external assets; what "
        "paged, alerts per series per day, the alerts, and with labels the scores), alerts.csv "
        "(series, start, end, duration, peak score, actual vs expected), pages.csv, "
        "alerts/<series>-<n>.png (close-ups of the 30 highest-peaking alerts), "
        "series/<file>.png (value, expected value and band, labeled windows, alerts, and the "
        "score with the paging threshold), forecast_vs_actual.png, top_anomalies.csv, "
        "metrics.json (the 'lookout evaluate --json' document); with labels "
        "confusion_matrix.png, roc_curve.png and pr_curve.png (on the continuous combined_score "
        "when the results carry it); and the detector state snapshot when RESULTS holds "
        "state_snapshot.json or state_snapshot.bin. See docs/evaluation.md.",
    )
    add_evaluation_arguments(report)
    report.add_argument("--out", required=True, metavar="DIR", help="report folder")
    report.set_defaults(handler=cmd_report)
