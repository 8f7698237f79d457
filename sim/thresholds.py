"""Pick an alert threshold on anomaly scores to fit the business context.

The same scores page differently depending on what a missed incident costs compared with a
night of false pages. Each objective states one such trade-off:

``MaxF1(kind="event")``
    Best balance of precision and recall, event-wise (pages and incidents) or point-wise.
``MinRecall(recall)``
    The highest threshold that still catches at least ``recall`` of the incidents: the fewest
    pages under a hard coverage requirement, as a bank would set for fraud.
``MaxFalseAlertsPerDay(alerts_per_day)``
    The lowest threshold from which false alert events stay within ``alerts_per_day``: catch
    as much as possible while protecting the on-call engineers' sleep.

:func:`tune_threshold` scans a bounded set of candidate thresholds taken from the scores
themselves (see :func:`candidate_thresholds`), using
:func:`sim.classification.metrics_at_thresholds` for all of them in one pass, then reports
full metrics at the chosen one. Detections are ``score >= threshold``.

"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from sim.classification import (
    ClassificationReport,
    ScoredSeries,
    evaluate,
    metrics_at_thresholds,
)

__all__ = [
    "MaxF1",
    "MinRecall",
    "MaxFalseAlertsPerDay",
    "ThresholdChoice",
    "candidate_thresholds",
    "tune_threshold",
]

Kind = Literal["event", "point"]


def _check_kind(kind: str) -> None:
    if kind not in ("event", "point"):
        raise ValueError(f"kind must be 'event' or 'point', got {kind!r}")


def _column(metric: str, kind: Kind) -> str:
    return f"event_{metric}" if kind == "event" else metric


@dataclass(frozen=True)
class MaxF1:
    """Maximise F1, event-wise or point-wise; ties go to the higher threshold (fewer pages)."""

    kind: Kind = "event"

    def __post_init__(self):
        _check_kind(self.kind)


@dataclass(frozen=True)
class MinRecall:
    """The highest threshold whose recall is at least ``recall``."""

    recall: float
    kind: Kind = "event"

    def __post_init__(self):
        _check_kind(self.kind)
        if not 0 <= self.recall <= 1:
            raise ValueError(f"recall must be in [0, 1], got {self.recall}")


@dataclass(frozen=True)
class MaxFalseAlertsPerDay:
    """The lowest threshold from which false alert events stay within ``alerts_per_day``.

    False alerts per day are not monotone in the threshold: near the bottom of the score range
    alerts merge into a few that never resolve, which page rarely while being useless. So the
    choice is the lowest candidate such that it and every higher candidate meet the bound, and
    thresholds that alert on every scored point (one endless alert) or on none are never chosen.
    When no threshold that alerts meets the bound, the strictest one that alerts is chosen and
    the :class:`ThresholdChoice` says the objective is not met.
    """

    alerts_per_day: float

    def __post_init__(self):
        if self.alerts_per_day < 0:
            raise ValueError(f"alerts_per_day must be >= 0, got {self.alerts_per_day}")


Objective = MaxF1 | MinRecall | MaxFalseAlertsPerDay


@dataclass(frozen=True, eq=False)
class ThresholdChoice:
    """A chosen threshold, the objective it serves and the metrics it gives.

    ``curve`` holds the metrics at every candidate (see
    :func:`sim.classification.metrics_at_thresholds`), handy to plot the trade-off. ``met`` is
    False when no threshold meets the objective and the closest one was taken instead
    (:class:`MaxFalseAlertsPerDay` only; the others raise).
    """

    threshold: float
    objective: Objective
    report: ClassificationReport
    curve: pd.DataFrame
    met: bool = True


def _scores(series_list: Sequence[ScoredSeries]) -> np.ndarray:
    if not series_list or any(s.scores is None for s in series_list):
        raise ValueError("every series needs scores to tune a threshold")
    scores = np.concatenate([s.scores for s in series_list])
    finite = scores[np.isfinite(scores)]
    if not finite.size:
        raise ValueError("no finite scores to tune a threshold on")
    return finite


def candidate_thresholds(
    series_list: Sequence[ScoredSeries], max_candidates: int = 200
) -> np.ndarray:
    """Sorted candidate thresholds: distinct scores, thinned to about ``max_candidates``.

    With few distinct scores, all of them are candidates. Otherwise, half the candidates are
    evenly spread quantiles of the distinct scores and half crowd geometrically towards the top,
    because incidents are rare and the useful thresholds sit in the upper tail. A last
    candidate just above the highest score means "never alert".

    Examples
    --------
    >>> ts = pd.date_range("2024-01-01", periods=4, freq="min")
    >>> series = ScoredSeries(ts, labels=[0, 0, 1, 0], scores=[0.2, 0.2, 0.9, 0.5])
    >>> candidate_thresholds([series])[:3].tolist()
    [0.2, 0.5, 0.9]
    >>> bool(candidate_thresholds([series])[-1] > 0.9)
    True

    """
    distinct = np.unique(_scores(series_list))
    if len(distinct) > max_candidates:
        n_even = max_candidates // 2
        even = np.linspace(0, 1, n_even)
        tail = 1 - np.geomspace(1, 1 / len(distinct), max_candidates - n_even)
        levels = np.concatenate([even, tail])
        distinct = np.unique(np.quantile(distinct, levels, method="lower"))
    never = np.nextafter(distinct[-1], np.inf)
    return np.append(distinct, never)


def _defined(curve: pd.DataFrame, column: str) -> pd.Series:
    values = curve[column]
    if values.isna().all():
        raise ValueError(f"{column} is undefined: the series hold no incident window")
    return values


# Each chooser returns the threshold and whether it meets the objective.


def _choose_max_f1(objective: MaxF1, series_list, curve: pd.DataFrame) -> tuple[float, bool]:
    f1 = _defined(curve, _column("f1", objective.kind))
    return float(curve["threshold"][f1 == f1.max()].max()), True


def _choose_min_recall(
    objective: MinRecall, series_list, curve: pd.DataFrame
) -> tuple[float, bool]:
    column = _column("recall", objective.kind)
    recall = _defined(curve, column)
    feasible = curve["threshold"][recall >= objective.recall]
    if feasible.empty:
        raise ValueError(
            f"no threshold reaches {column} {objective.recall}; the best is {recall.max():.3f}"
        )
    best = float(feasible.max())
    above = curve["threshold"][curve["threshold"] > best]
    if above.empty:
        return best, True
    # Candidates are thinned, so the true answer may lie between ``best`` and the next one.
    # Recall only falls as the threshold rises, which makes bisection over the distinct
    # scores in between exact.
    distinct = np.unique(_scores(series_list))
    between = distinct[(distinct > best) & (distinct < float(above.min()))].tolist()

    def fails(threshold: float) -> bool:
        curve_at = metrics_at_thresholds(series_list, [threshold])
        return not curve_at[column].iloc[0] >= objective.recall

    first_failing = bisect.bisect_left(between, True, key=fails)
    return (between[first_failing - 1] if first_failing else best), True


def _choose_max_false_alerts(
    objective: MaxFalseAlertsPerDay, series_list, curve: pd.DataFrame
) -> tuple[float, bool]:
    per_day = curve["false_alerts_per_day"]
    if per_day.isna().all():
        raise ValueError("false alerts per day are undefined: the series span no time")
    # Only thresholds that alert on some points and not on all of them: the lowest score
    # alerts everywhere (one alert that never resolves pages once and says nothing), the
    # last candidate ("never alert") pages nobody.
    lowest = float(_scores(series_list).min())
    thresholds = curve["threshold"]
    alerting = (thresholds > lowest) & (curve["alert_events"] > 0)
    if not alerting.any():
        raise ValueError("every threshold alerts on all scored points or on none")
    candidates = thresholds[alerting]
    violating = candidates[~(per_day[alerting] <= objective.alerts_per_day)]
    if violating.empty:
        return float(candidates.min()), True
    if violating.max() == candidates.max():
        return float(candidates.max()), False  # none meets the bound: the strictest that alerts
    return float(candidates[candidates > violating.max()].min()), True


_CHOOSERS = {
    MaxF1: _choose_max_f1,
    MinRecall: _choose_min_recall,
    MaxFalseAlertsPerDay: _choose_max_false_alerts,
}


def tune_threshold(
    series_list: Sequence[ScoredSeries], objective: Objective, max_candidates: int = 200
) -> ThresholdChoice:
    """Choose the threshold that best serves ``objective`` on labeled, scored series.

    Parameters
    ----------
    series_list
        Scored series with labels; see :class:`sim.classification.ScoredSeries`.
    objective
        :class:`MaxF1`, :class:`MinRecall` or :class:`MaxFalseAlertsPerDay`.
    max_candidates
        About how many thresholds to scan; see :func:`candidate_thresholds`.

    Raises
    ------
    ValueError
        When the objective is undefined (no windows) or cannot be met.

    Examples
    --------
    Two incidents: one scores 0.9, the other only 0.6, and a healthy blip scores 0.7.

    >>> ts = pd.date_range("2024-01-01", periods=8, freq="h")
    >>> series = ScoredSeries(
    ...     ts,
    ...     labels=[0, 1, 0, 0, 0, 0, 1, 0],
    ...     scores=[0.1, 0.9, 0.1, 0.7, 0.1, 0.1, 0.6, 0.1],
    ... )
    >>> tune_threshold([series], MinRecall(1.0)).threshold
    0.6
    >>> tune_threshold([series], MinRecall(0.5)).threshold
    0.9
    >>> choice = tune_threshold([series], MaxFalseAlertsPerDay(0))
    >>> choice.threshold, choice.report.event_recall
    (0.9, 0.5)

    """
    curve = metrics_at_thresholds(series_list, candidate_thresholds(series_list, max_candidates))
    threshold, met = _CHOOSERS[type(objective)](objective, series_list, curve)
    return ThresholdChoice(
        threshold=threshold,
        objective=objective,
        report=evaluate(series_list, threshold),
        curve=curve,
        met=met,
    )
