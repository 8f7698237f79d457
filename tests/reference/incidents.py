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

    Every value so far is kept with a weight that fades by ``exp(-dt / window)`` as the series'
    time moves on ``dt`` (the window is at least ``min_fit_steps`` sampling intervals); the
    slope is the weighted least-squares line's through them, compared with the slope's usual
    value and spread (fading over ``memory`` seconds, each slope clipped at ``clip`` standard
    deviations once warm) or with the standard error of a line through the usual noise (the
    values' usual variance about the line), the larger. It scores the decades of a Gaussian
    tail beyond ``margin`` standard deviations, climbs only, once the usual slope has been
    learned over ``warm_up`` seconds (slopes are learned from two windows of the series' age on).
    """

    def __init__(self, window, memory, warm_up, score_decades, margin, clip, min_fit_steps):
        self.window, self.memory, self.warm_up = window, memory, warm_up
        self.score_decades, self.margin, self.clip = score_decades, margin, clip
        self.min_fit_steps = min_fit_steps
        self.times: list[float] = []
        self.values: list[float] = []
        self.weights: list[float] = []
        self.mean = self.var = self.noise = 0.0

    def _line(self) -> tuple[float, float, float, float]:
        """The weighted line's slope, the values' variance about it, the weight, the times'
        variance."""
        weight = math.fsum(self.weights)
        mean_t = math.fsum(w * t for w, t in zip(self.weights, self.times)) / weight
        mean_x = math.fsum(w * x for w, x in zip(self.weights, self.values)) / weight
        var_t = math.fsum(w * (t - mean_t) ** 2 for w, t in zip(self.weights, self.times)) / weight
        if not var_t > 0.0:
            return math.nan, 0.0, weight, var_t
        cov = math.fsum(
            w * (t - mean_t) * (x - mean_x)
            for w, t, x in zip(self.weights, self.times, self.values)
        )
        slope = cov / weight / var_t
        residual = math.fsum(
            w * (x - mean_x - slope * (t - mean_t)) ** 2
            for w, t, x in zip(self.weights, self.times, self.values)
        )
        return slope, residual / weight, weight, var_t

    def score_then_learn(self, t: float, x: float, step: float) -> float:
        if math.isnan(x):
            return 0.0
        window = max(self.window, self.min_fit_steps * step)
        if self.times:
            fade = math.exp(-max(t - self.times[-1], 0.0) / window)
            self.weights = [w * fade for w in self.weights]
        last = self.times[-1] if self.times else math.nan
        self.times.append(t)
        self.values.append(x)
        self.weights.append(1.0)
        slope, residual, weight, var_t = self._line()
        if math.isnan(slope) or math.isnan(last):
            return 0.0
        age = t - self.times[0]
        if age < 2.0 * window:
            return 0.0
        warm = age >= 2.0 * window + self.warm_up
        score = 0.0
        if warm:
            spread = max(math.sqrt(self.var), math.sqrt(self.noise / (weight * var_t)))
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
