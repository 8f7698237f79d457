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
    top_anomalies.csv        the highest-scoring onsets over all series
    metrics.json             when metrics are given
    state_snapshot.json/bin  when a detector state snapshot is given

Labels are optional: without them the page is about what paged (alerts, pages per day, plots);
with them it adds the scores (NAB, precision and recall, ROC and PR curves).

Files are overwritten; files from earlier runs that this run does not produce are left alone.

"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from sim import pages, plots
from sim.labeled import Window, window_labels

__all__ = ["write_report", "top_anomalies", "series_file_stem"]

TOP_ANOMALY_COLUMNS = ["series", "timestamp", "value", "anomaly_score", "alert", "expected"]

WindowLike = tuple[Any, Any]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1440px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2.2rem; }
h3 { font-family: ui-monospace, monospace; font-size: 0.95rem; margin: 1.4rem 0 0.4rem; }
.meta, .note { color: #555; }
.note { background: #f6f6f6; border-left: 3px solid #bbb; padding: 0.4rem 0.8rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1.2rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; }
.row { display: flex; flex-wrap: wrap; gap: 1rem; }
.row img { max-width: 32%; min-width: 320px; }
"""


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
    """The ``top_n`` highest-scoring points over all series, highest first.

    Only points with a positive score count: Lookout's score is zero except at onsets (and
    during warm-up), so zeros would only pad the table with the first rows of each series.
    Ties are broken by series name then timestamp, so the table is the same on every run.
    ``expected`` is NaN for series without a forecast.

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "timestamp": pd.date_range("2024-01-01", periods=4, freq="min"),
    ...     "value": [1.0, 2.0, 3.0, 4.0],
    ...     "anomaly_score": [0.0, 0.9, 0.5, np.nan],
    ...     "alert": [0, 1, 0, 0],
    ... })
    >>> top_anomalies({"a": frame}, top_n=3)[["series", "value", "anomaly_score"]]
      series  value  anomaly_score
    0      a    2.0            0.9
    1      a    3.0            0.5

    """
    parts = []
    for name, frame in results.items():
        best = frame[frame["anomaly_score"] > 0].nlargest(top_n, "anomaly_score")
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
class _Figure:
    """A rendered plot: where it was written, and its bytes for embedding."""

    title: str
    path: Path
    png: bytes


@dataclass
class _Labels:
    """Per-point labels, alerts and scores pooled over every labeled series."""

    y_true: np.ndarray
    alert: np.ndarray
    scores: np.ndarray
    n_series: int
    score_name: str


def _ranking_column(frames: Sequence[pd.DataFrame]) -> str:
    """The continuous score to rank points by for ROC and PR: the combined score before the
    onset rule when every frame has it (the anomaly score is zero between onsets, so its
    curves are a few steps), else the anomaly score."""
    if frames and all("combined_score" in frame for frame in frames):
        return "combined_score"
    return "anomaly_score"


def _pool_labels(
    results: Mapping[str, pd.DataFrame], windows: Mapping[str, Sequence[WindowLike]]
) -> _Labels:
    labeled = [name for name in results if name in windows]
    column = _ranking_column([results[name] for name in labeled])
    if not labeled:
        empty = np.array([], dtype=int)
        return _Labels(empty, empty.astype(bool), empty.astype(float), 0, column)
    y_true, alert, scores = [], [], []
    for name in labeled:
        frame = results[name]
        y_true.append(window_labels(frame["timestamp"], windows[name]).astype(int))
        alert.append(frame["alert"].fillna(0).to_numpy() > 0)
        scores.append(frame[column].to_numpy(dtype=float))
    return _Labels(
        np.concatenate(y_true), np.concatenate(alert), np.concatenate(scores), len(labeled), column
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


def _save(fig, path: Path, title: str) -> _Figure:
    png = plots.figure_png(fig)
    path.write_bytes(png)
    return _Figure(title, path, png)


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
        Replay result per series name: ``timestamp``, ``value``, ``anomaly_score`` (0..1) and
        ``alert`` (1 while an alert fires), optionally ``expected``, ``lower``, ``upper`` and
        ``combined_score`` (the continuous score that ROC and PR then rank by).
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

    page = _render_page(
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
) -> list[_Figure]:
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


def _forecast_figure(results, forecast_series, out: Path, notes) -> _Figure | None:
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


def _label_figures(results, windows, threshold, out: Path, notes) -> list[_Figure]:
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
    ranking = {
        "combined_score": "the combined score before the onset rule (continuous)",
        "anomaly_score": "the anomaly score (zero between onsets: the curves are a few steps)",
    }[labels.score_name]
    notes["labels"] = (
        f"Per point, pooled over {labels.n_series} labeled series "
        f"({len(labels.y_true)} points, {int(labels.y_true.sum())} inside incident windows). "
        f"The confusion matrix counts the alert column; ROC and PR rank the "
        f"{int(scored.sum())} scored points by {ranking}."
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
    score_label = labels.score_name.replace("_", " ")
    figures.append(
        _save(
            plots.plot_roc_curve(y_scored, s_scored, threshold, score_label=score_label),
            out / "roc_curve.png",
            "ROC curve",
        )
    )
    figures.append(
        _save(
            plots.plot_pr_curve(y_scored, s_scored, threshold, score_label=score_label),
            out / "pr_curve.png",
            "Precision-recall curve",
        )
    )
    return figures


# --- HTML -------------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        text = {True: "true", False: "false", None: "&mdash;"}[value]
        return f"<td>{text}</td>"
    if isinstance(value, int | np.integer):
        return f'<td class="num">{int(value)}</td>'
    if isinstance(value, float | np.floating):
        return f'<td class="num">{"NaN" if math.isnan(value) else f"{value:.4g}"}</td>'
    if isinstance(value, str):
        return f"<td>{_esc(value)}</td>"
    return f"<td><code>{_esc(_to_json(value).decode().replace(chr(10), ' '))}</code></td>"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>\n" for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}</table>"


def _mapping_table(mapping: Mapping[str, Any]) -> str:
    """Key/value rows, or a grid when every value is itself a mapping (e.g. metrics per series).

    A grid with more columns than rows is transposed, so that a few wide records (alert and
    score metrics, 20+ fields each) read down the page instead of across it.
    """
    if mapping and all(isinstance(v, Mapping) for v in mapping.values()):
        columns = list(dict.fromkeys(k for inner in mapping.values() for k in inner))
        if len(columns) > len(mapping):
            rows = ([c, *(inner.get(c) for inner in mapping.values())] for c in columns)
            return _table(["", *mapping.keys()], rows)
        rows = ([key, *(inner.get(c) for c in columns)] for key, inner in mapping.items())
        return _table(["", *columns], rows)
    if not mapping:
        return '<p class="note">None.</p>'
    return _table(["name", "value"], mapping.items())


def _metrics_html(metrics: Mapping[str, Any] | None) -> str:
    if not metrics:
        return '<p class="note">No metrics were given.</p>'
    scalars = {k: v for k, v in metrics.items() if not isinstance(v, Mapping | list)}
    parts = [_mapping_table(scalars)] if scalars else []
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            parts.append(f"<h3>{_esc(key)}</h3>\n{_mapping_table(value)}")
        elif isinstance(value, list):
            if value and all(isinstance(v, Mapping) for v in value):
                columns = list(dict.fromkeys(k for row in value for k in row))
                table = _table(columns, ([row.get(c) for c in columns] for row in value))
            else:
                table = _table([key], ([v] for v in value))
            parts.append(f"<h3>{_esc(key)}</h3>\n{table}")
    return "\n".join(parts)


def _img(figure: _Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    return (
        f'<img src="data:image/png;base64,{data}" alt="{_esc(figure.title)}" '
        f'title="{_esc(figure.path.name)}">'
    )


def _top_table(table: pd.DataFrame) -> str:
    if table.empty:
        return '<p class="note">No scored points.</p>'
    rows = (
        [
            rank,
            row.series,
            str(row.timestamp),
            row.value,
            row.anomaly_score,
            row.alert,
            None if pd.isna(row.expected) else row.expected,
        ]
        for rank, row in enumerate(table.itertuples(index=False), start=1)
    )
    return _table(["#", *TOP_ANOMALY_COLUMNS], rows)


# Alerts listed on the page; alerts.csv has them all.
MAX_LISTED_ALERTS = 200
# Keys of an evaluation's metrics that the page shows as tables of their own.
_SHOWN_KEYS = (
    "nab",
    "classification",
    "objective",
    "pages",
    "alerts",
    "files",
    "missing_files",
    "series",
    "labeled_series",
)


def _duration(value: pd.Timedelta) -> str:
    minutes = value / pd.Timedelta(minutes=1)
    if minutes < 120:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


def _stamp(value: Any) -> str:
    return "" if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S")


def _incident(value: Any) -> str:
    return {True: "incident", False: "false alert"}.get(value, "unlabeled")


def _pages_html(page_table: pd.DataFrame) -> str:
    rows = (
        [
            row.series,
            _stamp(row.first),
            _stamp(row.last),
            round(float(row.days), 2),
            int(row.alerts),
            None if pd.isna(row.pages_per_day) else round(float(row.pages_per_day), 2),
            round(float(row.hours_alerting), 2),
            "yes" if row.labeled else "no",
        ]
        for row in page_table.itertuples(index=False)
    )
    header = ["series", "from", "to", "days", "alerts", "alerts per day", "hours alerting"]
    return _table([*header, "labeled"], rows)


def _alerts_html(alerts: pd.DataFrame) -> str:
    if alerts.empty:
        return '<p class="note">No alert fired.</p>'
    shown = alerts.head(MAX_LISTED_ALERTS)
    rows = (
        [
            number,
            row.series,
            _stamp(row.start),
            _stamp(row.end),
            _duration(row.duration),
            row.peak_score,
            row.actual,
            None if pd.isna(row.expected) else row.expected,
            _incident(row.incident),
        ]
        for number, row in enumerate(shown.itertuples(index=False), start=1)
    )
    header = ["#", "series", "start", "end", "duration", "peak score", "actual", "expected"]
    table = _table([*header, "label"], rows)
    if len(alerts) > len(shown):
        table += f'<p class="note">First {len(shown)} of {len(alerts)}; all in alerts.csv.</p>'
    return table


def _run_html(metrics: Mapping[str, Any] | None) -> str:
    """The scores of an evaluation (NAB, alerts and thresholded scores against labels) as
    short tables; any other metrics as tables of their own. metrics.json has every field."""
    if not metrics:
        return ""
    parts = []
    nab = metrics.get("nab")
    if nab:
        rows = (
            [name, entry.get("score"), entry.get("threshold"), entry.get("mode")]
            for name, entry in nab.items()
        )
        parts += [
            "<h3>NAB score</h3>",
            '<p class="note">0 detects nothing, 100 detects every window at its start. In '
            "<em>optimized</em> mode the threshold is NAB's sweep over these labels: it scores "
            "the detector, it is not what pages.</p>",
            _table(["profile", "score", "threshold", "mode"], rows),
        ]
    classification = metrics.get("classification")
    if classification:
        columns = {
            "event_precision": "precision (alerts)",
            "event_recall": "recall (incidents)",
            "event_f1": "F1 (events)",
            "n_detected_windows": "incidents caught",
            "n_windows": "incidents",
            "false_alerts_per_day": "false alerts per day",
            "mean_delay_seconds": "mean delay (s)",
            "roc_auc": "ROC-AUC",
            "pr_auc": "PR-AUC",
        }
        rows = []
        for key, report in classification.items():
            if report is None:
                continue
            what = (
                "alerts (what paged)"
                if key == "alert"
                else f"anomaly_score >= {report['threshold']:.4g} ({report['threshold_source']})"
            )
            rows.append([what, *(report.get(column) for column in columns)])
        parts += [
            "<h3>Against the labels</h3>",
            '<p class="note">Event-wise: an alert is true when it starts inside an incident '
            "window; an incident is caught when an alert fires inside it. ROC-AUC and PR-AUC "
            "here rank points by the anomaly score. Point-wise counts, the confusion matrix and "
            "accuracy are in metrics.json.</p>",
            _table(["", *columns.values()], rows),
        ]
    objective = metrics.get("objective")
    if objective and objective.get("met") is False:
        parts.append(
            f'<p class="note">Objective {_esc(objective["name"])}: no threshold that alerts meets '
            f"it; the strictest one ({objective['threshold']:.4g}) is shown.</p>"
        )
    if metrics.get("missing_files"):
        parts.append(
            f'<p class="note">{len(metrics["missing_files"])} data files without results were '
            "left out (metrics.json lists them).</p>"
        )
    others = {k: v for k, v in metrics.items() if k not in _SHOWN_KEYS}
    if others:
        parts.append(_metrics_html(others))
    return "\n".join(parts)


def _render_page(
    *,
    title,
    results,
    n_labeled,
    threshold,
    threshold_note,
    metrics,
    alerts,
    page_table,
    alert_figures,
    label_figures,
    forecast_figure,
    series_figures,
    table,
    notes,
    written,
) -> str:
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    n_series = len(results)
    days = float(page_table["days"].sum()) if len(page_table) else 0.0
    if threshold is None:
        threshold_text = "not given"
    else:
        threshold_text = f"{threshold:g}" + (f" ({threshold_note})" if threshold_note else "")
    summary = (
        f"{len(alerts)} alert{'s' * (len(alerts) != 1)} in {n_series} series over "
        f"{days:.1f} series-days"
        + (f": {len(alerts) / days:.2f} per series per day." if days else ".")
    )
    if n_labeled and alerts["incident"].notna().any():
        false = int((alerts["incident"] == False).sum())  # noqa: E712 - None is unlabeled
        summary += f" {false} of them started outside every labeled incident."
    sections = [
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">Generated {generated} &middot; {n_series} series '
        f"({n_labeled} labeled)</p>",
        "<h2>What paged</h2>",
        f"<p>{_esc(summary)}</p>",
        f'<p class="note">Alerts open where the anomaly score reaches the paging threshold: '
        f"<strong>{_esc(threshold_text)}</strong>. It is the line on every score panel.</p>",
        "<h3>Alerts per series</h3>",
        _pages_html(page_table),
        "<h3>Alerts</h3>",
        _alerts_html(alerts),
        "<h2>Scores</h2>",
    ]
    if n_labeled:
        sections.append(_run_html(metrics))
    else:
        sections.append(
            '<p class="note">No labels: NAB scores, precision and recall need labeled incident '
            "windows (--windows, see docs/evaluation.md for the file format).</p>"
        )
        others = {k: v for k, v in (metrics or {}).items() if k not in _SHOWN_KEYS}
        if others:
            sections.append(_metrics_html(others))
    sections += ["<h3>Labels vs alerts</h3>", f'<p class="note">{_esc(notes["labels"])}</p>']
    if label_figures:
        sections.append('<div class="row">' + "".join(map(_img, label_figures)) + "</div>")
    sections.append("<h2>Forecast vs actual</h2>")
    if forecast_figure is None:
        sections.append(f'<p class="note">{_esc(notes["forecast"])}</p>')
    else:
        if "forecast" in notes:
            sections.append(f'<p class="note">{_esc(notes["forecast"])}</p>')
        sections.append(_img(forecast_figure))
    sections += [
        f"<h2>Top {len(table)} anomalies</h2>",
        '<p class="note">The highest anomaly scores (onsets); an onset below the paging '
        "threshold did not page.</p>",
        _top_table(table),
        "<h2>Series</h2>",
        f'<p class="note">{_esc(notes["series"])}</p>',
    ]
    for figure in series_figures:
        sections += [f"<h3>{_esc(figure.title)}</h3>", _img(figure)]
    if alert_figures:
        sections += [
            "<h2>Alert close-ups</h2>",
            f'<p class="note">{len(alert_figures)} of {len(alerts)} alerts, the highest peaks, '
            "in time order.</p>",
        ]
        for figure in alert_figures:
            sections += [f"<h3>{_esc(figure.title)}</h3>", _img(figure)]
    files = ["index.html", *written, *(f.path.name for f in label_figures)]
    if forecast_figure is not None:
        files.append(forecast_figure.path.name)
    files.append(f"series/ ({len(series_figures)} PNG files)")
    if alert_figures:
        files.append(f"alerts/ ({len(alert_figures)} PNG files)")
    sections += [
        "<h2>Files</h2>",
        "<ul>" + "".join(f"<li><code>{_esc(name)}</code></li>" for name in files) + "</ul>",
    ]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )
