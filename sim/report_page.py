"""The report's HTML page: headings and tables a person reads, every plot embedded.

:func:`render_page` lays out what :func:`sim.report.write_report` computed: what paged (the
paging threshold, alerts per series per day, the alerts), the scores against labels when there
are some (short tables; every field is in ``metrics.json``), the label plots, forecast vs
actual, the top anomalies, the series and the alert close-ups. Plots are embedded as data URIs
and the CSS is inline, so the page references nothing outside itself.

"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

__all__ = ["PageFigure", "render_page"]

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


@dataclass
class PageFigure:
    """A rendered plot: where it was written, and its bytes for embedding."""

    title: str
    path: Path
    png: bytes


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
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    text = orjson.dumps(value, default=str, option=options).decode()
    return f"<td><code>{_esc(text)}</code></td>"


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


def _img(figure: PageFigure) -> str:
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
    return _table(["#", *table.columns], rows)


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


def render_page(
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
