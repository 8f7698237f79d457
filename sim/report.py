"""Postmortem report: what paged, PNG plots, tables and one self-contained HTML page.

:func:`write_report` takes the replay results of one or more series (what the detector scored and
when it alerted), the labeled incident windows if any, and the metrics computed elsewhere, and
writes into ``out_dir``::

    index.html               every plot embedded as a data URI, inline CSS, no external assets
    alerts.csv               every alert: series, start, end, duration, peak, actual vs expected
    pages.csv                alerts per day of every series
    alerts/<name>-<n>.png    a close-up of each alert (the highest-scoring ``max_alert_plots``)
    series/<name>.png        value, forecast band, windows and alerts; anomaly score below
    forecast_vs_actual.png   when some series carry an ``expected`` column
    confusion_matrix.png     \\
    roc_curve.png             > when labels cover both healthy and incident points
    pr_curve.png             /
    top_anomalies.csv        the highest-scoring onsets over all series (``onset_score``)
    metrics.json             when metrics are given
    state_snapshot.json/bin  when a detector state snapshot is given

Labels are optional: without them the page is about what paged (alerts, pages per day, plots);
with them it adds the scores (NAB, precision and recall, ROC and PR curves).

Files are overwritten; files from earlier runs that this run does not produce are left alone.

"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from sim import pages, plots
from sim.labeled import Window, window_labels
from sim.nab_scoring import onset_column
from sim.report_page import PageFigure, render_page

__all__ = ["write_report", "top_anomalies", "series_file_stem"]

TOP_ANOMALY_COLUMNS = ["series", "timestamp", "value", "anomaly_score", "alert", "expected"]

WindowLike = tuple[Any, Any]


def series_file_stem(name: str) -> str:
    """A file name stem for a series name: folders joined by ``__``, no extension.

    Examples
    --------
    >>> series_file_stem("realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv")
    'realAWSCloudwatch__ec2_cpu_utilization_53ea38'
    >>> series_file_stem("node:cpu{host=a b}")
    'node_cpu_host_a_b_'

    """
    stem = re.sub(r"\.csv$", "", name, flags=re.IGNORECASE)
    stem = re.sub(r"[\\/]+", "__", stem.strip("/\\"))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)
    return stem[:150] or "series"


def top_anomalies(results: Mapping[str, pd.DataFrame], top_n: int = 50) -> pd.DataFrame:
    """The ``top_n`` highest-scoring onsets over all series, highest first.

    An onset is a point whose ``onset_score`` is positive (:func:`~sim.nab_scoring.onset_column`:
    results without that column, another detector's, count every point with a positive
    ``anomaly_score``): the continuous score stays high through an incident and would fill the
    table with one incident's points. Ties are broken by series name then timestamp, so the
    table is the same on every run. ``expected`` is NaN for series without a forecast.

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "timestamp": pd.date_range("2024-01-01", periods=4, freq="min"),
    ...     "value": [1.0, 2.0, 3.0, 4.0],
    ...     "anomaly_score": [0.1, 0.9, 0.5, np.nan],
    ...     "onset_score": [0.0, 0.9, 0.5, np.nan],
    ...     "alert": [0, 1, 0, 0],
    ... })
    >>> top_anomalies({"a": frame}, top_n=3)[["series", "value", "anomaly_score"]]
      series  value  anomaly_score
    0      a    2.0            0.9
    1      a    3.0            0.5

    """
    parts = []
    for name, frame in results.items():
        onsets = frame[onset_column(frame)]
        best = frame[onsets > 0].assign(anomaly_score=onsets).nlargest(top_n, "anomaly_score")
        part = pd.DataFrame(
            {
                "series": name,
                "timestamp": pd.to_datetime(best["timestamp"]),
                "value": best["value"],
                "anomaly_score": best["anomaly_score"],
                "alert": best["alert"].fillna(0).astype(int) if "alert" in best else 0,
                "expected": best["expected"] if "expected" in best else np.nan,
            }
        )
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=TOP_ANOMALY_COLUMNS)
    table = pd.concat(parts, ignore_index=True)
    table = table.sort_values(
        ["anomaly_score", "series", "timestamp"], ascending=[False, True, True], kind="mergesort"
    )
    return table.head(top_n).reset_index(drop=True)[TOP_ANOMALY_COLUMNS]


@dataclass
class _Labels:
    """Per-point labels, alerts and scores pooled over every labeled series."""

    y_true: np.ndarray
    alert: np.ndarray
    scores: np.ndarray  # anomaly_score: continuous, what ROC and PR rank
    n_series: int


def _pool_labels(
    results: Mapping[str, pd.DataFrame], windows: Mapping[str, Sequence[WindowLike]]
) -> _Labels:
    labeled = [name for name in results if name in windows]
    if not labeled:
        empty = np.array([], dtype=int)
        return _Labels(empty, empty.astype(bool), empty.astype(float), 0)
    y_true, alert, scores = [], [], []
    for name in labeled:
        frame = results[name]
        y_true.append(window_labels(frame["timestamp"], windows[name]).astype(int))
        alert.append(frame["alert"].fillna(0).to_numpy() > 0)
        scores.append(frame["anomaly_score"].to_numpy(dtype=float))
    return _Labels(
        np.concatenate(y_true), np.concatenate(alert), np.concatenate(scores), len(labeled)
    )


def _windows_in_zone(windows: Sequence[WindowLike], timestamps: pd.Series) -> list[Window]:
    """Parse window bounds; naive bounds are read in the series' own timezone, if it has one."""
    tz = pd.DatetimeIndex(pd.to_datetime(timestamps)).tz
    parsed = []
    for start, end in windows:
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        if tz is not None:
            start = start.tz_localize(tz) if start.tzinfo is None else start
            end = end.tz_localize(tz) if end.tzinfo is None else end
        parsed.append((start, end))
    return parsed


def _save(fig, path: Path, title: str) -> PageFigure:
    png = plots.figure_png(fig)
    path.write_bytes(png)
    return PageFigure(title, path, png)


def _max_score(frame: pd.DataFrame) -> float:
    scores = frame["anomaly_score"].to_numpy(dtype=float)
    return float(np.nanmax(scores)) if np.isfinite(scores).any() else -math.inf


def _json_default(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _to_json(value: Any) -> bytes:
    # orjson writes NaN as null, which keeps the file valid JSON for other tools.
    options = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    return orjson.dumps(value, default=_json_default, option=options)


def write_report(
    results: Mapping[str, pd.DataFrame],
    out_dir: str | Path,
    windows: Mapping[str, Sequence[WindowLike]] | None = None,
    metrics: Mapping[str, Any] | None = None,
    threshold: float | None = None,
    state_snapshot: bytes | Mapping[str, Any] | None = None,
    top_n: int = 50,
    *,
    max_series: int = 50,
    max_alert_plots: int = 30,
    forecast_series: str | None = None,
    title: str = "Lookout anomaly report",
    threshold_note: str | None = None,
) -> Path:
    """Write plots, tables and a self-contained ``index.html`` for a replay into ``out_dir``.

    Parameters
    ----------
    results
        Replay result per series name: ``timestamp``, ``value``, ``anomaly_score`` (0..1,
        continuous: what ROC and PR rank) and ``alert`` (1 while an alert fires), optionally
        ``onset_score`` (the onsets, which ``top_anomalies.csv`` lists), ``expected``,
        ``lower`` and ``upper``.
    out_dir
        Created if missing.
    windows
        Labeled incident windows per series as ``(start, end)`` pairs. A series listed with no
        windows is labeled all healthy; a series missing from the mapping is unlabeled and left
        out of the confusion matrix, ROC and PR curves. Bounds may be strings (as in NAB's
        ``combined_windows.json``); naive bounds are read in the series' timezone.
    metrics
        JSON-able metrics, written to ``metrics.json``. The keys of
        :meth:`sim.evaluation.Evaluation.to_dict` (``nab``, ``classification``) become the
        page's score tables; other scalars and mappings become tables of their own.
    threshold
        The anomaly score from which alerts open (what pages), drawn on score panels and marked
        on ROC/PR curves.
    state_snapshot
        Detector state, saved as ``state_snapshot.json`` (mapping) or ``state_snapshot.bin``.
    top_n
        Rows in ``top_anomalies.csv`` and in the page's table.
    max_series
        Series plots to draw, most anomalous (highest max score) first.
    max_alert_plots
        Alert close-ups to draw, highest peak score first.
    forecast_series
        Series for ``forecast_vs_actual.png``. By default every series with a forecast, pooled
        after standardizing each by its own mean and std (raw units when there is only one).
    title
        Page title.
    threshold_note
        Where ``threshold`` comes from, shown beside it.

    Returns
    -------
    Path
        The ``index.html`` written.

    Examples
    --------
    >>> import tempfile
    >>> frame = pd.DataFrame({
    ...     "timestamp": pd.date_range("2024-01-01", periods=30, freq="5min"),
    ...     "value": np.r_[np.ones(20), np.full(10, 5.0)],
    ...     "anomaly_score": np.r_[np.full(20, 0.1), np.full(10, 0.9)],
    ...     "alert": np.r_[np.zeros(20), np.ones(10)].astype(int),
    ... })
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     index = write_report({"web/latency.csv": frame}, tmp, threshold=0.5, top_n=5)
    ...     sorted(p.relative_to(tmp).as_posix() for p in Path(tmp).rglob("*.*"))
    ['alerts.csv', 'alerts/web__latency-1.png', 'index.html', 'pages.csv', \
'series/web__latency.png', 'top_anomalies.csv']

    """
    out = Path(out_dir)
    series_dir = out / "series"
    series_dir.mkdir(parents=True, exist_ok=True)
    windows = {
        name: _windows_in_zone(spans, results[name]["timestamp"])
        for name, spans in (windows or {}).items()
        if name in results
    }
    notes: dict[str, str] = {}

    ranked = sorted(results, key=lambda name: (-_max_score(results[name]), name))
    stems = _distinct_stems(ranked)
    series_figures = []
    for name in ranked[:max_series]:
        fig = plots.plot_series(results[name], name, windows.get(name), threshold)
        series_figures.append(_save(fig, series_dir / f"{stems[name]}.png", name))
    if len(ranked) > max_series:
        notes["series"] = (
            f"Showing {max_series} of {len(ranked)} series, most anomalous first "
            "(by maximum anomaly score)."
        )
    else:
        notes["series"] = (
            f"All {len(ranked)} series, most anomalous first (by maximum anomaly score)."
        )

    alerts = pages.alert_table(results, windows)
    page_table = pages.pages_per_day(results, alerts, windows)
    alerts.to_csv(out / "alerts.csv", index=False)
    page_table.to_csv(out / "pages.csv", index=False)
    alert_figures = _alert_figures(results, alerts, windows, threshold, out, max_alert_plots, stems)

    forecast_figure = _forecast_figure(results, forecast_series, out, notes)
    label_figures = _label_figures(results, windows, threshold, out, notes)

    table = top_anomalies(results, top_n)
    table.to_csv(out / "top_anomalies.csv", index=False)

    written = ["alerts.csv", "pages.csv", "top_anomalies.csv"]
    if metrics is not None:
        (out / "metrics.json").write_bytes(_to_json(metrics))
        written.append("metrics.json")
    if isinstance(state_snapshot, bytes | bytearray):
        (out / "state_snapshot.bin").write_bytes(bytes(state_snapshot))
        written.append("state_snapshot.bin")
    elif state_snapshot is not None:
        (out / "state_snapshot.json").write_bytes(_to_json(state_snapshot))
        written.append("state_snapshot.json")

    page = render_page(
        title=title,
        results=results,
        n_labeled=sum(name in windows for name in results),
        threshold=threshold,
        threshold_note=threshold_note,
        metrics=metrics,
        alerts=alerts,
        page_table=page_table,
        alert_figures=alert_figures,
        label_figures=label_figures,
        forecast_figure=forecast_figure,
        series_figures=series_figures,
        table=table,
        notes=notes,
        written=written,
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _distinct_stems(names: Sequence[str]) -> dict[str, str]:
    """File name stems for series names, distinct even where two names map to one stem."""
    stems: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        stem = series_file_stem(name)
        candidate, n = stem, 1
        while candidate in used:
            n += 1
            candidate = f"{stem}-{n}"
        used.add(candidate)
        stems[name] = candidate
    return stems


# Rows shown either side of an alert in its close-up: at least this many, or 4 alert lengths.
ALERT_CONTEXT_ROWS = 60


def _alert_figures(
    results, alerts: pd.DataFrame, windows, threshold, out: Path, limit: int, stems
) -> list[PageFigure]:
    """Close-ups of the ``limit`` highest-peaking alerts, one PNG each, in time order."""
    if alerts.empty or limit <= 0:
        return []
    (out / "alerts").mkdir(exist_ok=True)
    chosen = alerts.sort_values("peak_score", ascending=False, kind="mergesort").head(limit)
    figures = []
    numbers: dict[str, int] = {}
    for _, alert in alerts.loc[sorted(chosen.index)].iterrows():
        frame = results[alert["series"]]
        times = pd.to_datetime(frame["timestamp"])
        first = int(np.searchsorted(times, alert["start"]))
        last = int(np.searchsorted(times, alert["end"]))
        pad = max(ALERT_CONTEXT_ROWS, 4 * (last - first))
        part = frame.iloc[max(first - pad, 0) : last + pad].reset_index(drop=True)
        title = (
            f"{alert['series']}: alert {alert['start']:%Y-%m-%d %H:%M:%S}, "
            f"peak {alert['peak_score']:.3f}"
        )
        fig = plots.plot_series(part, title, windows.get(alert["series"]), threshold, height_px=420)
        numbers[alert["series"]] = numbers.get(alert["series"], 0) + 1
        stem = f"{stems[alert['series']]}-{numbers[alert['series']]}"
        figures.append(_save(fig, out / "alerts" / f"{stem}.png", title))
    return figures


def _forecast_figure(results, forecast_series, out: Path, notes) -> PageFigure | None:
    if forecast_series is not None:
        names = [forecast_series]
    else:
        names = [
            name
            for name, frame in results.items()
            if "expected" in frame and frame["expected"].notna().any()
        ]
    frames = [results[name] for name in names if "expected" in results[name]]
    if not frames or not any(frame["expected"].notna().any() for frame in frames):
        notes["forecast"] = "Skipped: no series carries forecasts (an `expected` column)."
        return None
    if len(frames) == 1:
        scope, pooled = names[0], frames[0]
    else:
        # Series differ in scale by orders of magnitude (CPU % next to bytes/s); in raw units
        # the largest would hide the rest and dominate MAE/RMSE.
        scope = f"{len(frames)} series, each standardized by its mean and std"
        pooled = pd.concat(map(_standardized, frames), ignore_index=True)
        notes["forecast"] = (
            f"Pooled over {len(frames)} series. Each series' actual and expected values are "
            "standardized by that series' mean and standard deviation, so errors are in "
            "standard deviations."
        )
    alert = pooled["alert"].fillna(0).to_numpy() if "alert" in pooled else None
    fig = plots.plot_forecast_vs_actual(
        pooled["expected"].to_numpy(dtype=float),
        pooled["value"].to_numpy(dtype=float),
        alert=alert,
        scope=scope,
    )
    return _save(fig, out / "forecast_vs_actual.png", "Forecast vs actual")


def _standardized(frame: pd.DataFrame) -> pd.DataFrame:
    mean, std = frame["value"].mean(), frame["value"].std()
    std = std if std > 0 else 1.0
    scaled = frame.copy()
    scaled["value"] = (frame["value"] - mean) / std
    scaled["expected"] = (frame["expected"] - mean) / std
    return scaled


def _label_figures(results, windows, threshold, out: Path, notes) -> list[PageFigure]:
    labels = _pool_labels(results, windows)
    classes = np.unique(labels.y_true)
    if labels.n_series == 0:
        notes["labels"] = (
            "Skipped confusion matrix, ROC and PR curves: no series has labeled windows."
        )
        return []
    if len(classes) < 2:
        only = "incident" if classes[0] == 1 else "healthy"
        notes["labels"] = (
            f"Skipped confusion matrix, ROC and PR curves: every labeled point is {only}, "
            "so there is only one class."
        )
        return []
    scored = np.isfinite(labels.scores)
    notes["labels"] = (
        f"Per point, pooled over {labels.n_series} labeled series "
        f"({len(labels.y_true)} points, {int(labels.y_true.sum())} inside incident windows). "
        f"The confusion matrix counts the alert column; ROC and PR rank the "
        f"{int(scored.sum())} scored points by their anomaly score (continuous)."
    )
    figures = [
        _save(
            plots.plot_confusion_matrix(labels.y_true, labels.alert.astype(int)),
            out / "confusion_matrix.png",
            "Confusion matrix",
        )
    ]
    y_scored, s_scored = labels.y_true[scored], labels.scores[scored]
    if len(np.unique(y_scored)) < 2:
        notes["labels"] += " ROC and PR skipped: the scored points hold only one class."
        return figures
    figures.append(
        _save(
            plots.plot_roc_curve(y_scored, s_scored, threshold),
            out / "roc_curve.png",
            "ROC curve",
        )
    )
    figures.append(
        _save(
            plots.plot_pr_curve(y_scored, s_scored, threshold),
            out / "pr_curve.png",
            "Precision-recall curve",
        )
    )
    return figures
