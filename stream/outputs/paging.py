"""From the detectors' incidents to pages: the one place policy and the alert budget apply.

The detector stack opens an incident at an onset and resolves it (:mod:`detectors.alerting`).
:class:`Pager` follows every open incident of every series, point by point, and decides whether
and when it pages:

- it pages at the first point of the incident where the series' policy
  (:class:`~stream.outputs.policy.Decision`: direction, minimum deviation from the value expected
  before the incident began, threshold, mute windows) and the fleet budget
  (:class:`~stream.outputs.alert_budget.AlertBudget`, pages only) let it: an incident that opens
  during a deploy window pages when the window ends if it is still going on;
- a paged incident sends one ``resolved`` event when the detector resolves it, describing the
  incident as a whole (start, end, peak, the detectors that agreed during it) and why it
  resolved (``resolve_reason``: ``recovered`` or ``accepted new level``);
- an incident that ends without paging is counted in :attr:`Pager.held_back` by the reason of
  its last point (``muted``, ``direction``, ...): it is never silently lost.

Both ``lookout replay`` and ``lookout run`` score through
:class:`~stream.runtime.pipeline.Pipeline`,
which passes every scored batch through its pager. The pager's view of a series (the open
incident, paged or not) is part of the series' state (:meth:`Pager.state`), so a restart keeps
it.

Examples
--------
>>> from stream.outputs.policy import Policy
>>> pager = Pager(Policy.from_config([{"matchers": ['series="cpu"'], "direction": "above"}]))
>>> pager.policy.decide("cpu").direction
'above'
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from detectors.bank import OPENED, RESOLVED, BankResults
from detectors.parts.alert import REASONS
from stream.outputs.alert_budget import AlertBudget
from stream.outputs.alerts import AlertEvent, LinkTemplates, alert_id
from stream.outputs.policy import HELD_BACK_REASONS, Decision, Policy

__all__ = ["Incident", "Pager"]

_NO_LABELS: Mapping[str, str] = {}
#: Why an incident never pages: it opened in a warm start's history (see :meth:`Pager.mute`).
HISTORY = "history"


@dataclasses.dataclass
class Incident:
    """What the pager knows of a series' open incident."""

    start: float
    expected: float  # at the onset: what the incident is measured against
    lower: float
    upper: float
    labels: Mapping[str, str]
    decision: Decision
    peak_value: float = math.nan
    peak_value_at: float = math.nan
    peak_score: float = -math.inf
    peak_at: float = math.nan
    detectors: int = 0  # bits of the bank's detector names that agreed at some point
    held_back: str = ""  # why it has not paged yet
    page: AlertEvent | None = None  # the firing event, once paged

    def observe(self, at: float, value: float, score: float, agreeing: int) -> None:
        if score > self.peak_score:
            self.peak_score, self.peak_at = score, at
        reference = self.expected if self.expected == self.expected else self.peak_value
        if (
            self.peak_value != self.peak_value
            or reference != reference
            or abs(value - reference) > abs(self.peak_value - reference)
        ):
            self.peak_value, self.peak_value_at = value, at
        self.detectors |= agreeing


class Pager:
    """Turns the detectors' incidents into pages under a policy and a budget (module docs).

    Parameters
    ----------
    policy
        The alerting policy per series (default: every incident pages, with the built-in
        defaults for common metric names).
    links
        Templates of ``runbook_url`` and ``dashboard_url``.
    budget
        The fleet alert budget, or None (off).
    base_threshold
        The detector's threshold, reported by :attr:`threshold` when there is no budget.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        links: LinkTemplates | None = None,
        budget: AlertBudget | None = None,
        base_threshold: float = math.nan,
    ):
        self.policy = policy if policy is not None else Policy()
        self.links = links if links is not None else LinkTemplates()
        self.budget = budget
        self.base_threshold = budget.base_threshold if budget is not None else base_threshold
        self.incidents: dict[str, Incident] = {}
        #: incidents that ended without paging, by reason
        self.held_back: collections.Counter[str] = collections.Counter(
            dict.fromkeys(HELD_BACK_REASONS, 0)
        )
        self.pages = 0  # firing events sent

    def settings(self) -> str:
        """Text of everything that decides the pages (for a replay's fingerprint)."""
        budget = self.budget
        budget_settings = (
            None
            if budget is None
            else (budget.pages_per_week, budget.base_threshold, budget.score_decades,
                  budget.window, budget.gain, budget.max_raise)
        )  # fmt: skip
        return repr((self.policy.rules, self.policy.default, self.links, budget_settings))

    @property
    def threshold(self) -> float:
        """The anomaly score an incident must reach to page now (before per-rule thresholds)."""
        return self.budget.threshold if self.budget is not None else self.base_threshold

    def process(
        self,
        series: Sequence[str],
        timestamps: np.ndarray,
        values: np.ndarray,
        labels: Sequence[Mapping[str, str] | None] | None,
        results: BankResults,
        detector_names: tuple[str, ...],
        series_count: int,
    ) -> dict[int, AlertEvent]:
        """The alert events of a scored batch: ``{row: event}`` (firing or resolved)."""
        events: dict[int, AlertEvent] = {}
        rows = np.flatnonzero(results.alert | (results.transition != 0))
        for row in rows.tolist():
            name = series[row]
            at, value = timestamps.item(row), values.item(row)
            code = results.transition.item(row)
            incident = self.incidents.get(name)
            if incident is None and code == RESOLVED:
                continue  # an incident this pager never saw open (a state from before it)
            if code == OPENED or incident is None:
                point_labels = labels[row] if labels is not None else None
                point_labels = point_labels if point_labels is not None else _NO_LABELS
                incident = self.incidents[name] = Incident(
                    start=results.alert_start.item(row) if code == OPENED else at,
                    expected=results.expected.item(row),
                    lower=results.lower.item(row),
                    upper=results.upper.item(row),
                    labels=point_labels,
                    decision=self.policy.decide(name, point_labels),
                )
            score = results.anomaly_score.item(row)  # the events': how abnormal it is now
            # the peak (what the budget compares) of the onsets, as the detector opened it
            incident.observe(at, value, results.onset_score.item(row), results.agreeing.item(row))
            if incident.page is None and code != RESOLVED and incident.held_back != HISTORY:
                reason = self._holds_back(incident, at, value, series_count)
                if reason:
                    incident.held_back = reason
                else:
                    incident.page = self._event(name, incident, "firing", at, value, score,
                                                detector_names)  # fmt: skip
                    events[row] = incident.page
                    self.pages += 1
                    if self.budget is not None and incident.decision.severity == "page":
                        self.budget.record_page(at)
            if code == RESOLVED:
                del self.incidents[name]
                if incident.page is None:
                    self.held_back[incident.held_back] += 1
                    continue
                end = results.alert_end.item(row)
                reason = REASONS.get(results.resolve_reason.item(row), "")
                events[row] = self._event(
                    name, incident, "resolved", at, value, score, detector_names, end, reason
                )
        if self.budget is not None and len(timestamps):
            # after the rows (each candidate saw the threshold of its own time): the gauge
            # follows event time even while no incident is open
            self.budget.advance(float(np.max(timestamps)), series_count)
        return events

    def _holds_back(self, incident: Incident, at: float, value: float, series_count: int) -> str:
        decision = incident.decision
        reason = decision.holds_back(value, incident.expected, incident.peak_score, at)
        if reason or self.budget is None or decision.severity != "page":
            return reason
        self.budget.advance(at, series_count)
        return "budget" if incident.peak_score < self.budget.threshold else ""

    def _event(
        self,
        series: str,
        incident: Incident,
        status: str,
        at: float,
        value: float,
        score: float,
        detector_names: tuple[str, ...],
        end: float | None = None,
        resolve_reason: str = "",
    ) -> AlertEvent:
        runbook, dashboard = self.links.render(series, incident.labels)
        return AlertEvent(
            alert_id=alert_id(series, incident.start),
            series=series,
            status=status,
            start=incident.start,
            end=end,
            peak_score=incident.peak_score,
            peak_at=incident.peak_at,
            at=at,
            value=value,
            expected=incident.expected,
            lower=incident.lower,
            upper=incident.upper,
            anomaly_score=score,
            detectors=tuple(
                name for d, name in enumerate(detector_names) if incident.detectors >> d & 1
            ),
            severity=incident.decision.severity,
            rule=incident.decision.rule,
            peak_value=incident.peak_value,
            peak_value_at=incident.peak_value_at,
            runbook_url=runbook,
            dashboard_url=dashboard,
            resolve_reason=resolve_reason,
        ).explained()

    # --- per-series state ----------------------------------------------------------------

    def open_alert(self, series: str) -> tuple[AlertEvent, Mapping[str, str]] | None:
        """The firing event of ``series``' paged incident and its labels, while it lasts."""
        incident = self.incidents.get(series)
        if incident is None or incident.page is None:
            return None
        return incident.page, incident.labels

    def forget(self, series: str) -> None:
        """Drop what is known of ``series`` (it left this process)."""
        self.incidents.pop(series, None)

    def mute(self, series: str) -> None:
        """The open incident of ``series`` opened in a warm start's history, which never
        pages: it stays open as long as the detectors say (an incident that outlasts the
        history is the same incident, not a new page), pages never, and its end is counted as
        held back (``history``), not sent. Its state says so, so a restart keeps it muted."""
        incident = self.incidents.get(series)
        if incident is not None:
            incident.page = None
            incident.held_back = HISTORY

    def state(self, series: str, detector_names: tuple[str, ...]) -> dict | None:
        """The open incident of ``series`` as JSON-ready data (its page is stored apart, see
        :meth:`load`), or None."""
        incident = self.incidents.get(series)
        if incident is None:
            return None
        return {
            "start": incident.start,
            "expected": _json_float(incident.expected),
            "lower": _json_float(incident.lower),
            "upper": _json_float(incident.upper),
            "peak_value": _json_float(incident.peak_value),
            "peak_value_at": _json_float(incident.peak_value_at),
            "peak_score": _json_float(incident.peak_score),
            "peak_at": _json_float(incident.peak_at),
            "detectors": [n for d, n in enumerate(detector_names) if incident.detectors >> d & 1],
            "held_back": incident.held_back,
            "labels": dict(incident.labels),
        }

    def restored(
        self,
        series: str,
        entry: Any,
        page: tuple[AlertEvent, Mapping[str, str]] | None,
        detector_names: tuple[str, ...],
    ) -> Incident | None:
        """The incident :meth:`state` returned, with the firing event of its page (a state
        written before the pager existed has only the page); put it back with :meth:`put`.
        Raises ``ValueError`` on malformed data."""
        if entry is None and page is None:
            return None
        if entry is None:
            event, labels = page
            entry = {
                "start": event.start, "expected": event.expected, "lower": event.lower,
                "upper": event.upper, "peak_value": event.value, "peak_value_at": event.at,
                "peak_score": event.peak_score, "peak_at": event.peak_at,
                "detectors": list(event.detectors), "held_back": "", "labels": labels,
            }  # fmt: skip
        if not isinstance(entry, dict):
            raise ValueError("the incident is not an object")
        labels = entry.get("labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise ValueError("the incident's labels are not strings")
        floats = {
            key: _float(entry.get(key))
            for key in ("expected", "lower", "upper", "peak_value", "peak_value_at", "peak_at")
        }
        peak_score = _float(entry.get("peak_score"))
        names = entry.get("detectors") or []
        if not isinstance(names, list):
            raise ValueError("the incident's detectors are not a list")
        start = _float(entry.get("start"))
        if start != start:
            raise ValueError("the incident has no start")
        return Incident(
            start=start,
            labels=labels,
            decision=self.policy.decide(series, labels),
            peak_score=peak_score if peak_score == peak_score else -math.inf,
            detectors=sum(1 << detector_names.index(n) for n in names if n in detector_names),
            held_back=str(entry.get("held_back", "")),
            page=page[0] if page is not None else None,
            **floats,
        )

    def put(self, series: str, incident: Incident | None) -> None:
        """Set (or, with None, clear) the open incident of ``series``."""
        if incident is None:
            self.incidents.pop(series, None)
        else:
            self.incidents[series] = incident


def _json_float(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _float(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a number: {value!r}")
    return float(value)
