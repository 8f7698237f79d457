"""The reference alert policy (:mod:`detectors.parts.alert` compiled): turning a stream of anomaly
scores into alerts: one incident, one alert.

A score crossing a threshold once is not an incident. :class:`HysteresisAlert` opens an alert
after the score stays at or above ``threshold`` for ``min_duration`` consecutive points, keeps it
open until the score has been below ``exit_threshold`` for ``min_duration`` points, and then waits
``cooldown`` points before another alert may open, so a flapping signal pages once.
"""

from __future__ import annotations

from detectors.alerting import AlertStatus, AlertTransition

__all__ = ["HysteresisAlert"]


class HysteresisAlert:
    """Alert state machine with enter/exit thresholds, minimum duration and cooldown.

    Parameters
    ----------
    threshold
        Score at or above which a point counts towards opening an alert.
    exit_threshold
        Score below which a point counts towards closing it (defaults to ``threshold``).
    min_duration
        Consecutive points needed to open and to close an alert.
    cooldown
        Points after a resolution during which no new alert opens.

    Examples
    --------
    >>> policy = HysteresisAlert(threshold=0.8, exit_threshold=0.5, min_duration=2)
    >>> scores = [0.1, 0.9, 0.95, 0.7, 0.6, 0.2, 0.1, 0.1]
    >>> for t, score in enumerate(scores):
    ...     transition = policy.update(score, timestamp=t)
    ...     if transition:
    ...         print(t, transition.status.value, transition.start, transition.end)
    2 firing 1 None
    6 resolved 1 4
    """

    def __init__(
        self,
        threshold: float = 0.5,
        exit_threshold: float | None = None,
        min_duration: int = 1,
        cooldown: int = 0,
    ):
        exit_level = threshold if exit_threshold is None else exit_threshold
        if exit_level > threshold:
            raise ValueError("exit_threshold must not exceed threshold")
        if min_duration < 1:
            raise ValueError("min_duration must be >= 1")
        self.threshold = threshold
        self.exit_threshold = exit_threshold
        self.min_duration = min_duration
        self.cooldown = cooldown
        self._exit = exit_level
        self.firing = False
        self._run = 0  # consecutive points towards the next transition
        self._run_start = 0.0
        self._last_active = 0.0
        self._cooldown_left = 0
        self._start = 0.0
        self._peak = 0.0
        self._peak_at = 0.0

    def update(self, score: float, timestamp: float) -> AlertTransition | None:
        """Feed one score; return the transition it causes, if any."""
        if self.firing:
            return self._update_firing(score, timestamp)
        return self._update_quiet(score, timestamp)

    def _update_quiet(self, score: float, timestamp: float) -> AlertTransition | None:
        if self._cooldown_left > 0:
            self._cooldown_left -= 1
            return None
        if score < self.threshold:
            self._run = 0
            return None
        if self._run == 0:
            self._run_start = timestamp
            self._peak, self._peak_at = score, timestamp
        elif score > self._peak:
            self._peak, self._peak_at = score, timestamp
        self._run += 1
        if self._run < self.min_duration:
            return None
        self.firing = True
        self._run = 0
        self._start = self._run_start
        self._last_active = timestamp
        return AlertTransition(AlertStatus.FIRING, self._start, None, self._peak, self._peak_at)

    def _update_firing(self, score: float, timestamp: float) -> AlertTransition | None:
        if score > self._peak:
            self._peak, self._peak_at = score, timestamp
        if score >= self._exit:
            self._run = 0
            self._last_active = timestamp
            return None
        self._run += 1
        if self._run < self.min_duration:
            return None
        self.firing = False
        self._run = 0
        self._cooldown_left = self.cooldown
        return AlertTransition(
            AlertStatus.RESOLVED, self._start, self._last_active, self._peak, self._peak_at
        )
