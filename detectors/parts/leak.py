"""A slow leak: the series climbs steadily for hours (a process' memory, a heap, file handles,
connections), more steeply than it ever usually does over as long, which the forecaster
absorbs as trend and the calibrations as a new level.

The part is :func:`~detectors.parts.trend.score` with a line fading over :data:`WINDOW` (6
hours of the series' time), the usual slope learned over :data:`MEMORY` (3 days) after a
:data:`WARM_UP` of a day, and only a climb scoring. It reads the value centred at the series'
origin (:mod:`~detectors.parts.origin`: nothing depends on the metric's zero or unit). A daily
cycle's slopes are part of the usual spread: a leak is a climb beyond the cycle's own.

Examples
--------
>>> import numpy as np
>>> from detectors.layout import allocate
>>> c = constants({"score_decades": 6.0})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> rng = np.random.default_rng(1)
>>> minutes = 5 * 1440  # five days of a noisy gauge every minute
>>> x = rng.normal(0.0, 1.0, minutes)
>>> quiet = [score(st, 0, 60.0 * k, x[k], 60.0, c) for k in range(3 * 1440)]
>>> max(quiet)
0.0
>>> leak = [score(st, 0, 60.0 * k, x[k] + (k - 3 * 1440) / 30, 60.0, c)
...         for k in range(3 * 1440, minutes)]  # then 2 a minute per hour: 2 sigma an hour
>>> alerted = next(k for k, s in enumerate(leak) if s >= 0.36)
>>> alerted, max(leak)  # minutes into the leak
(92, 1.0)
"""

from __future__ import annotations

from detectors.compiled import part
from detectors.layout import state_type
from detectors.parts import trend

NAME = "leak"
#: The line's time constant (s): a leak climbs for hours.
WINDOW = 6 * 3600.0
#: The usual slope's memory (s).
MEMORY = 3 * 86400.0
#: The series' time before a climb may score (s): a day shows the daily cycle's slopes.
WARM_UP = 86400.0

FIELDS = trend.FIELDS
State = state_type("State", FIELDS, __name__)
Constants, constants = trend.Constants, trend.constants


@part
def score(st, slot, t, x, step, c):
    """The climb's score at ``(t, x)`` in decades over ``score_decades``; then it is learned."""
    return trend.score(st, slot, t, x, step, WINDOW, MEMORY, WARM_UP, True, c.score_decades)


@part
def incident(st, slot, point, step, p):
    """The stack's call (see :data:`detectors.kernel.INCIDENTS`): the centred value."""
    return score(st.leak, slot, point.t, point.x, step, p.leak)
