"""The JSON exports SREs pull from their monitoring, read as metric series.

- **Prometheus** ``query_range`` (``/api/v1/query_range``, what Grafana's "Inspect > Data" and
  ``curl`` return)::

      {"status": "success", "data": {"resultType": "matrix", "result": [
          {"metric": {"__name__": "up", "job": "node"}, "values": [[1704067200, "1"], ...]}]}}

  A series is named by its ``__name__`` and keeps its other labels.
- **CloudWatch** ``aws cloudwatch get-metric-data`` output (newest point first)::

      {"MetricDataResults": [{"Id": "cpu", "Label": "CPUUtilization",
          "Timestamps": ["2024-01-01T00:10:00+00:00", ...], "Values": [12.5, ...]}]}

  A series is named by its ``Label`` (its ``Id`` if there is none) and labelled ``id`` by its
  ``Id`` (labels repeat between queries, ids do not). The dimensions a query asked for are
  not in the output; give them in the query's ``Label`` to see them in the series name.

A JSON array of such documents (pages of one export) is read as one export: the pages of a
series are joined. Each series becomes its own NAB-format input,
``<export path without .json>/<series file name>.csv``; its id, scoped to the export like a
long-format series (:mod:`stream.sources.csv_files`), is ``<export path without
.json>/<name>{labels}``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import orjson
import pandas as pd

from stream.point import epoch_seconds
from stream.sources.csv_files import (
    CsvFile,
    ReadOptions,
    RejectedRow,
    SourceError,
    parse_timestamp_column,
    series_name,
)

__all__ = [
    "ExportedSeries",
    "read_export",
    "series_from_get_metric_data",
    "series_from_query_range",
    "series_id",
]


class ExportedSeries(NamedTuple):
    """One series of an export: ``name``, ``labels``, and per point the time in epoch seconds
    (NaN where it is no time from 1970 to 9999) and the value (NaN where it is not a number)."""

    name: str
    labels: dict[str, str]
    timestamps: np.ndarray
    values: np.ndarray


def series_id(name: str, labels: Mapping[str, str]) -> str:
    """The series written as PromQL would select it, labels sorted.

    >>> series_id("up", {"job": "node", "instance": "a:9100"})
    'up{instance="a:9100",job="node"}'
    >>> series_id("", {}), series_id("cpu", {})
    ('{}', 'cpu')
    """
    if labels or not name:
        inner = ",".join(f'{key}="{labels[key]}"' for key in sorted(labels))
        return f"{name}{{{inner}}}"
    return name


def _floats(texts: Iterable[Any]) -> np.ndarray:
    """Numbers of a column of JSON numbers or numeric strings ("NaN", "+Inf" included); NaN
    where an entry is not a number."""
    return pd.to_numeric(pd.Series(list(texts), dtype=object), errors="coerce").to_numpy(float)


def series_from_query_range(document: Mapping) -> Iterator[ExportedSeries]:
    """The series of a Prometheus ``query_range`` response (``resultType`` matrix).

    Raises ``ValueError`` for an error response or another result type. Reusable for the live
    API: pass it the decoded JSON body.

    >>> doc = {"status": "success", "data": {"resultType": "matrix", "result": [
    ...     {"metric": {"__name__": "up", "job": "node"},
    ...      "values": [[1704067200, "1"], [1704067215.5, "NaN"]]}]}}
    >>> [(s.name, s.labels, s.timestamps.tolist(), s.values.tolist())
    ...  for s in series_from_query_range(doc)]
    [('up', {'job': 'node'}, [1704067200.0, 1704067215.5], [1.0, nan])]
    """
    if document.get("status") != "success":
        raise ValueError(
            f"Prometheus answered {document.get('status')!r}: "
            f"{document.get('errorType', '')} {document.get('error', '')}".strip()
        )
    data = document.get("data") or {}
    if data.get("resultType") != "matrix":
        raise ValueError(
            f"resultType {data.get('resultType')!r}: a range query (query_range) gives a "
            "'matrix'; an instant query has no history to replay"
        )
    for entry in data.get("result") or []:
        labels = {str(k): str(v) for k, v in (entry.get("metric") or {}).items()}
        name = labels.pop("__name__", "")
        pairs = entry.get("values") or []
        stamps = _floats(pair[0] if isinstance(pair, list) and pair else None for pair in pairs)
        values = _floats(
            pair[1] if isinstance(pair, list) and len(pair) > 1 else None for pair in pairs
        )
        yield ExportedSeries(name, labels, epoch_seconds(stamps), values)


def series_from_get_metric_data(document: Mapping) -> Iterator[ExportedSeries]:
    """The series of ``aws cloudwatch get-metric-data`` output, in the order written.

    >>> doc = {"MetricDataResults": [{"Id": "m1", "Label": "CPUUtilization",
    ...     "Timestamps": ["2024-01-01T00:05:00+00:00", "2024-01-01T00:00:00Z"],
    ...     "Values": [12.5, 10.0]}]}
    >>> [(s.name, s.labels, s.timestamps.tolist(), s.values.tolist())
    ...  for s in series_from_get_metric_data(doc)]
    [('CPUUtilization', {'id': 'm1'}, [1704067500.0, 1704067200.0], [12.5, 10.0])]
    """
    for entry in document.get("MetricDataResults") or []:
        identifier = str(entry.get("Id", ""))
        name = str(entry.get("Label") or identifier)
        stamps = pd.Series([str(t) for t in entry.get("Timestamps") or []], dtype=object)
        values = _floats(entry.get("Values") or [])
        if len(values) != len(stamps):
            raise ValueError(
                f"series {identifier!r} has {len(stamps)} timestamps but {len(values)} values"
            )
        yield ExportedSeries(name, {"id": identifier}, parse_timestamp_column(stamps), values)


def _series_of(document: Any) -> list[ExportedSeries]:
    """Every series of a decoded export (pages in an array joined series by series)."""
    pages = document if isinstance(document, list) else [document]
    joined: dict[str, list[ExportedSeries]] = {}
    for page in pages:
        if isinstance(page, dict) and "MetricDataResults" in page:
            found = series_from_get_metric_data(page)
        elif isinstance(page, dict) and "data" in page and "status" in page:
            found = series_from_query_range(page)
        else:
            raise ValueError(
                "JSON, but neither a Prometheus query_range response ({'status', 'data'}) nor "
                "CloudWatch get-metric-data output ({'MetricDataResults'})"
            )
        for series in found:
            joined.setdefault(series_id(series.name, series.labels), []).append(series)
    return [
        parts[0]._replace(
            timestamps=np.concatenate([p.timestamps for p in parts]),
            values=np.concatenate([p.values for p in parts]),
        )
        for parts in joined.values()
    ]


def _file_name(name: str, labels: Mapping[str, str]) -> str:
    """A file name for a series: its name and labels, what a file name cannot hold as ``_``.

    >>> _file_name("up", {"instance": "a:9100/x", "job": "node"})
    'up,instance=a:9100_x,job=node'
    """
    text = name + "".join(f",{key}={labels[key]}" for key in sorted(labels))
    return re.sub(r"[^\w.,=:@+-]", "_", text.lstrip(",")) or "series"


def _utc_text(seconds: np.ndarray) -> np.ndarray:
    """NAB's timestamp text (``2024-01-01 00:00:00``, UTC, fractions only where there are
    some), which ``lookout evaluate`` and NAB's label files compare with. Any time from 1970
    to 9999 (what :func:`~stream.point.epoch_seconds` lets through) has one; NaN has none.

    >>> _utc_text(np.array([1704067200.0, 1704067200.25, 253402300799.0, np.nan])).tolist()
    ['2024-01-01 00:00:00', '2024-01-01 00:00:00.250000', '9999-12-31 23:59:59', '']
    """
    texts = np.full(len(seconds), "", dtype=object)
    for i in np.flatnonzero(np.isfinite(seconds)).tolist():
        moment = dt.datetime.fromtimestamp(seconds.item(i), dt.UTC)
        texts[i] = moment.strftime("%Y-%m-%d %H:%M:%S.%f").removesuffix(".000000")
    return texts


def read_export(
    path: Path, relpath: str, encoding: str, options: ReadOptions | None = None
) -> list[CsvFile]:
    """The series of an export file, each as a NAB-format :class:`CsvFile` (see the module
    docstring); raises :class:`SourceError` when the file is no export it knows."""
    options = options if options is not None else ReadOptions()
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as file:
            raw = file.read()
        text = raw.decode(encoding).lstrip("\ufeff")
        series = _series_of(orjson.loads(text))
    except (OSError, EOFError, UnicodeError, orjson.JSONDecodeError) as exc:
        raise SourceError(f"{path}: cannot read as JSON: {exc}") from exc
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise SourceError(f"{path}: {exc}") from exc
    if not series:
        raise SourceError(f"{path}: the export holds no series")
    scope = series_name(relpath)
    files, used = [], set()
    for exported in series:
        name = series_id(exported.name, exported.labels)
        stem = _file_name(exported.name, exported.labels)
        while stem.lower() in used:  # two series that only differ in characters replaced
            stem += "~"
        used.add(stem.lower())
        files.append(
            _as_csv_file(
                exported,
                name if options.join_series else f"{scope}/{name}",
                relpath,
                f"{scope}/{stem}.csv",
            )
        )
    return files


def _as_csv_file(exported: ExportedSeries, ident: str, relpath: str, out_relpath: str) -> CsvFile:
    stamps, values = exported.timestamps, exported.values
    lines = np.arange(1, len(stamps) + 1)
    raw = _utc_text(stamps)
    reasons = np.full(len(stamps), "", dtype=object)
    reasons[~np.isfinite(values)] = "non_finite_value"
    reasons[np.isnan(stamps)] = "bad_timestamp"
    bad = reasons != ""
    rejected = [
        RejectedRow(relpath, int(line), f"{reason}", f"{ident}: {seconds},{value}")
        for line, reason, seconds, value in zip(
            lines[bad], reasons[bad], stamps[bad], values[bad], strict=True
        )
    ]
    good = ~bad
    return CsvFile(
        relpath=relpath,
        long_format=False,
        series=np.full(int(good.sum()), ident, dtype=object),
        raw_timestamps=raw[good],
        timestamps=stamps[good],
        values=values[good],
        lines=lines[good],
        rejected=rejected,
        out_relpath=out_relpath,
        labels=dict(exported.labels),
    )
