"""How well alerts match labeled incident windows: point-wise and event-wise metrics.

Two views of the same alerts:

*Point-wise*: every point is a binary classification (label 1 inside a window). Precision,
recall, F1, accuracy and the confusion matrix come from :mod:`sklearn.metrics`; ROC-AUC and
PR-AUC (average precision) rank the raw scores, independently of any threshold.

*Event-wise*, closer to what an on-call engineer lives through:

* a window (a maximal run of labeled points) is *detected* if any detection falls inside it;
* its *detection delay* is the time from its first point to its first detection;
* an *alert event* is a maximal run of consecutive detections (one page), and a *false alert
  event* is one that starts outside every window;
* event precision = true events / all events, event recall = detected windows / windows;
* false alerts per day = false events / days of data.

Why "starts outside" rather than "overlaps no window": the page goes out when the alert starts,
and if nothing was wrong then, the on-call engineer finds nothing, even if an incident begins
later while the alert is still firing. Counting such an alert as true would let a detector that
never stops alerting score perfect event precision (one endless alert overlapping every window),
and threshold tuning would then pick the lowest threshold. An alert that starts inside a window
and outlasts it is still one true page. The window it runs into is still detected, though.

A corpus (many series) is aggregated by concatenation: points from all series are pooled,
while runs never cross from one series into the next. This keeps ROC-AUC defined when single
series hold only one class.

Conventions for undefined values: precision is 0 when nothing was flagged (sklearn's
``zero_division=0``); recall, F1, ROC-AUC and PR-AUC are ``None`` when the corpus holds no
incident; delays are ``None`` when no window was detected. A NaN score (a detector still
warming up) never triggers a detection and ranks lowest in the AUCs.

"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn import metrics as skmetrics

from sim.labeled import LabeledSeries

__all__ = [
    "ScoredSeries",
    "ClassificationReport",
    "evaluate",
    "metrics_at_thresholds",
]

NANOSECONDS_PER_DAY = 86_400 * 10**9

CURVE_COUNT_COLUMNS = (
    "tp",
    "fp",
    "fn",
    "tn",
    "detected_windows",
    "alert_events",
    "false_alert_events",
)
CURVE_COLUMNS = (
    "threshold",
    "tp",
    "fp",
    "fn",
    "tn",
    "precision",
    "recall",
    "f1",
    "accuracy",
    "detected_windows",
    "alert_events",
    "false_alert_events",
    "event_precision",
    "event_recall",
    "event_f1",
    "false_alerts_per_day",
)

ACCURACY_NOTE = (
    "Accuracy misleads on imbalanced data: never alerting scores {accuracy:.3f} yet "
    "catches nothing."
)


def _as_array(values, dtype) -> np.ndarray:
    return np.asarray(values, dtype=dtype).reshape(-1)


@dataclass(frozen=True, eq=False)
class ScoredSeries:
    """One series' timestamps, labels and a detector's output, as aligned arrays.

    Parameters
    ----------
    timestamps
        Datetime-like; points out of time order are put in time order (stable sort).
    labels
        1 (or True) for points inside an incident window.
    scores
        Anomaly scores, higher is more anomalous; needed for AUCs and thresholds.
    detections
        Booleans, e.g. a runner's ``alert`` column; needed when no threshold is given.
    name
        Free-form identifier.

    Examples
    --------
    >>> ts = pd.date_range("2024-01-01", periods=3, freq="min")
    >>> series = ScoredSeries(ts, labels=[0, 1, 0], scores=[0.1, 0.9, 0.2])
    >>> series.detections_at(0.5).tolist()
    [False, True, False]

    """

    timestamps: np.ndarray
    labels: np.ndarray
    scores: np.ndarray | None = None
    detections: np.ndarray | None = None
    name: str = ""

    def __post_init__(self):
        timestamps = pd.to_datetime(pd.Series(self.timestamps)).to_numpy("datetime64[ns]")
        n_points = len(timestamps)
        columns = {
            "timestamps": timestamps,
            "labels": _as_array(self.labels, bool),
            "scores": None if self.scores is None else _as_array(self.scores, float),
            "detections": None if self.detections is None else _as_array(self.detections, bool),
        }
        for column, values in columns.items():
            if values is not None and len(values) != n_points:
                raise ValueError(
                    f"{column} has {len(values)} values but there are {n_points} timestamps"
                )
            object.__setattr__(self, column, values)
        if n_points > 1 and (np.diff(timestamps) < np.timedelta64(0)).any():
            # A clock that stepped back (NAB has such a file): events and delays are about
            # time, so the points are taken in time order (stable).
            order = np.argsort(timestamps, kind="stable")
            for column, values in columns.items():
                if values is not None:
                    object.__setattr__(self, column, values[order])

    @classmethod
    def from_labeled(cls, series: LabeledSeries, scores=None, detections=None) -> ScoredSeries:
        """Align a detector's output with a :class:`~sim.labeled.LabeledSeries`.

        Examples
        --------
        >>> ts = pd.date_range("2024-01-01", periods=3, freq="min")
        >>> labeled = LabeledSeries(
        ...     "x", pd.DataFrame({"timestamp": ts, "value": [0.0, 5.0, 0.0]}), [(ts[1], ts[1])]
        ... )
        >>> ScoredSeries.from_labeled(labeled, scores=[0, 1, 0]).labels.tolist()
        [False, True, False]

        """
        return cls(
            timestamps=series.frame["timestamp"],
            labels=series.labels(),
            scores=scores,
            detections=detections,
            name=series.name,
        )

    def detections_at(self, threshold: float) -> np.ndarray:
        """Points whose score is at least ``threshold`` (NaN scores never are)."""
        if self.scores is None:
            raise ValueError(f"series {self.name!r} has no scores to threshold")
        with np.errstate(invalid="ignore"):
            return self.scores >= threshold


@dataclass(frozen=True)
class ClassificationReport:
    """Point-wise and event-wise metrics over a corpus; see the module docstring.

    ``always_healthy_accuracy`` is the fraction of label-0 points: the accuracy of a detector
    that never alerts, shown beside ``accuracy`` to expose the imbalance trap.
    """

    n_series: int
    n_points: int
    n_positive: int
    tn: int
    fp: int
    fn: int
    tp: int
    accuracy: float
    always_healthy_accuracy: float
    precision: float
    recall: float | None
    f1: float | None
    roc_auc: float | None
    pr_auc: float | None
    n_windows: int
    n_detected_windows: int
    n_alert_events: int
    n_false_alert_events: int
    event_precision: float
    event_recall: float | None
    event_f1: float | None
    days: float
    false_alerts_per_day: float | None
    mean_delay_seconds: float | None
    median_delay_seconds: float | None

    @property
    def confusion_matrix(self) -> np.ndarray:
        """``[[tn, fp], [fn, tp]]``, sklearn's layout."""
        return np.array([[self.tn, self.fp], [self.fn, self.tp]])

    def to_dict(self) -> dict:
        """Plain JSON-serialisable values, ``None`` where a metric is undefined."""
        return asdict(self)

    def format_table(self) -> str:
        """Text table: accuracy beside precision, recall and F1, then event figures.

        Examples
        --------
        >>> ts = pd.date_range("2024-01-01", periods=4, freq="h")
        >>> series = ScoredSeries(ts, labels=[0, 0, 0, 1], detections=[0, 0, 0, 0])
        >>> print(evaluate([series]).format_table())
        metric                     point    event
        precision                  0.000    0.000
        recall                     0.000    0.000
        F1                         0.000    0.000
        accuracy                   0.750        -
        always-healthy accuracy    0.750        -
        ROC-AUC                        -        -
        PR-AUC                         -        -
        confusion [[tn fp] [fn tp]]: [[3, 0], [1, 0]]
        1 series, 4 points (1 in windows), 0.17 days
        windows 1, detected 0; alert events 0, false 0 (0.00 per day)
        detection delay: mean -, median -
        Accuracy misleads on imbalanced data: never alerting scores 0.750 yet catches nothing.

        """

        def cell(value) -> str:
            return f"{value:8.3f}" if value is not None else f"{'-':>8}"

        def seconds(value) -> str:
            return "-" if value is None else f"{value:.0f} s"

        rows = [
            ("precision", self.precision, self.event_precision),
            ("recall", self.recall, self.event_recall),
            ("F1", self.f1, self.event_f1),
            ("accuracy", self.accuracy, None),
            ("always-healthy accuracy", self.always_healthy_accuracy, None),
            ("ROC-AUC", self.roc_auc, None),
            ("PR-AUC", self.pr_auc, None),
        ]
        per_day = self.false_alerts_per_day
        lines = [f"{'metric':<24}{'point':>8} {'event':>8}"]
        lines += [f"{name:<24}{cell(point)} {cell(event)}" for name, point, event in rows]
        lines += [
            f"confusion [[tn fp] [fn tp]]: {self.confusion_matrix.tolist()}",
            f"{self.n_series} series, {self.n_points} points ({self.n_positive} in windows), "
            f"{self.days:.2f} days",
            f"windows {self.n_windows}, detected {self.n_detected_windows}; "
            f"alert events {self.n_alert_events}, false {self.n_false_alert_events} "
            f"({'-' if per_day is None else f'{per_day:.2f}'} per day)",
            f"detection delay: mean {seconds(self.mean_delay_seconds)}, "
            f"median {seconds(self.median_delay_seconds)}",
            ACCURACY_NOTE.format(accuracy=self.always_healthy_accuracy),
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Corpus:
    """All series concatenated, with what event counting needs precomputed."""

    times: np.ndarray  # int64 nanoseconds
    labels: np.ndarray
    first: np.ndarray  # True at the first point of each series
    window_id: np.ndarray  # index of the window holding each point, -1 outside windows
    window_start: np.ndarray  # int64 nanoseconds of each window's first point
    days: float

    @classmethod
    def of(cls, series_list: Sequence[ScoredSeries]) -> _Corpus:
        if not series_list:
            raise ValueError("no series to evaluate")
        times = np.concatenate([s.timestamps for s in series_list]).astype(np.int64)
        labels = np.concatenate([s.labels for s in series_list])
        if not len(times):
            raise ValueError("the series hold no points")
        lengths = np.array([len(s.labels) for s in series_list])
        first = np.zeros(len(times), dtype=bool)
        first[(np.cumsum(lengths) - lengths)[lengths > 0]] = True

        previous_label = np.concatenate([[False], labels[:-1]]) & ~first
        window_starts = labels & ~previous_label
        window_id = np.where(labels, np.cumsum(window_starts) - 1, -1)
        return cls(
            times=times,
            labels=labels,
            first=first,
            window_id=window_id,
            window_start=times[window_starts],
            days=sum(_span_days(s.timestamps) for s in series_list),
        )

    @property
    def n_windows(self) -> int:
        return len(self.window_start)

    def events(self, detections: np.ndarray) -> _EventCounts:
        previous = np.concatenate([[False], detections[:-1]]) & ~self.first
        event_starts = detections & ~previous
        n_true_events = int((event_starts & self.labels).sum())
        hits = detections & self.labels
        detected, first_hit = np.unique(self.window_id[hits], return_index=True)
        delays = self.times[np.flatnonzero(hits)[first_hit]] - self.window_start[detected]
        return _EventCounts(
            n_windows=self.n_windows,
            n_detected_windows=detected.size,
            n_alert_events=int(event_starts.sum()),
            n_false_alert_events=int(event_starts.sum()) - n_true_events,
            delays_seconds=delays / 1e9,
        )


def _span_days(timestamps: np.ndarray) -> float:
    """Time covered by a series: first to last point plus one typical step."""
    if len(timestamps) < 2:
        return 0.0
    nanoseconds = timestamps.astype(np.int64)
    span = nanoseconds[-1] - nanoseconds[0] + np.median(np.diff(nanoseconds))
    return float(span) / NANOSECONDS_PER_DAY


@dataclass(frozen=True)
class _EventCounts:
    n_windows: int
    n_detected_windows: int
    n_alert_events: int
    n_false_alert_events: int
    delays_seconds: np.ndarray

    @property
    def precision(self) -> float:
        n_true = self.n_alert_events - self.n_false_alert_events
        return n_true / self.n_alert_events if self.n_alert_events else 0.0

    @property
    def recall(self) -> float | None:
        return self.n_detected_windows / self.n_windows if self.n_windows else None


def _f1(precision: float, recall: float | None) -> float | None:
    if recall is None:
        return None
    total = precision + recall
    return 2 * precision * recall / total if total else 0.0


def _optional(value) -> float | None:
    return None if value is None else float(value)


def _detections(series: ScoredSeries, threshold: float | None) -> np.ndarray:
    if threshold is not None:
        return series.detections_at(threshold)
    if series.detections is None:
        raise ValueError(f"series {series.name!r} has no detections; pass a threshold")
    return series.detections


def _ranking_scores(series_list: Sequence[ScoredSeries]) -> np.ndarray | None:
    if any(s.scores is None for s in series_list):
        return None
    scores = np.concatenate([s.scores for s in series_list])
    finite = np.isfinite(scores)
    if not finite.any():
        return None
    # NaN (warm-up) ranks below every real score, as it never triggers a detection.
    return np.where(finite, scores, scores[finite].min() - 1.0)


def evaluate(
    series_list: Sequence[ScoredSeries], threshold: float | None = None
) -> ClassificationReport:
    """Point-wise and event-wise metrics over a corpus of scored series.

    Parameters
    ----------
    series_list
        The corpus; see :class:`ScoredSeries`.
    threshold
        When given, detections are ``score >= threshold``; otherwise each series'
        ``detections`` are used.

    Examples
    --------
    Two windows of two points each; the detector fires in the second point of the first window
    and twice on healthy points:

    >>> ts = pd.date_range("2024-01-01", periods=8, freq="min")
    >>> series = ScoredSeries(
    ...     ts, labels=[0, 1, 1, 0, 0, 1, 1, 0], detections=[1, 0, 1, 0, 1, 0, 0, 0]
    ... )
    >>> report = evaluate([series])
    >>> report.precision, report.recall, report.event_recall, report.mean_delay_seconds
    (0.3333333333333333, 0.25, 0.5, 60.0)
    >>> report.n_alert_events, report.n_false_alert_events
    (3, 2)

    """
    corpus = _Corpus.of(series_list)
    detections = np.concatenate([_detections(s, threshold) for s in series_list])
    y_true = corpus.labels.astype(int)
    y_pred = detections.astype(int)
    n_positive = int(y_true.sum())
    has_positive = n_positive > 0
    has_both = 0 < n_positive < len(y_true)

    confusion = skmetrics.confusion_matrix(y_true, y_pred, labels=[0, 1])
    tn, fp, fn, tp = (int(count) for count in confusion.ravel())
    precision, recall, f1, _ = skmetrics.precision_recall_fscore_support(
        y_true, y_pred, average="binary", zero_division=0
    )
    scores = _ranking_scores(series_list)
    roc_auc = pr_auc = None
    if scores is not None and has_both:
        roc_auc = skmetrics.roc_auc_score(y_true, scores)
        pr_auc = skmetrics.average_precision_score(y_true, scores)

    events = corpus.events(detections)
    delays = events.delays_seconds
    return ClassificationReport(
        n_series=len(series_list),
        n_points=len(y_true),
        n_positive=n_positive,
        tn=tn,
        fp=fp,
        fn=fn,
        tp=tp,
        accuracy=float(skmetrics.accuracy_score(y_true, y_pred)),
        always_healthy_accuracy=1 - n_positive / len(y_true),
        precision=float(precision),
        recall=float(recall) if has_positive else None,
        f1=float(f1) if has_positive else None,
        roc_auc=_optional(roc_auc),
        pr_auc=_optional(pr_auc),
        n_windows=events.n_windows,
        n_detected_windows=events.n_detected_windows,
        n_alert_events=events.n_alert_events,
        n_false_alert_events=events.n_false_alert_events,
        event_precision=events.precision,
        event_recall=events.recall,
        event_f1=_f1(events.precision, events.recall),
        days=corpus.days,
        false_alerts_per_day=(events.n_false_alert_events / corpus.days if corpus.days else None),
        mean_delay_seconds=float(delays.mean()) if delays.size else None,
        median_delay_seconds=float(np.median(delays)) if delays.size else None,
    )


def metrics_at_thresholds(
    series_list: Sequence[ScoredSeries], thresholds: Sequence[float]
) -> pd.DataFrame:
    """The metrics :func:`evaluate` would give at each threshold, computed in one pass.

    Cheaper than calling :func:`evaluate` per threshold: point counts come from sorted scores,
    and no AUC is computed (it does not depend on the threshold). Undefined values are NaN.

    Returns
    -------
    pandas.DataFrame
        One row per threshold: ``threshold, tp, fp, fn, tn, precision, recall, f1, accuracy,
        detected_windows, alert_events, false_alert_events, event_precision, event_recall,
        event_f1, false_alerts_per_day``.

    Examples
    --------
    >>> ts = pd.date_range("2024-01-01", periods=4, freq="h")
    >>> series = ScoredSeries(ts, labels=[0, 1, 1, 0], scores=[0.1, 0.9, 0.4, 0.3])
    >>> curve = metrics_at_thresholds([series], [0.25, 0.5])
    >>> curve[["threshold", "precision", "recall", "event_recall"]].to_numpy().tolist()
    [[0.25, 0.6666666666666666, 1.0, 1.0], [0.5, 1.0, 0.5, 1.0]]

    """
    corpus = _Corpus.of(series_list)
    if any(s.scores is None for s in series_list):
        raise ValueError("every series needs scores to be thresholded")
    scores = np.concatenate([s.scores for s in series_list])
    positive_scores = np.sort(scores[corpus.labels & ~np.isnan(scores)])
    negative_scores = np.sort(scores[~corpus.labels & ~np.isnan(scores)])
    n_positive = int(corpus.labels.sum())
    n_negative = len(scores) - n_positive

    rows = []
    for threshold in np.asarray(thresholds, dtype=float):
        tp = len(positive_scores) - np.searchsorted(positive_scores, threshold, side="left")
        fp = len(negative_scores) - np.searchsorted(negative_scores, threshold, side="left")
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / n_positive if n_positive else None
        with np.errstate(invalid="ignore"):
            events = corpus.events(scores >= threshold)
        rows.append(
            {
                "threshold": float(threshold),
                "tp": int(tp),
                "fp": int(fp),
                "fn": int(n_positive - tp),
                "tn": int(n_negative - fp),
                "precision": precision,
                "recall": recall,
                "f1": _f1(precision, recall),
                "accuracy": (tp + n_negative - fp) / len(scores),
                "detected_windows": events.n_detected_windows,
                "alert_events": events.n_alert_events,
                "false_alert_events": events.n_false_alert_events,
                "event_precision": events.precision,
                "event_recall": events.recall,
                "event_f1": _f1(events.precision, events.recall),
                "false_alerts_per_day": (
                    events.n_false_alert_events / corpus.days if corpus.days else None
                ),
            }
        )
    return pd.DataFrame(rows, columns=CURVE_COLUMNS, dtype=float).astype(
        {column: int for column in CURVE_COUNT_COLUMNS}
    )
