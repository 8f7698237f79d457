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
