"""What an alert column did to the person on call, per series and pooled over a corpus.

A *page* is a contiguous run of alerting samples (one alert event); it is *false* when it opens
outside every label window (see :mod:`sim.classification` for why "opens"). A window is
*detected* when an alerting sample falls inside it; its delay is counted from its first sample to
that sample, in samples and in seconds. False pages are counted per series-week: pages that
opened outside windows divided by the series' span in weeks, summed over series.

How long the alert lasts, per detected window (the incident state of issue 15): its *coverage*
(the share of the incident's samples that are alerting: the window's, less the ``label_steps``
samples at its end that the labels add after the incident), its *alerts* (the pages that are
alerting somewhere in it: one incident, one alert) and its *resolve delay* (from the incident's
end to the first quiet sample after the last of those pages; negative: it resolved before the
incident ended; unknown while it still fires at the series' end). The incident's end is the
window's, less ``label_steps`` sampling intervals where the labels add them (the fleet's windows
end 2 steps after their incident: :data:`sim.fleet.LABEL_STEPS`). The target
(:func:`resolve_target`) is ``max(10 minutes, 2 samples)`` after the incident's end.

Examples
--------
>>> stamps = pd.date_range("2026-01-05", periods=10, freq="min")
>>> alert = np.array([0, 1, 1, 0, 0, 0, 1, 1, 0, 0])
>>> record = series_paging(stamps, alert, [(stamps[5], stamps[8])])
>>> record.pages, record.false_pages, record.delays_samples, record.delays_seconds
(2, 1, [1], [60.0])
>>> summary = summarize([record])
>>> summary["event_recall"], summary["median_delay_samples"], summary["point_recall"]
(1.0, 1.0, 0.5)
>>> record.coverages, record.alerts_in_windows, record.resolve_delays_seconds
([0.5], [1], [0.0])
>>> summary["median_coverage"], summary["alerts_per_detected"], summary["resolved_in_target"]
(0.5, 1.0, 1.0)
>>> summarize([series_paging(stamps, [0, 0, 0, 0, 0, 1, 0, 0, 0, 0], [(stamps[5], stamps[8])])])[
...     "resolved_early"]  # resolved while the incident went on: not in target either
1.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.labeled import Window

__all__ = [
    "RESOLVE_TARGET",
    "TARGETS",
    "SeriesPaging",
    "resolve_target",
    "series_paging",
    "summarize",
]

WEEK_NS = 7 * 86400 * 10**9
#: An alert should resolve within max(RESOLVE_TARGET seconds, RESOLVE_TARGET_SAMPLES samples)
#: after its incident ends.
RESOLVE_TARGET, RESOLVE_TARGET_SAMPLES = 600.0, 2
#: Issue 15's targets on the incident fleet: median coverage, alerts per detected incident, and
#: the share of detected incidents resolved within the target (all of them).
TARGETS = {"median_coverage": 0.8, "alerts_per_detected": 1.2, "resolved_in_target": 1.0}


def resolve_target(step: float) -> float:
    """Seconds after an incident's end within which its alert should resolve.

    >>> resolve_target(15.0), resolve_target(3600.0)
    (600.0, 7200.0)
    """
    return max(RESOLVE_TARGET, RESOLVE_TARGET_SAMPLES * step)


@dataclasses.dataclass(frozen=True)
class SeriesPaging:
    """Counts of one series' alert column against its windows."""

    weeks: float
    pages: int
    false_pages: int
    windows: int
    detected: int
    delays_samples: list[int]
    delays_seconds: list[float]
    true_positives: int  # alerting samples inside windows
    alerting: int  # alerting samples
    labelled: int  # samples inside windows
    coverages: list[float] = dataclasses.field(default_factory=list)  # per detected window
    alerts_in_windows: list[int] = dataclasses.field(default_factory=list)  # per detected window
    resolve_delays_seconds: list[float] = dataclasses.field(default_factory=list)  # known ones
    resolve_targets: list[float] = dataclasses.field(default_factory=list)  # their targets


def series_paging(
    timestamps, alert, windows: Sequence[Window], label_steps: int = 0
) -> SeriesPaging:
    """Pages, false pages, detected windows and delays of one series' 0/1 ``alert`` column;
    ``label_steps``: the windows end that many sampling intervals after their incident."""
    stamps = pd.DatetimeIndex(timestamps).as_unit("ns").asi8
    alert = np.asarray(alert).astype(bool)
    opens = alert & ~np.r_[False, alert[:-1]]
    run = np.cumsum(opens)  # the page a sample belongs to (while alerting)
    inside = np.zeros(len(stamps), dtype=bool)
    delays_samples, delays_seconds = [], []
    coverages, alerts_in_windows, resolve_delays, targets = [], [], [], []
    step = float(np.median(np.diff(stamps))) / 1e9 if len(stamps) > 1 else 0.0
    detected = 0
    for start, end in windows:
        lo = np.searchsorted(stamps, pd.Timestamp(start).value, side="left")
        hi = np.searchsorted(stamps, pd.Timestamp(end).value, side="right")
        inside[lo:hi] = True
        hits = np.flatnonzero(alert[lo:hi])
        if hi > lo and len(hits):
            detected += 1
            delays_samples.append(int(hits[0]))
            delays_seconds.append(float(stamps[lo + hits[0]] - stamps[lo]) / 1e9)
            # the incident's own samples: the window less the steps the labels add after it
            last = np.searchsorted(
                stamps, pd.Timestamp(end).value - int(label_steps * step * 1e9), side="right"
            )
            last = last if last > lo else hi
            coverages.append(float(np.count_nonzero(alert[lo:last]) / (last - lo)))
            alerts_in_windows.append(len(np.unique(run[lo:hi][alert[lo:hi]])))
            quiet = np.flatnonzero(~alert[lo + hits[-1] :])
            if len(quiet):  # the last page of the window resolved at this sample
                resolved = stamps[lo + hits[-1] + quiet[0]]
                ended = pd.Timestamp(end).value / 1e9 - label_steps * step
                resolve_delays.append(float(resolved / 1e9 - ended))
                targets.append(resolve_target(step))
    span = (stamps[-1] - stamps[0]) / WEEK_NS if len(stamps) > 1 else 0.0
    return SeriesPaging(
        weeks=float(span),
        pages=int(opens.sum()),
        false_pages=int((opens & ~inside).sum()),
        windows=len(windows),
        detected=detected,
        delays_samples=delays_samples,
        delays_seconds=delays_seconds,
        true_positives=int((alert & inside).sum()),
        alerting=int(alert.sum()),
        labelled=int(inside.sum()),
        coverages=coverages,
        alerts_in_windows=alerts_in_windows,
        resolve_delays_seconds=resolve_delays,
        resolve_targets=targets,
    )


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def summarize(records: Sequence[SeriesPaging]) -> dict[str, float | int | None]:
    """Pooled figures: point-wise precision, recall and F1 of the alerting samples, event
    recall (detected windows / windows), page precision (true pages / pages), median delay in
    samples and minutes, false pages per series-week; how long alerts last on detected windows:
    median coverage, alerts per detected window, median resolve delay in minutes, the share of
    known resolve delays within their target (after the window's end, not before it) and the
    share resolved before the window's end;
    ``None`` where undefined."""
    alerting = sum(r.alerting for r in records)
    true_positives = sum(r.true_positives for r in records)
    labelled = sum(r.labelled for r in records)
    precision = _ratio(true_positives, alerting) if alerting else 0.0
    recall = _ratio(true_positives, labelled)
    f1 = (
        None
        if recall is None
        else (2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    )
    pages = sum(r.pages for r in records)
    false_pages = sum(r.false_pages for r in records)
    delays_samples = [d for r in records for d in r.delays_samples]
    delays_seconds = [d for r in records for d in r.delays_seconds]
    weeks = sum(r.weeks for r in records)
    coverages = [c for r in records for c in r.coverages]
    alerts = [n for r in records for n in r.alerts_in_windows]
    resolve_delays = np.array([d for r in records for d in r.resolve_delays_seconds])
    targets = np.array([d for r in records for d in r.resolve_targets])
    return {
        "point_precision": precision,
        "point_recall": recall,
        "point_f1": f1,
        "event_recall": _ratio(sum(r.detected for r in records), sum(r.windows for r in records)),
        "page_precision": _ratio(pages - false_pages, pages),
        "median_delay_samples": float(np.median(delays_samples)) if delays_samples else None,
        "median_delay_minutes": float(np.median(delays_seconds)) / 60 if delays_seconds else None,
        "false_pages_per_series_week": _ratio(false_pages, weeks),
        "median_coverage": float(np.median(coverages)) if coverages else None,
        "alerts_per_detected": _ratio(sum(alerts), len(alerts)),
        "median_resolve_delay_minutes": (
            float(np.median(resolve_delays)) / 60 if len(resolve_delays) else None
        ),
        "resolved_in_target": (
            float(np.mean((resolve_delays >= 0) & (resolve_delays <= targets)))
            if len(resolve_delays)
            else None
        ),
        "resolved_early": float(np.mean(resolve_delays < 0)) if len(resolve_delays) else None,
        "windows": sum(r.windows for r in records),
        "pages": pages,
    }
