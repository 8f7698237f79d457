"""Alert events: what leaves Lookout when an incident opens or closes."""

from __future__ import annotations

import dataclasses
import hashlib

from detectors import AlertStatus, Assessment
from stream.point import format_timestamp

__all__ = ["AlertEvent", "alert_id"]


def alert_id(series: str, start: float) -> str:
    """Deterministic id of an incident: the same series and start give the same id, so a
    re-processed batch updates an alert instead of paging twice.

    >>> alert_id("cpu", 0.0) == alert_id("cpu", 0.0) != alert_id("cpu", 60.0)
    True
    """
    return hashlib.sha1(f"{series}\x00{start!r}".encode()).hexdigest()[:16]


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
        return out
