"""``lookout report``: a postmortem report (plots, top anomalies, metrics) of replay results."""

from __future__ import annotations

import sys
from pathlib import Path

from stream.cli.evaluate import (
    EVALUATION_OPTIONS,
    evaluate_from_settings,
    write_report_from_settings,
)
from stream.cli.replay import INPUT_OPTIONS
from stream.cli.settings import Option, Settings

__all__ = ["register"]

REPORT_OPTIONS = (Option("out", None, "report folder", metavar="DIR", required=True),)


def cmd_report(settings: Settings) -> int:
    try:
        result_set, evaluation = evaluate_from_settings(settings)
        index = write_report_from_settings(settings, result_set, evaluation, Path(settings.out))
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
    from stream.cli import register_command

    register_command(
        commands,
        "report",
        cmd_report,
        {None: EVALUATION_OPTIONS + REPORT_OPTIONS, "input files": INPUT_OPTIONS},
        help="write a postmortem report (HTML page, alerts, pages per day, plots) of results",
        description="Evaluate replay results as 'lookout evaluate' does (labels optional) and "
        "write into OUT: index.html (self-contained: plots embedded, no external assets; what "
        "paged, alerts per series per day, the alerts, and with labels the scores), alerts.csv "
        "(series, start, end, duration, peak score, actual vs expected), pages.csv, "
        "alerts/<series>-<n>.png (close-ups of the 30 highest-peaking alerts), "
        "series/<file>.png (value, expected value and band, labeled windows, alerts, and the "
        "score with the paging threshold), forecast_vs_actual.png, top_anomalies.csv, "
        "metrics.json (the 'lookout evaluate --json' document); with labels "
        "confusion_matrix.png, roc_curve.png and pr_curve.png (on the continuous anomaly_score); "
        "and the detector state snapshot when RESULTS holds "
        "state_snapshot.json or state_snapshot.bin. See docs/evaluation.md.",
    )
