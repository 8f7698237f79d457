"""Empirical tail probabilities of raw anomaly scores, with a fading memory.

A raw score only means something against the same detector's history on the same series: a
forecast residual of 4 standard deviations is routine for a spiky ad-exchange metric and
unheard of for a smooth CPU. :class:`TailProbability` keeps an exponentially fading histogram
of past raw scores on a logarithmic grid and answers "how often was the score at least this
high?". Unlike a Gaussian fit it respects heavy tails, and it needs O(1) memory per series.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TailProbability"]

#: The weights of new scores grow; at this weight every count is scaled back (float32 counts
#: hold up to 3.4e38, so a histogram of a long memory still fits below it).
RESCALE_AT = 1e30


class TailProbability:
    """Fraction of (fading) past raw scores at or above a given score.

    Scores are binned on ``log1p(score)`` in ``n_bins`` equal bins up to ``log1p(max_score)``;
    mass inside a bin is interpolated linearly. A score above everything seen gets
    ``1 / (n_effective + 1)`` shrunk by how far it exceeds the largest bin seen, so that bigger
    surprises still rank higher.

    Parameters
    ----------
    memory
        Effective number of recent scores remembered (exponential fading).
    grace_period
        Scores learned before ``score_one`` reports anything but 1.
    n_bins, max_score
        The histogram grid.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> tail = TailProbability(memory=1000, grace_period=100)
    >>> for _ in range(2000):
    ...     tail.learn_one(abs(rng.gauss(0, 1)))
    >>> round(tail.score_one(1.0), 2), round(tail.score_one(2.0), 2)
    (0.33, 0.05)
    >>> tail.score_one(10.0) < tail.score_one(5.0) < 0.005
    True
    """

    def __init__(
        self,
        memory: int = 2000,
        grace_period: int = 300,
        n_bins: int = 128,
        max_score: float = 1e6,
        record_gain: float = 1.0,
    ):
        self.memory = memory
        self.grace_period = grace_period
        self.n_bins = n_bins
        self.max_score = max_score
        self.record_gain = record_gain
        self._bin_width = math.log1p(max_score) / n_bins
        # float32: 512 bytes per histogram (a list would add a float object per used bin). The
        # sums are taken in float64; a count only rounds to 7 digits, far below the
        # probabilities' own noise.
        self._counts = np.zeros(n_bins, dtype=np.float32)
        self._total = 0.0
        self._weight = 1.0  # weight of the next score; grows instead of decaying all bins
        self._growth = 1.0 / (1.0 - 1.0 / memory)
        self._n = 0
        self._top_bin = -1

    def lengthen(self, memory: int) -> None:
        """Remember about ``memory`` scores from now on (a memory in time, once the series'
        sampling interval is known)."""
        self.memory = memory
        self._growth = 1.0 / (1.0 - 1.0 / memory)

    def _position(self, raw: float) -> float:
        if not raw > 0.0:  # also NaN: no evidence of anything unusual
            return 0.0
        return min(math.log1p(raw) / self._bin_width, self.n_bins - 1e-9)

    def score_one(self, raw: float) -> float:
        """Probability, under the remembered scores, of a score at least ``raw`` (1 in warm-up)."""
        if self._n < self.grace_period or self._total <= 0:
            return 1.0
        position = self._position(raw)
        index = int(position)
        n_effective = min(self._n, self.memory)
        floor = 1.0 / (n_effective + 1)
        if index > self._top_bin:
            top_edge = (self._top_bin + 1) * self._bin_width
            return floor * math.exp(self.record_gain * (top_edge - position * self._bin_width))
        counts = self._counts
        # Bins above the top one are empty: summing them would only add zeros.
        # Python's sum, left to right: numpy's pairwise sum would round differently.
        above = sum(counts[index + 1 : self._top_bin + 1].tolist())
        above += counts.item(index) * (index + 1 - position)
        return max(above / self._total, floor)

    def learn_one(self, raw: float) -> None:
        index = int(self._position(raw))
        # Added in float64, then rounded once: as the compiled bank does
        self._counts[index] = self._counts.item(index) + self._weight
        self._total += self._weight
        if index > self._top_bin:
            self._top_bin = index
        self._n += 1
        self._weight *= self._growth
        if self._weight > RESCALE_AT:
            scale = 1.0 / self._weight
            self._counts[:] = self._counts.astype(np.float64) * scale
            self._total *= scale
            self._weight = 1.0
