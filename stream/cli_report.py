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
    standard = next(iter(evaluation.nab.items()))
    print(f"files     {evaluation.n_files}")
    print(f"NAB       {standard[0]} {standard[1]['score']:.2f} ({standard[1]['mode']})")
    print(f"report    {index}")
    return 0


def register(commands) -> None:
    report = commands.add_parser(
        "report",
        help="write a postmortem report (HTML page, plots, top anomalies, metrics) of results",
        description="Evaluate replay results as 'lookout evaluate' does and write into OUT: "
        "index.html (self-contained: plots embedded, no external assets), series/<file>.png "
        "(value, forecast band, labeled windows, alerts and score), confusion_matrix.png, "
        "roc_curve.png, pr_curve.png, forecast_vs_actual.png, top_anomalies.csv, metrics.json "
        "(the 'lookout evaluate --json' document), and the detector state snapshot when "
        "RESULTS holds state_snapshot.json or state_snapshot.bin.",
    )
    add_evaluation_arguments(report)
    report.add_argument("--out", required=True, metavar="DIR", help="report folder")
    report.set_defaults(handler=cmd_report)
