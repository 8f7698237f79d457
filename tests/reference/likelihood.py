"""Calibration of raw anomaly scores into tail probabilities (anomaly likelihood).

Raw scores of different detectors live on different scales: |z| of 4 is rare for one metric and
routine for another. Following Numenta's anomaly likelihood (Ahmad et al. 2017), a raw score is
judged against the recent distribution of the same detector's scores on the same series: the short
moving average of raw scores is compared with the long-run mean and spread, and its Gaussian tail
probability is the likelihood that something changed.
"""

from __future__ import annotations

import collections
import math

from tests.reference.rolling import EWVar

__all__ = ["AnomalyLikelihood", "log_likelihood"]

_LOG_TINY = math.log(1e-10)


def log_likelihood(likelihood: float) -> float:
    """Map a likelihood in [0, 1] onto a log scale in [0, 1].

    0.5 corresponds to a likelihood of 0.99999 (a one in 100,000 surprise), which spreads the
    interesting far tail over half of the output range.

    Examples
    --------
    >>> round(log_likelihood(0.99999), 3)
    0.5
    >>> log_likelihood(0.0)
    0.0
    """
    return min(1.0, max(0.0, math.log(1.0000000001 - likelihood) / _LOG_TINY))


class AnomalyLikelihood:
    """Tail probability of the short-term mean raw score under its long-term distribution.

    Parameters
    ----------
    short_window
        Number of recent raw scores averaged (smooths single noisy points).
    long_window
        Effective memory, in points, of the long-term mean and variance (exponentially weighted).
    grace_period
        Number of scores learned before likelihoods are reported; 0 is returned until then.
    min_std
        Floor on the long-term standard deviation, so a perfectly quiet history does not turn
        any wobble into certainty.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(1)
    >>> calibrator = AnomalyLikelihood(short_window=1, grace_period=50)
    >>> for _ in range(500):
    ...     calibrator.learn_one(rng.gauss(1.0, 0.1))
    >>> calibrator.score_one(1.0) < 0.7 < 0.9999 < calibrator.score_one(2.0)
    True
    """

    def __init__(
        self,
        short_window: int = 10,
        long_window: int = 2000,
        grace_period: int = 300,
        min_std: float = 0.01,
    ):
        self.short_window = short_window
        self.long_window = long_window
        self.grace_period = grace_period
        self.min_std = min_std
        self._recent: collections.deque[float] = collections.deque(maxlen=short_window)
        self._recent_sum = 0.0
        self._long = EWVar(alpha=2.0 / (long_window + 1), warm_up=True)
        self._n = 0

    def _short_mean_with(self, raw: float) -> float:
        if len(self._recent) < self.short_window:
            return (self._recent_sum + raw) / (len(self._recent) + 1)
        return (self._recent_sum - self._recent[0] + raw) / self.short_window

    def score_one(self, raw: float) -> float:
        """Likelihood in [0, 1] that ``raw`` (with the recent scores) is unusually high."""
        if self._n < self.grace_period:
            return 0.0
        std = max(math.sqrt(self._long.get()), self.min_std)
        z = (self._short_mean_with(raw) - self._long.mean) / std
        return 0.5 * math.erfc(-z / math.sqrt(2))

    def learn_one(self, raw: float) -> None:
        short_mean = self._short_mean_with(raw)
        if len(self._recent) == self.short_window:
            self._recent_sum -= self._recent[0]
        self._recent.append(raw)
        self._recent_sum += raw
        self._long.update(short_mean)
        self._n += 1
