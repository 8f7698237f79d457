"""What an alert transition says: an alert opening (``FIRING``) or closing (``RESOLVED``).

The policy that decides them is :mod:`detectors.parts.alert`.
"""

from __future__ import annotations

import dataclasses
import enum

__all__ = ["AlertStatus", "AlertTransition"]


class AlertStatus(enum.Enum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclasses.dataclass(frozen=True, slots=True)
class AlertTransition:
    """An alert opening (``FIRING``) or closing (``RESOLVED``).

    ``start`` is the timestamp of the first point of the run that opened the alert; ``end`` is
    set on resolution (the last point away from the expectation). ``peak_score`` and ``peak_at``
    describe the highest score seen so far in the incident. ``reason`` says why a resolved
    alert resolved: ``"recovered"`` (the value came back to the expectation frozen when it
    opened) or ``"accepted new level"`` (it fired long enough for its level to be the new normal).
    """

    status: AlertStatus
    start: float
    end: float | None
    peak_score: float
    peak_at: float
    reason: str = ""
