"""Incident kinds the detectors' agreement may miss: a stuck value and an outage to zero (the
reference of :mod:`detectors.parts.stuck` and :mod:`detectors.parts.outage`).

A condition (a value equal to the previous one, a value at exactly 0) that a series meets at a
fading rate ``rate`` per point, now met for ``excess`` points more than twice its longest run so
far (a stuck value: and than ``MIN_RUN``), has the tail probability ``rate ** excess``.
"""

from __future__ import annotations

import math

#: A run shorter than this is never surprising.
MIN_RUN = 2


class RunRarity:
    """The fading rate of a condition and the longest run of it that ended."""

    def __init__(self, memory: int, score_decades: float):
        self.memory = memory
        self.score_decades = score_decades
        self.hits = 0.0
        self.points = 0.0
        self.run = 0
        self.longest = 0

    def score(self, excess: int) -> float:
        """Decades over ``score_decades`` of ``excess`` points of a run beyond what was seen."""
        if excess <= 0:
            return 0.0
        rate = (self.hits + 1.0) / (self.points + 2.0)
        return max(0.0, min(1.0, -excess * math.log10(rate) / self.score_decades))

    def learn(self, hit: bool) -> None:
        keep = 1.0 - 1.0 / self.memory
        self.hits = self.hits * keep + (1.0 if hit else 0.0)
        self.points = self.points * keep + 1.0


class StuckValue(RunRarity):
    """A run of exactly equal values longer than any before, on a series rarely repeating."""

    def __init__(self, memory: int, score_decades: float):
        super().__init__(memory, score_decades)
        self.last = math.nan

    def score_then_learn(self, x: float) -> float:
        if math.isnan(x):
            return 0.0
        repeated = x == self.last
        run = self.run + 1 if repeated else 1
        # a series constant since it began has never shown that it varies
        # beyond twice the longest run and MIN_RUN
        excess = min(run - 2 * self.longest, run - MIN_RUN)
        score = self.score(excess) if self.longest > 0 else 0.0
        if not math.isnan(self.last):
            self.learn(repeated)
        if not repeated:
            self.longest = max(self.longest, self.run)
        self.run = run
        self.last = x
        return score


class OutageToZero(RunRarity):
    """A run of values at exactly 0 longer than any before, on a series rarely at 0."""

    def __init__(self, memory: int, score_decades: float):
        super().__init__(memory, score_decades)
        self.varied = False

    def score_then_learn(self, value: float) -> float:
        if math.isnan(value):
            return 0.0
        zero = value == 0.0
        run = self.run + 1 if zero else 0
        score = 0.0
        if zero and self.varied:  # a series at 0 since it began has shown no other level
            score = self.score(run - 2 * self.longest)  # beyond twice the longest run
        self.learn(zero)
        if not zero:
            self.longest = max(self.longest, self.run)
            self.varied = True
        self.run = run
        return score


class SteadyClimb:
    """A climb steeper than the series' usual slopes (the reference of
    :mod:`detectors.parts.trend`, :mod:`~detectors.parts.leak` and :mod:`~detectors.parts.fill`).

    Every value so far has a weight that fades by ``exp(-dt / window)`` as the series' time
    moves on ``dt`` (the window is at least ``min_fit_steps`` sampling intervals); the slope is
    the weighted least-squares line's through them (its weighted sums kept in the time since
    the first point, where the compiled part keeps them relative to the newest), compared with
    the slope's usual value and spread (fading over ``memory`` seconds, each slope clipped at
    ``clip`` standard deviations once warm) or with the standard error of a line through the
    usual noise (the values' usual variance about the line), the larger. It scores the decades
    of a Gaussian tail beyond ``margin`` standard deviations, climbs only, once the usual slope
    has been learned over ``warm_up`` seconds (slopes are learned from two windows of the
    series' age on).
    """

    def __init__(self, window, memory, warm_up, score_decades, margin, clip, min_fit_steps):
        self.window, self.memory, self.warm_up = window, memory, warm_up
        self.score_decades, self.margin, self.clip = score_decades, margin, clip
        self.min_fit_steps = min_fit_steps
        self.first = self.last = math.nan
        # weighted sums of 1, s, s**2, x, s * x, x**2, with s the time since the first point
        self.sums = [0.0] * 6
        self.mean = self.var = self.noise = 0.0

    def _line(self) -> tuple[float, float, float, float]:
        """The weighted line's slope, the values' variance about it, the weight, the times'
        variance."""
        w, s, ss, x, sx, xx = self.sums
        mean_s, mean_x = s / w, x / w
        var_s = ss / w - mean_s * mean_s
        if not var_s > 0.0:
            return math.nan, 0.0, w, var_s
        slope = (sx / w - mean_s * mean_x) / var_s
        var_x = max(xx / w - mean_x * mean_x, 0.0)
        return slope, max(var_x - slope * slope * var_s, 0.0), w, var_s

    def score_then_learn(self, t: float, x: float, step: float) -> float:
        if math.isnan(x):
            return 0.0
        window = max(self.window, self.min_fit_steps * step)
        last = self.last
        if math.isnan(last):
            self.first = t
        else:
            fade = math.exp(-max(t - last, 0.0) / window)
            self.sums = [total * fade for total in self.sums]
        self.last = t
        s = t - self.first
        for k, term in enumerate((1.0, s, s * s, x, s * x, x * x)):
            self.sums[k] += term
        slope, residual, weight, var_s = self._line()
        if math.isnan(slope) or math.isnan(last):
            return 0.0
        age = t - self.first
        if age < 2.0 * window:
            return 0.0
        warm = age >= 2.0 * window + self.warm_up
        score = 0.0
        if warm:
            spread = max(math.sqrt(self.var), math.sqrt(self.noise / (weight * var_s)))
            z = (slope - self.mean) / spread if spread > 0.0 else 0.0
            if z - self.margin > 0.0:
                tail = 0.5 * math.erfc((z - self.margin) / math.sqrt(2.0))
                score = 1.0 if tail <= 0.0 else min(1.0, -math.log10(tail) / self.score_decades)
        alpha = 1.0 - math.exp(-max(t - last, 0.0) / self.memory)
        delta = slope - self.mean
        if warm:
            limit = self.clip * math.sqrt(self.var)
            delta = max(-limit, min(limit, delta))
            residual = min(residual, self.clip**2 * self.noise)
        self.mean += alpha * delta
        self.var = (1.0 - alpha) * (self.var + alpha * delta * delta)
        self.noise += alpha * (residual - self.noise)
        return score
