"""Warm start: each series' recent history, scored and learned before its first live point.

A new series cannot page until its detectors have learned
:attr:`~stream.runtime.pipeline.Pipeline.warm_up_points` points (250 by default: almost a day of
5-minute points). Its history in Prometheus has them already: :func:`score_history` feeds that
history, chunk by chunk in time order, through the same :class:`~stream.runtime.pipeline.Pipeline`
the live points go through, so the series' first live point is scored by a stack that knows it.

History never pages. Alerts the history opens are counted, not sent; an incident that started
in the history and is still open when the live points come is muted until it resolves (its
resolution is not sent either), and it is not recorded as firing in the stored state, so a
restart does not page for it. That is :class:`HistoryBoundary`, which the runner asks; it also
skips live points at or before the end of their series' history (the same points again, e.g. a
topic consumed from its beginning), counted as skipped rather than dead-lettered as out of
order.

Examples
--------
>>> from detectors import DetectorStack
>>> from stream.runtime.pipeline import Pipeline
>>> from stream.sources.prometheus_history import PromSeries
>>> history = [PromSeries({"__name__": "cpu", "job": "node"},
...                       60.0 * np.arange(400), np.sin(np.arange(400.0)))]
>>> pipeline = Pipeline(lambda: DetectorStack(grace_period=100))
>>> boundary, summary, last = score_history(pipeline, [history])
>>> summary.series, summary.points, pipeline.warming(['cpu{job="node"}'])
(1, 400, [False])
>>> last['cpu{job="node"}'].labels
{'job': 'node'}
>>> boundary.until
{'cpu{job="node"}': 23940.0}
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from stream.outputs.alerts import AlertEvent
from stream.point import format_timestamp
from stream.runtime.pipeline import Pipeline, Scored, ScoredBatch
from stream.sources.messages import MAX_SERIES_LENGTH, Columns
from stream.sources.prometheus_history import PromSeries, series_name

__all__ = ["HistoryBoundary", "HistorySummary", "score_history"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class HistorySummary:
    """What a warm start (or a backfill) read and scored."""

    series: int = 0  # series with at least one point scored
    points: int = 0  # points scored and learned
    non_finite: int = 0  # NaN or infinite samples left out
    unnamed: int = 0  # series without a usable name (a template label missing, too long)
    refused: int = 0  # points the pipeline refused (--max-series, out of order)
    alerts: int = 0  # incidents the history opened (never sent)
    warming: int = 0  # series still warming up after their history
    requests: int = 0  # range queries made
    seconds: float = 0.0

    def format(self) -> str:
        return (
            f"history   {self.points} points of {self.series} series in {self.requests} "
            f"queries, {self.seconds:.1f} s; {self.warming} series still warming up; "
            f"{self.alerts} incidents in the history (not sent); left out: {self.non_finite} "
            f"NaN/Inf samples, {self.refused} refused points, {self.unnamed} unnamed series"
        )


class HistoryBoundary:
    """Where each warmed series' history ends (``until``: series -> last history timestamp).

    >>> import numpy as np
    >>> boundary = HistoryBoundary({"cpu": 120.0})
    >>> times = np.array([60.0, 120.0, 180.0])
    >>> kept, skipped = boundary.trim([Columns("cpu", {}, times, np.ones(3), np.arange(3))])
    >>> [c.timestamps.tolist() for c in kept], skipped
    ([[180.0]], 2)
    """

    def __init__(self, until: Mapping[str, float] | None = None):
        self.until: dict[str, float] = dict(until or {})
        # Series whose live points may still repeat their history (none beyond it seen yet).
        self._overlapping = dict(self.until)

    def trim(self, columns: list[Columns]) -> tuple[list[Columns], int]:
        """The live points after their series' history, and how many were left out."""
        if not self._overlapping:
            return columns, 0
        before = sum(len(c.values) for c in columns)
        columns = [trimmed for c in columns if (trimmed := self._trim_columns(c)) is not None]
        return columns, before - sum(len(c.values) for c in columns)

    def _trim_columns(self, columns: Columns) -> Columns | None:
        end = self._overlapping.get(columns.series)
        if end is None:
            return columns
        keep = columns.timestamps > end
        if keep.all():
            del self._overlapping[columns.series]
            return columns
        if not keep.any():
            return None
        del self._overlapping[columns.series]
        return Columns(
            columns.series,
            columns.labels,
            columns.timestamps[keep],
            columns.values[keep],
            columns.indices[keep],
        )

    def began_in_history(self, event: AlertEvent) -> bool:
        """Whether ``event``'s incident started in its series' history (so it never pages)."""
        return event.start <= self.until.get(event.series, -math.inf)

    def forget(self, series: str) -> None:
        """``series`` got its state from elsewhere (the state store): its history is moot."""
        self.until.pop(series, None)
        self._overlapping.pop(series, None)


def score_history(
    pipeline: Pipeline,
    chunks: Iterable[list[PromSeries]],
    template: str = "",
    on_batch: Callable[[ScoredBatch], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[HistoryBoundary, HistorySummary, dict[str, Scored]]:
    """Score and learn ``chunks`` of history (lists of series, oldest chunk first) in
    ``pipeline``, the series named by :func:`~stream.sources.prometheus_history.series_name` with
    ``template``; ``on_batch`` sees every scored chunk.

    Returns where each series' history ends, a summary, and each series' last scored point
    (for its gauges). Alerts the history opened are muted in the pipeline (see the module).
    """
    started = clock()
    summary = HistorySummary()
    until: dict[str, float] = {}
    last: dict[str, Scored] = {}
    names: dict[tuple, str | None] = {}  # the name of each label set, made once
    for chunk in chunks:
        series: list[str] = []
        labels: list[Mapping[str, str]] = []
        parts_t, parts_v = [], []
        for item in chunk:
            summary.non_finite += item.non_finite
            key = tuple(sorted(item.labels.items()))
            if key not in names:
                names[key] = _name(item.labels, template, summary)
            name = names[key]
            if name is None or not len(item.values):
                continue
            own = {k: v for k, v in item.labels.items() if k != "__name__"}
            series.extend([name] * len(item.values))
            labels.extend([own] * len(item.values))
            parts_t.append(item.timestamps)
            parts_v.append(item.values)
        if not series:
            continue
        batch, refused = pipeline.push_arrays(
            series, np.concatenate(parts_t), np.concatenate(parts_v), labels
        )
        summary.refused += len(refused)
        summary.points += len(batch)
        summary.alerts += sum(1 for s in batch.transitions() if s.event.firing)
        latest = {name: index for index, name in enumerate(batch.series)}
        for name, index in latest.items():
            last[name] = batch.scored_at(index)
            until[name] = batch.timestamps.item(index)
        if on_batch is not None:
            on_batch(batch)
        log.info(
            "history: %d points of %d series scored up to %s",
            summary.points,
            len(until),
            format_timestamp(float(batch.timestamps.max())) if len(batch) else "-",
        )
    for name in until:
        pipeline.mute_open_alert(name)
    warming = pipeline.warming(list(until))
    summary.series = len(until)
    summary.warming = sum(1 for flag in warming if flag)
    summary.seconds = clock() - started
    return HistoryBoundary(until), summary, last


def _name(labels: Mapping[str, str], template: str, summary: HistorySummary) -> str | None:
    """The series' name, or None (counted, logged) when it cannot be a live series' key."""
    try:
        name = series_name(labels, template)
    except KeyError as exc:
        summary.unnamed += 1
        log.warning("history: series %s has no label %s for the series name", labels, exc)
        return None
    if not name or len(name) > MAX_SERIES_LENGTH:
        summary.unnamed += 1
        log.warning(
            "history: the name of series %s is empty or longer than %d characters, which no "
            "live point can have: give --history-series a shorter template",
            labels,
            MAX_SERIES_LENGTH,
        )
        return None
    return name
