"""What paged: the alerts in replay results, and how often each series pages.

Needs no labels. An alert is a run of rows whose ``alert`` column is set (what the alert policy
of ``lookout replay`` paged); :func:`alert_table` lists them with their start, end, duration,
peak score and the actual value beside the expected one at that peak, and
:func:`pages_per_day` counts them per series over the time each series covers. With labelled
windows, each alert also says whether it started inside an incident.

Examples
--------
>>> frame = pd.DataFrame({
...     "timestamp": pd.date_range("2024-01-01", periods=6, freq="h"),
...     "value": [1.0, 1.0, 9.0, 7.0, 1.0, 1.0],
...     "expected": [1.0, 1.0, 1.5, 2.0, 1.0, 1.0],
...     "anomaly_score": [0.0, 0.0, 0.8, 0.3, 0.0, 0.0],
...     "alert": [0, 0, 1, 1, 0, 0],
... })
>>> alerts = alert_table({"web/latency.csv": frame})
>>> alerts[["duration", "peak_score", "actual", "expected"]]
         duration  peak_score  actual  expected
0 0 days 02:00:00         0.8     9.0       1.5
>>> pages_per_day({"web/latency.csv": frame}, alerts)[["alerts", "days", "pages_per_day"]]
   alerts  days  pages_per_day
0       1  0.25            4.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.classification import _span_days

__all__ = ["ALERT_COLUMNS", "PAGE_COLUMNS", "alert_runs", "alert_table", "pages_per_day"]

ALERT_COLUMNS = [
    "series",
    "start",
    "end",
    "duration",
    "peak_score",
    "peak_at",
    "actual",
    "expected",
    "incident",
]
PAGE_COLUMNS = [
    "series",
    "first",
    "last",
    "days",
    "points",
    "alerts",
    "pages_per_day",
    "hours_alerting",
    "labeled",
]


def _run_bounds(alert: pd.Series) -> list[tuple[int, int]]:
    """``(first row, first quiet row after it)`` of every run of set ``alert`` rows."""
    firing = alert.fillna(0).to_numpy() > 0
    padded = np.concatenate(([False], firing, [False])).astype(np.int8)
    edges = np.diff(padded)
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _step(times: pd.DatetimeIndex) -> pd.Timedelta:
    step = times.to_series().diff().median() if len(times) > 1 else pd.NaT
    if pd.isna(step) or step <= pd.Timedelta(0):
        return pd.Timedelta(seconds=1)  # no sampling step to go by; keep the period non-empty
    return step


def alert_runs(timestamps: pd.Series, alert: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Contiguous periods where ``alert`` is set, as ``(start, end)`` pairs.

    A period ends at the timestamp of the first quiet row after it, so an alert that fires on a
    single sample still covers one sampling step. A period still open at the last row is extended
    by the median step (one second when there is no step, as with a single row).

    Examples
    --------
    >>> ts = pd.Series(pd.date_range("2024-01-01", periods=6, freq="min"))
    >>> runs = alert_runs(ts, pd.Series([0, 1, 1, 0, 0, 1]))
    >>> [(str(a.time()), str(b.time())) for a, b in runs]
    [('00:01:00', '00:03:00'), ('00:05:00', '00:06:00')]

    """
    times = pd.DatetimeIndex(timestamps)
    runs = []
    for start, stop in _run_bounds(alert):
        end = times[stop] if stop < len(times) else times[-1] + _step(times)
        runs.append((times[start], end))
    return runs


def _peak_row(frame: pd.DataFrame, start: int, stop: int) -> int:
    """The row of a run with the highest anomaly score (the first of equals; the onset when
    none is scored)."""
    scores = frame["anomaly_score"].iloc[start:stop].to_numpy(dtype=float)
    return start if not np.isfinite(scores).any() else start + int(np.nanargmax(scores))


def _starts_inside(start, windows: Sequence[tuple[Any, Any]]) -> bool:
    """Whether an alert starts inside a window (ends included), as the event-wise metrics of
    :mod:`sim.classification` count a true alert; naive times are read as UTC, as
    :func:`sim.nab_corpus.labels_from_windows` reads them."""
    at = pd.Timestamp(start).value
    return any(
        pd.Timestamp(first).value <= at <= pd.Timestamp(last).value for first, last in windows
    )


def alert_table(
    results: Mapping[str, pd.DataFrame], windows: Mapping[str, Sequence] | None = None
) -> pd.DataFrame:
    """Every alert of every series, in series then time order (``ALERT_COLUMNS``).

    ``start`` and ``end`` are as in :func:`alert_runs`; ``peak_score`` is the highest
    ``anomaly_score`` of the run, at ``peak_at``, where ``actual`` and ``expected`` are read.
    ``incident`` is True when the alert starts inside a labelled window of its series (a true
    alert, as the event-wise metrics count it), False when not, None for an unlabeled series.
    Results without an ``alert`` column have no alerts.
    """
    rows = []
    for name, frame in results.items():
        if "alert" not in frame:
            continue
        times = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"]))
        spans = None if windows is None else windows.get(name)
        for (start, end), (first, stop) in zip(
            alert_runs(times, frame["alert"]), _run_bounds(frame["alert"]), strict=True
        ):
            peak = _peak_row(frame, first, stop)
            expected = frame["expected"].iloc[peak] if "expected" in frame else np.nan
            rows.append(
                {
                    "series": name,
                    "start": start,
                    "end": end,
                    "duration": end - start,
                    "peak_score": float(frame["anomaly_score"].iloc[first:stop].max()),
                    "peak_at": times[peak],
                    "actual": float(frame["value"].iloc[peak]),
                    "expected": float(expected),
                    "incident": None if spans is None else _starts_inside(start, spans),
                }
            )
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


def pages_per_day(
    results: Mapping[str, pd.DataFrame],
    alerts: pd.DataFrame,
    windows: Mapping[str, Sequence] | None = None,
) -> pd.DataFrame:
    """Per series: the time covered, its alerts and alerts per day, most paging first.

    ``days`` runs from the first to the last point plus one typical step (as the false alerts
    per day of :mod:`sim.classification`); ``hours_alerting`` adds up the alerts' durations.
    """
    counts = alerts.groupby("series")["start"].count() if len(alerts) else pd.Series(dtype=int)
    alerting = (
        alerts.groupby("series")["duration"].sum() if len(alerts) else pd.Series(dtype=object)
    )
    rows = []
    for name, frame in results.items():
        times = pd.to_datetime(frame["timestamp"])
        days = _span_days(times.to_numpy(dtype="datetime64[ns]"))
        n_alerts = int(counts.get(name, 0))
        rows.append(
            {
                "series": name,
                "first": times.min(),
                "last": times.max(),
                "days": days,
                "points": len(frame),
                "alerts": n_alerts,
                "pages_per_day": n_alerts / days if days else np.nan,
                "hours_alerting": alerting.get(name, pd.Timedelta(0)) / pd.Timedelta(hours=1),
                "labeled": windows is not None and name in windows,
            }
        )
    table = pd.DataFrame(rows, columns=PAGE_COLUMNS)
    return table.sort_values(
        ["pages_per_day", "series"], ascending=[False, True], kind="mergesort"
    ).reset_index(drop=True)
