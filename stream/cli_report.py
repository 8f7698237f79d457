"""``lookout report``: a postmortem report (plots, top anomalies, metrics) of replay results."""

from __future__ import annotations

import sys
from pathlib import Path

from stream.cli_evaluate import (
    EVALUATION_OPTIONS,
    evaluate_from_settings,
    write_report_from_settings,
)
from stream.cli_replay import INPUT_OPTIONS
from stream.config import Option, Settings

__all__ = ["register"]

REPORT_OPTIONS = (Option("out", None, "report folder", metavar="DIR", required=True),)


def cmd_report(settings: Settings) -> int:
    try:
        result_set, evaluation = evaluate_from_settings(settings)
        index = write_report_from_settings(settings, result_set, evaluation, Path(settings.out))
    except (ValueError, OSError) as exc:  # EvaluationError is a ValueError
        print(f"lookout report: error: {exc}", file=sys.stderr)
        return 2
    standard = next(iter(evaluation.nab.items()))
    print(f"files     {evaluation.n_files}")
    print(f"NAB       {standard[0]} {standard[1]['score']:.2f} ({standard[1]['mode']})")
    print(f"report    {index}")
    return 0


def register(commands) -> None:
    from stream.cli import register_command

    register_command(
        commands,
        "report",
        cmd_report,
        {None: EVALUATION_OPTIONS + REPORT_OPTIONS, "input files": INPUT_OPTIONS},
        help="write a postmortem report (HTML page, plots, top anomalies, metrics) of results",
        description="Evaluate replay results as 'lookout evaluate' does and write into OUT: "
        "index.html (self-contained: plots embedded, no external assets), series/<file>.png "
        "(value, forecast band, labeled windows, alerts and score), confusion_matrix.png, "
        "roc_curve.png, pr_curve.png, forecast_vs_actual.png, top_anomalies.csv, metrics.json "
        "(the 'lookout evaluate --json' document), and the detector state snapshot when "
        "RESULTS holds state_snapshot.json or state_snapshot.bin.",
    )
