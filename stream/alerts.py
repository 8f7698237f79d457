"""Alert events: what leaves Lookout when an incident opens or closes."""

from __future__ import annotations

import dataclasses
import hashlib

from detectors import AlertStatus, Assessment
from stream.point import format_timestamp

__all__ = ["AlertEvent", "alert_id", "event_id", "EVENT_SEQUENCE"]

#: The place of each event in its incident: it opens (1), then resolves (2).
EVENT_SEQUENCE = {AlertStatus.FIRING.value: 1, AlertStatus.RESOLVED.value: 2}


def alert_id(series: str, start: float) -> str:
    """Deterministic id of an incident: the same series and start give the same id, so a
    re-processed batch updates an alert instead of paging twice.

    >>> alert_id("cpu", 0.0) == alert_id("cpu", 0.0) != alert_id("cpu", 60.0)
    True
    """
    return hashlib.sha1(f"{series}\x00{start!r}".encode()).hexdigest()[:16]


def event_id(alert_id: str, status: str) -> str:
    """The idempotency key of an alert event: its incident, its place in the incident and its
    status. A re-delivered event (at-least-once outputs, a crash's replay) has the same key, so
    a consumer keeps the first event of each key and drops the repeats (docs/live.md).

    >>> event_id("0123456789abcdef", "resolved")
    '0123456789abcdef-2-resolved'
    """
    return f"{alert_id}-{EVENT_SEQUENCE[status]}-{status}"


@dataclasses.dataclass(frozen=True, slots=True)
class AlertEvent:
    alert_id: str
    series: str
    status: str
    start: float
    end: float | None
    peak_score: float
    peak_at: float
    at: float
    value: float
    expected: float
    lower: float
    upper: float
    anomaly_score: float
    detectors: tuple[str, ...]

    @classmethod
    def from_assessment(cls, series: str, assessment: Assessment) -> AlertEvent:
        transition = assessment.transition
        if transition is None:
            raise ValueError("assessment has no alert transition")
        return cls(
            alert_id=alert_id(series, transition.start),
            series=series,
            status=transition.status.value,
            start=transition.start,
            end=transition.end,
            peak_score=transition.peak_score,
            peak_at=transition.peak_at,
            at=assessment.timestamp,
            value=assessment.value,
            expected=assessment.expected,
            lower=assessment.lower,
            upper=assessment.upper,
            anomaly_score=assessment.anomaly_score,
            detectors=assessment.agreeing,
        )

    @property
    def firing(self) -> bool:
        return self.status == AlertStatus.FIRING.value

    @property
    def event_id(self) -> str:
        return event_id(self.alert_id, self.status)

    @property
    def sequence(self) -> int:
        return EVENT_SEQUENCE[self.status]

    def to_dict(self) -> dict:
        """JSON-ready form with RFC 3339 times; NaN becomes null."""
        out = dataclasses.asdict(self)
        for key in ("start", "end", "peak_at", "at"):
            if out[key] is not None:
                out[key] = format_timestamp(out[key])
        for key in ("value", "expected", "lower", "upper", "anomaly_score", "peak_score"):
            if out[key] != out[key]:
                out[key] = None
        out["detectors"] = list(self.detectors)
        out["event_id"] = self.event_id
        out["sequence"] = self.sequence
        return out
