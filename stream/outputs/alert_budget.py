"""A fleet alert budget: at most N pages per series per week, held by the paging threshold.

No fixed threshold holds a page rate on a fleet whose metrics change: a noisy week pages more.
:class:`AlertBudget` instead adapts the threshold an incident's anomaly score must reach to page
from the fleet's recent page rate, online, in event time:

- the page rate is a count of pages that decays with time constant ``window`` (a week by
  default), i.e. about the pages of the trailing window; divided by the number of series and
  the window in weeks, it is the realised pages per series per week, ``rate``;
- every ``dt`` seconds of event time the threshold moves by
  ``gain * dt / window * log10(rate / budget) / score_decades``: up while the fleet pages more
  than the budget, down while it pages less. The anomaly score is in decades of probability
  over ``score_decades``, so this is a multiplicative controller of the tail probability an
  incident must reach (one decade per window at ``gain`` 1 and a tenfold excess). The error is
  clipped to one decade either way, and the threshold stays within
  ``[base_threshold, base_threshold + max_raise]``: the budget never pages on less than the
  detector's own threshold, and a fleet in a real outage still pages above the cap.
- ``gain`` 0.5 keeps the loop (an integrator behind the window's lag) damped: on a fleet whose
  candidate pages come at 5 times the budget it settles within about four windows.

The state is the process's own (each process of a consumer group holds the budget for its
series) and is not checkpointed: a restarted process starts again at ``base_threshold``.

Examples
--------
>>> budget = AlertBudget(pages_per_week=1.0, base_threshold=0.36)
>>> budget.threshold
0.36
>>> for day in range(28):  # a fleet of 10 series paging 5 times a week each, every day
...     budget.advance(day * 86400.0, series=10)
...     for _ in range(7):
...         budget.record_page(day * 86400.0)
>>> budget.threshold > 0.40
True
"""

from __future__ import annotations

import math

__all__ = ["AlertBudget", "WEEK"]

WEEK = 7 * 86400.0


class AlertBudget:
    """The paging threshold that holds ``pages_per_week`` per series (see the module docs).

    Parameters
    ----------
    pages_per_week
        The budget: pages per series per week across the fleet (positive).
    base_threshold
        The detector's threshold; the effective one never goes below it.
    score_decades
        Decades of probability over the anomaly score's range (the stack's ``score_decades``).
    window
        Seconds of event time over which the page rate is measured (the decay constant).
    gain
        Decades the threshold moves per window for a tenfold excess.
    max_raise
        Most the threshold rises above ``base_threshold`` (in score units).
    """

    def __init__(
        self,
        pages_per_week: float,
        base_threshold: float,
        score_decades: float = 6.0,
        window: float = WEEK,
        gain: float = 0.5,
        max_raise: float = 0.5,
    ):
        if not pages_per_week > 0:
            raise ValueError(f"pages_per_week must be positive, got {pages_per_week}")
        if not window > 0 or not score_decades > 0 or not gain > 0 or max_raise < 0:
            raise ValueError("window, score_decades and gain must be positive, max_raise >= 0")
        self.pages_per_week = pages_per_week
        self.base_threshold = base_threshold
        self.score_decades = score_decades
        self.window = window
        self.gain = gain
        self.max_raise = max_raise
        self.raised = 0.0  # above base_threshold, in score units
        self.pages = 0.0  # decayed count of pages
        self.series = 1
        self.clock: float | None = None  # the latest event time seen

    @property
    def threshold(self) -> float:
        """The anomaly score an incident must reach now to page."""
        return self.base_threshold + self.raised

    @property
    def rate(self) -> float:
        """Realised pages per series per week over about the last ``window``."""
        return self.pages / max(self.series, 1) / (self.window / WEEK)

    def advance(self, now: float, series: int) -> None:
        """Move event time to ``now`` (never back) with ``series`` series in the fleet: decay
        the page count and move the threshold."""
        self.series = max(int(series), 1)
        if self.clock is None:
            self.clock = now
            return
        dt = now - self.clock
        if not dt > 0:
            return
        self.clock = now
        # Long gaps are integrated in steps of a tenth of the window, as a live fleet would.
        step = self.window / 10
        while dt > 0:
            part = min(dt, step)
            dt -= part
            error = math.log10(max(self.rate, 1e-12) / self.pages_per_week)
            error = min(max(error, -1.0), 1.0)
            self.raised += self.gain * part / self.window * error / self.score_decades
            self.raised = min(max(self.raised, 0.0), self.max_raise)
            self.pages *= math.exp(-part / self.window)

    def record_page(self, at: float) -> None:
        """A page went out at event time ``at`` (counted at the latest time seen)."""
        if self.clock is None:
            self.clock = at
        self.pages += 1.0
