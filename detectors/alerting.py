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
    set on resolution (the last point above ``exit_threshold``). ``peak_score`` and ``peak_at``
    describe the highest score seen so far in the incident.
    """

    status: AlertStatus
    start: float
    end: float | None
    peak_score: float
    peak_at: float
