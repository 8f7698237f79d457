"""A detector's results: what paged, and against labeled windows, NAB scores and metrics.

The glue behind ``lookout evaluate`` and ``lookout report``. Given a
:class:`~sim.results.ResultSet` (:func:`sim.results.load_result_set`),
:func:`evaluate_results` computes:

* what paged, labels or not: every alert and the alerts per day of every series
  (:mod:`sim.pages`);
* on the labelled series, the NAB normalized score per cost profile (of ``onset_score``: one
  detection per incident, at its start, is what NAB rewards), in one of three modes:
  ``optimized`` (NAB's threshold sweep, per profile), ``fixed`` (one given threshold) or
  ``alert`` (the 0/1 ``alert`` column scored directly, i.e. what the alert policy actually
  paged);
* on the labelled series, point-wise and event-wise classification metrics
  (:mod:`sim.classification`) twice: on the ``alert`` column, and on
  ``anomaly_score >= threshold`` (the continuous score, which ROC-AUC and PR-AUC rank). That
  threshold is, in order: the one an :mod:`~sim.thresholds` objective picks (``max-f1``,
  ``recall:R``, ``fp-per-day:N``), the fixed threshold, or the threshold NAB's sweep of the
  onsets found best for the first profile (``standard``).

Missing scores (NaN) never count as a detection.

Results that cannot be scored (an objective without labels, no window past NAB's probation)
raise :class:`~sim.results.EvaluationError` with a message meant for the person who ran the
command.

Examples
--------
>>> import tempfile
>>> import numpy as np
>>> from sim.results import load_result_set
>>> stamps = pd.date_range("2024-01-01", periods=200, freq="5min")
>>> scores = np.where(np.arange(200) == 150, 0.9, 0.1)  # 12:30, the start of the window
>>> results = pd.DataFrame({"timestamp": stamps, "anomaly_score": scores, "alert": scores > 0.5})
>>> with tempfile.TemporaryDirectory() as tmp:
...     root = Path(tmp)
...     for folder in ("data/cat", "results/cat"):
...         (root / folder).mkdir(parents=True)
...     results.assign(value=1.0).drop(columns=["anomaly_score", "alert"]).to_csv(
...         root / "data/cat/a.csv", index=False)
...     results.astype({"alert": int}).to_csv(root / "results/cat/a.csv", index=False)
...     _ = (root / "windows.json").write_text(
...         '{"cat/a.csv": [["2024-01-01 12:30:00", "2024-01-01 12:50:00"]]}')
...     result_set = load_result_set(root / "results", root / "data", root / "windows.json")
>>> evaluation = evaluate_results(result_set, load_profiles(BUNDLED_PROFILES))
>>> evaluation.nab["standard"]["score"], evaluation.nab["standard"]["mode"]
(100.0, 'optimized')
>>> evaluation.alert_report.event_recall, evaluation.score_threshold
(1.0, 0.9)

"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from sim.classification import ClassificationReport, evaluate
from sim.nab_corpus import CostProfile, load_profiles
from sim.nab_scoring import ONSET_SCORE, detection_scores, nab_scores
from sim.pages import alert_table, pages_per_day
from sim.paging import TARGETS, series_paging, summarize
from sim.results import EvaluationError, ResultSet
from sim.thresholds import MaxF1, MaxFalseAlertsPerDay, MinRecall, Objective, tune_threshold

__all__ = [
    "BUNDLED_PROFILES",
    "Evaluation",
    "describe_objective",
    "evaluate_results",
    "format_incidents",
    "incident_figures",
    "load_profiles",
    "parse_objective",
    "report_frames",
]

BUNDLED_PROFILES = Path(str(resources.files("sim") / "data" / "nab_profiles.json"))


# --- objectives ---------------------------------------------------------------------------------


def parse_objective(text: str) -> Objective:
    """Read a business objective: ``max-f1``, ``recall:R`` or ``fp-per-day:N``.

    ``max-f1`` maximises event-wise F1; ``recall:R`` is the highest threshold still catching a
    share ``R`` of the incidents; ``fp-per-day:N`` the lowest threshold keeping false pages
    within ``N`` a day (see :mod:`sim.thresholds`).

    Examples
    --------
    >>> parse_objective("recall:0.9")
    MinRecall(recall=0.9, kind='event')
    >>> describe_objective(parse_objective("fp-per-day:2"))
    'fp-per-day:2'
    >>> parse_objective("cheap")
    Traceback (most recent call last):
    ...
    ValueError: unknown objective 'cheap'; use max-f1, recall:R (0..1) or fp-per-day:N
    """
    name, _, argument = text.strip().partition(":")
    try:
        if name == "max-f1" and not argument:
            return MaxF1()
        if name == "recall" and argument:
            return MinRecall(float(argument))
        if name == "fp-per-day" and argument:
            return MaxFalseAlertsPerDay(float(argument))
    except ValueError as exc:
        raise ValueError(f"bad objective {text!r}: {exc}") from exc
    raise ValueError(f"unknown objective {text!r}; use max-f1, recall:R (0..1) or fp-per-day:N")


def describe_objective(objective: Objective) -> str:
    """The ``parse_objective`` spelling of an objective."""
    if isinstance(objective, MinRecall):
        return f"recall:{objective.recall:g}"
    if isinstance(objective, MaxFalseAlertsPerDay):
        return f"fp-per-day:{objective.alerts_per_day:g}"
    return "max-f1"


# --- evaluation ---------------------------------------------------------------------------------


def _report_dict(report: ClassificationReport) -> dict[str, Any]:
    return {**report.to_dict(), "confusion_matrix": report.confusion_matrix.tolist()}


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-able rows: times as ISO 8601, durations in seconds, NaN as None."""
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    for row in rows:
        for key, value in row.items():
            if isinstance(value, pd.Timestamp):
                row[key] = value.isoformat()
            elif isinstance(value, pd.Timedelta):
                row[key] = value.total_seconds()
    return rows


# Alerts listed by ``Evaluation.format``; the JSON and the report list them all.
MAX_LISTED_ALERTS = 20


@dataclasses.dataclass(frozen=True, eq=False)
class Evaluation:
    """What paged, and with labels, NAB scores and classification metrics of one result set.

    Attributes
    ----------
    alerts, pages
        Every alert (:func:`sim.pages.alert_table`) and the alerts per day of every series
        (:func:`sim.pages.pages_per_day`); they need no labels.
    nab
        Per profile: ``score`` (normalized), ``raw_score``, ``threshold`` (None in ``alert``
        mode) and ``mode`` (``optimized``, ``fixed`` or ``alert``). Empty without labels.
    alert_report
        Metrics of the ``alert`` column; None when the results carry none, or without labels.
    score_report
        Metrics of ``anomaly_score >= score_threshold``; None without labels.
    score_threshold, threshold_source
        The threshold behind ``score_report`` and where it comes from (None without labels
        unless a threshold was given).
    n_files, missing
        Result files evaluated, and data files left out for lack of results.
    n_series, n_labeled
        Series read (a long-format file holds several), and how many of them have labels.
    objective, objective_met
        The objective that chose ``score_threshold``, as written to ``parse_objective``, and
        whether that threshold meets it (False: no threshold does; the closest was taken).
    incidents
        How long the alert column's alerts last on the labelled windows (:mod:`sim.paging`):
        ``median_coverage``, ``alerts_per_detected``, ``median_resolve_delay_minutes``,
        ``resolved_in_target``, ``resolved_early``, ``detected`` and ``windows``; None without
        labels or an alert column.
    """

    nab: dict[str, dict[str, Any]]
    alert_report: ClassificationReport | None
    score_report: ClassificationReport | None
    score_threshold: float | None
    threshold_source: str | None
    n_files: int
    missing: tuple[str, ...] = ()
    objective: str | None = None
    objective_met: bool | None = None
    n_series: int = 0
    n_labeled: int = 0
    alerts: pd.DataFrame = dataclasses.field(default_factory=lambda: alert_table({}))
    pages: pd.DataFrame = dataclasses.field(
        default_factory=lambda: pages_per_day({}, alert_table({}))
    )
    incidents: dict[str, Any] | None = None

    @property
    def has_labels(self) -> bool:
        return self.score_report is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``nab``, ``classification`` (``alert``, ``score``), ``objective``, files,
        ``series``, ``labeled_series``, ``pages`` and ``alerts`` (durations in seconds)."""
        document: dict[str, Any] = {"nab": self.nab}
        if self.score_report is None:
            document["classification"] = None
        else:
            score = {
                "threshold": self.score_threshold,
                "threshold_source": self.threshold_source,
                **_report_dict(self.score_report),
            }
            document["classification"] = {
                "alert": None if self.alert_report is None else _report_dict(self.alert_report),
                "score": score,
            }
        if self.objective is not None:
            document["objective"] = {
                "name": self.objective,
                "threshold": self.score_threshold,
                "met": self.objective_met,
            }
        document["incidents"] = self.incidents
        document["files"] = self.n_files
        document["missing_files"] = list(self.missing)
        document["series"] = self.n_series
        document["labeled_series"] = self.n_labeled
        document["pages"] = _records(self.pages)
        document["alerts"] = _records(self.alerts)
        return document

    def format_pages(self) -> str:
        """Text tables: alerts per day per series, then the first alerts."""
        lines = [
            f"Pages (the alert column: {len(self.alerts)} alerts in {self.n_series} series)",
            f"{'series':<44}{'days':>7}{'alerts':>8}{'per day':>9}{'hours alerting':>16}",
        ]
        for row in self.pages.itertuples(index=False):
            per_day = "-" if pd.isna(row.pages_per_day) else f"{row.pages_per_day:.2f}"
            lines.append(
                f"{row.series:<44}{row.days:7.2f}{row.alerts:8d}{per_day:>9}"
                f"{row.hours_alerting:16.2f}"
            )
        if len(self.alerts):
            shown = self.alerts.head(MAX_LISTED_ALERTS)
            lines += [
                "",
                f"{'series':<44}{'start':<21}{'duration':>10}{'peak':>7}{'actual':>12}"
                f"{'expected':>12}  label",
            ]
            labels = {True: "incident", False: "false alert"}
            for row in shown.itertuples(index=False):
                minutes = row.duration / pd.Timedelta(minutes=1)
                lines.append(
                    f"{row.series:<44}{row.start.strftime('%Y-%m-%d %H:%M:%S'):<21}"
                    f"{minutes:9.0f}m{row.peak_score:7.3f}{row.actual:12.5g}{row.expected:12.5g}"
                    f"  {labels.get(row.incident, '-')}"
                )
            if len(self.alerts) > len(shown):
                lines.append(f"... {len(self.alerts) - len(shown)} more (--json, or the report)")
        return "\n".join(lines)

    def format(self) -> str:
        """Text tables: NAB scores, then metrics on alerts and on thresholded scores (with
        labels), then what paged."""
        if not self.has_labels:
            summary = f"{self.n_files} files, {self.n_series} series evaluated, none labelled"
            return "\n".join(
                [
                    "No labels: NAB scores, precision and recall need labelled windows "
                    "(--windows); what paged follows.",
                    "",
                    self.format_pages(),
                    "",
                    summary,
                ]
            )
        lines = [
            "NAB score (0 = detects nothing, 100 = detects every window at its start)",
            f"{'profile':<22}{'score':>8}  {'threshold':>10}  mode",
        ]
        for name, entry in self.nab.items():
            threshold = "-" if entry["threshold"] is None else f"{entry['threshold']:.6g}"
            lines.append(f"{name:<22}{entry['score']:8.2f}  {threshold:>10}  {entry['mode']}")
        lines += ["", "Alerts (the alert column: what pages people)"]
        if self.alert_report is None:
            lines.append("not available: the results carry no alert column")
        else:
            lines.append(self.alert_report.format_table())
            if self.incidents is not None:
                lines += ["", format_incidents(self.incidents)]
        lines += [
            "",
            f"Scores: anomaly_score >= {self.score_threshold:.6g} ({self.threshold_source})",
            self.score_report.format_table(),
            "",
            self.format_pages(),
        ]
        summary = f"{self.n_files} files evaluated"
        if self.n_labeled < self.n_series:
            summary += f"; {self.n_labeled} of {self.n_series} series labelled (scores on those)"
        if self.missing:
            summary += f"; {len(self.missing)} data files without results left out"
        lines += ["", summary]
        return "\n".join(lines)


def incident_figures(result_set: ResultSet) -> dict[str, Any] | None:
    """How long the alerts of the ``alert`` column last on the labelled windows (module
    :mod:`sim.paging`); None without labels or an alert column."""
    if not (result_set.has_labels and result_set.has_alerts):
        return None
    records = [
        series_paging(frame["timestamp"], frame["alert"].fillna(0), result_set.windows[name])
        for name, frame in result_set.results.items()
        if name in result_set.windows
    ]
    summary = summarize(records)
    keys = ("median_coverage", "alerts_per_detected", "median_resolve_delay_minutes",
            "resolved_in_target", "resolved_early", "windows")  # fmt: skip
    figures = {key: summary[key] for key in keys}
    figures["detected"] = sum(len(r.coverages) for r in records)
    return figures


def format_incidents(figures: Mapping[str, Any]) -> str:
    """The incident figures as text, each beside its target (issue 15).

    >>> print(format_incidents({"median_coverage": 0.9, "alerts_per_detected": 1.0,
    ...     "median_resolve_delay_minutes": 4.0, "resolved_in_target": 1.0,
    ...     "resolved_early": 0.0, "windows": 3, "detected": 2}))
    Incidents (the alert column on 2 detected of 3 windows)
      median alert coverage of a window       0.90  (target >= 0.8)
      alerts per detected window              1.00  (target <= 1.2)
      median resolve delay after it (min)     4.00
      resolved within max(10 min, 2 samples)  1.00  (target 1: after its end, not before)
      resolved before its end                 0.00
    """

    def number(key: str) -> str:
        value = figures[key]
        return "   -" if value is None else f"{value:.2f}"

    return "\n".join(
        [
            f"Incidents (the alert column on {figures['detected']} detected of "
            f"{figures['windows']} windows)",
            f"  median alert coverage of a window       {number('median_coverage')}  "
            f"(target >= {TARGETS['median_coverage']})",
            f"  alerts per detected window              {number('alerts_per_detected')}  "
            f"(target <= {TARGETS['alerts_per_detected']})",
            f"  median resolve delay after it (min)     {number('median_resolve_delay_minutes')}",
            f"  resolved within max(10 min, 2 samples)  {number('resolved_in_target')}  "
            "(target 1: after its end, not before)",
            f"  resolved before its end                 {number('resolved_early')}",
        ]
    )


def _nan_free(results: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    # NAB's scorer refuses missing scores; a detector that has not scored has not detected.
    return {
        relpath: frame.fillna({"anomaly_score": 0.0, ONSET_SCORE: 0.0})
        for relpath, frame in results.items()
    }


def evaluate_results(
    result_set: ResultSet,
    profiles: Mapping[str, CostProfile],
    threshold: float | None = None,
    use_alerts: bool = False,
    objective: Objective | None = None,
) -> Evaluation:
    """NAB scores per profile and classification metrics of a :class:`ResultSet`.

    Parameters
    ----------
    result_set
        From :func:`load_result_set`.
    profiles
        NAB cost profiles by name (:func:`~sim.nab_corpus.load_profiles`); the first one
        (``standard`` in NAB's file) supplies the default score threshold.
    threshold
        Score NAB at this fixed threshold instead of optimizing it per profile; also the
        threshold of the score metrics unless ``objective`` is given.
    use_alerts
        Score NAB on the ``alert`` column (what was paged) instead of thresholding scores.
    objective
        Pick the score metrics' threshold with :func:`sim.thresholds.tune_threshold`.

    Raises
    ------
    EvaluationError
        ``use_alerts`` without an alert column, an objective that cannot be met, or no window.
    ValueError
        Both ``threshold`` and ``use_alerts``, or both ``threshold`` and ``objective``.
    """
    if threshold is not None and use_alerts:
        raise ValueError("give a threshold or use the alert column, not both")
    if threshold is not None and objective is not None:
        raise ValueError("give a threshold or an objective, not both")
    if not profiles:
        raise ValueError("no NAB cost profile given")
    if use_alerts and not result_set.has_alerts:
        raise EvaluationError("the results carry no alert column to score (--use-alerts)")
    if not result_set.has_labels:
        if objective is not None:
            raise EvaluationError(
                f"objective {describe_objective(objective)} needs labelled windows (--windows)"
            )
        return _evaluation_of_pages(result_set, threshold)

    results = _nan_free({name: result_set.results[name] for name in result_set.windows})
    windows = result_set.windows
    first_profile = next(iter(profiles))
    try:
        if use_alerts:
            nab = detection_scores(results, windows, profiles, column="alert", openings=True)
            mode = "alert"
        else:
            nab = nab_scores(results, windows, profiles, threshold=threshold)
            mode = "optimized" if threshold is None else "fixed"
        if threshold is None and objective is None:
            best = (
                nab
                if mode == "optimized"
                else nab_scores(results, windows, {first_profile: profiles[first_profile]})
            )
            threshold = best[first_profile]["threshold"]
            source = f"NAB {first_profile} optimized threshold"
        elif threshold is not None:
            source = "given threshold"
    except ValueError as exc:  # e.g. no window past NAB's probation period
        raise EvaluationError(f"NAB score undefined: {exc}") from exc
    for entry in nab.values():
        entry["mode"] = mode
        if mode == "alert":
            entry["threshold"] = None

    series = result_set.scored_series()
    if objective is not None:
        try:
            choice = tune_threshold(series, objective)
        except ValueError as exc:
            raise EvaluationError(f"objective {describe_objective(objective)}: {exc}") from exc
        threshold = choice.threshold
        source = f"objective {describe_objective(objective)}"
        if not choice.met:
            source += " not met by any threshold that alerts: the strictest one"
    paged = _evaluation_of_pages(result_set, threshold)
    return dataclasses.replace(
        paged,
        nab=nab,
        alert_report=evaluate(series) if result_set.has_alerts else None,
        score_report=evaluate(series, threshold),
        score_threshold=float(threshold),
        threshold_source=source,
        objective=None if objective is None else describe_objective(objective),
        objective_met=None if objective is None else choice.met,
        incidents=incident_figures(result_set),
    )


def _evaluation_of_pages(result_set: ResultSet, threshold: float | None) -> Evaluation:
    """The part of an evaluation that needs no labels: what paged."""
    frames = report_frames(result_set, threshold)
    alerts = alert_table(frames, result_set.windows)
    return Evaluation(
        nab={},
        alert_report=None,
        score_report=None,
        score_threshold=threshold,
        threshold_source=None if threshold is None else "given threshold",
        n_files=result_set.n_files,
        missing=result_set.missing,
        n_series=len(result_set.results),
        n_labeled=len(result_set.windows),
        alerts=alerts,
        pages=pages_per_day(frames, alerts, result_set.windows),
    )


def report_frames(result_set: ResultSet, threshold: float | None) -> dict[str, pd.DataFrame]:
    """Result frames ready for :func:`sim.report.write_report` and :mod:`sim.pages`.

    Results without an ``alert`` column (NAB reference results) get one from
    ``anomaly_score >= threshold`` when there is a threshold, so the report's alerts and
    confusion matrix show that threshold.
    """
    if result_set.has_alerts or threshold is None:
        return dict(result_set.results)
    return {
        name: frame.assign(alert=(frame["anomaly_score"] >= threshold).astype(int))
        if "alert" not in frame
        else frame
        for name, frame in result_set.results.items()
    }
