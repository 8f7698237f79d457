"""The reference alert policy (:mod:`detectors.parts.alert` compiled): turning a stream of anomaly
scores into alerts: one incident, one alert.

A score crossing a threshold once is not an incident. :class:`HysteresisAlert` opens an alert
after the score stays at or above ``threshold`` for ``min_duration`` consecutive points and then
freezes the expectation of that point (the expected value, its standard deviation and its offset
from the usual value of the hour). The alert fires while the value is at least
``resolve_threshold`` of those standard deviations from the frozen expectation (with no
expectation: while the score is at least ``exit_threshold``), resolves ("recovered") at the first
point ``max(quiet_time, 2 steps)`` after the last such point, or ("accepted new level") after
firing ``accept_after`` seconds, and then waits ``cooldown`` points before another alert may open.
"""

from __future__ import annotations

import math

from detectors.alerting import AlertStatus, AlertTransition

__all__ = ["HysteresisAlert"]

NAN = math.nan


class HysteresisAlert:
    """Alert state machine: enter threshold, minimum duration, the frozen expectation, quiet time,
    acceptance of a new level and cooldown.

    Examples
    --------
    >>> policy = HysteresisAlert(threshold=0.8, min_duration=2, quiet_time=120.0)
    >>> points = [(0.1, 0.0), (0.9, 9.0), (0.95, 9.0), (0.0, 9.0), (0.0, 0.0), (0.0, 0.0),
    ...           (0.0, 0.0), (0.0, 0.0)]
    >>> for t, (score, x) in enumerate(points):
    ...     transition = policy.update(score, 60.0 * t, x, expected=0.0, std=1.0, step=60.0)
    ...     if transition:
    ...         print(t, transition.status.value, transition.start, transition.end,
    ...               transition.reason or "-")
    2 firing 60.0 None -
    5 resolved 60.0 180.0 recovered
    """

    def __init__(
        self,
        threshold: float = 0.5,
        exit_threshold: float | None = None,
        min_duration: int = 1,
        cooldown: int = 0,
        resolve_threshold: float = 3.0,
        quiet_time: float = 300.0,
        accept_after: float = 0.0,
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
        self.resolve_threshold = resolve_threshold
        self.quiet_time = quiet_time
        self.accept_after = accept_after
        self._exit = exit_level
        self.firing = False
        self._run = 0  # consecutive points towards opening
        self._run_start = 0.0
        self._last_active = 0.0
        self._cooldown_left = 0
        self._start = 0.0
        self._peak = 0.0
        self._peak_at = 0.0
        self._expected = NAN
        self._usual_offset = NAN
        self._std = NAN
        self._settle_until = NAN

    def expectation(self, usual: float = NAN) -> float:
        """The frozen expectation at a point whose usual value is ``usual``."""
        if not math.isnan(self._usual_offset) and not math.isnan(usual):
            return usual + self._usual_offset
        return self._expected

    @property
    def std(self) -> float:
        return self._std

    def update(
        self,
        score: float,
        timestamp: float,
        x: float = NAN,
        expected: float = NAN,
        std: float = NAN,
        usual: float = NAN,
        step: float = 0.0,
    ) -> AlertTransition | None:
        """Feed one point; return the transition it causes, if any."""
        if self.firing:
            return self._update_firing(score, timestamp, x, expected, std, usual, step)
        return self._update_quiet(score, timestamp, x, expected, std, usual)

    def _freeze(self, expected: float, std: float, usual: float) -> None:
        self._expected, self._std, self._usual_offset = expected, std, expected - usual

    def _settling_back(self, timestamp: float, x: float, usual: float) -> bool:
        """Back at the last recovered incident's expectation while the detectors relearn."""
        if not timestamp < self._settle_until or math.isnan(x):
            return False
        return abs(x - self.expectation(usual)) < self.resolve_threshold * self._std

    def _update_quiet(self, score, timestamp, x, expected, std, usual) -> AlertTransition | None:
        if self._cooldown_left > 0:
            self._cooldown_left -= 1
            return None
        if score < self.threshold or self._settling_back(timestamp, x, usual):
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
        self._freeze(expected, std, usual)
        return AlertTransition(AlertStatus.FIRING, self._start, None, self._peak, self._peak_at)

    def _update_firing(
        self, score, timestamp, x, expected, std, usual, step
    ) -> AlertTransition | None:
        if score > self._peak:
            self._peak, self._peak_at = score, timestamp
        if math.isnan(self._expected) and not math.isnan(expected):
            self._freeze(expected, std, usual)
        frozen = self.expectation(usual)
        if math.isnan(frozen) or math.isnan(x) or math.isnan(self._std):
            away = score >= self._exit
        else:
            away = abs(x - frozen) >= self.resolve_threshold * self._std
        if away:
            self._last_active = timestamp
        elif timestamp - self._last_active >= max(self.quiet_time, 2 * step):
            return self._resolve("recovered", timestamp)
        if self.accept_after > 0 and timestamp - self._start >= self.accept_after:
            return self._resolve("accepted new level", timestamp)
        return None

    def _resolve(self, reason: str, timestamp: float) -> AlertTransition:
        recovered = reason == "recovered"
        self._settle_until = timestamp + (timestamp - self._start) if recovered else NAN
        self.firing = False
        self._run = 0
        self._cooldown_left = self.cooldown
        return AlertTransition(
            AlertStatus.RESOLVED, self._start, self._last_active, self._peak, self._peak_at, reason
        )
