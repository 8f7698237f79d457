"""A disk filling up: the series climbs steadily for an hour or more, many times faster than
it usually does over as long (bytes or percent used climbing towards the capacity, a queue
that only grows).

The part is :func:`~detectors.parts.trend.score` with a line fading over :data:`WINDOW` (an
hour of the series' time, at least four sampling intervals), the usual slope learned over
:data:`MEMORY` (3 days) after a :data:`WARM_UP` of a day; only a climb scores. It reads the
value centred at the series' origin. A disk's slow growth and its daily cycle are its usual
slopes. A fall is not scored: the line's slope stays steep for a while after a step down (a
log disk cleaned up, SMD's sawtooth gauges), and free space running out is the same fall.

Examples
--------
>>> import numpy as np
>>> from detectors.layout import allocate
>>> c = constants({"score_decades": 6.0})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> rng = np.random.default_rng(2)
>>> used = 40.0 + rng.normal(0.0, 0.01, 3 * 288)  # percent used every 5 minutes, 3 days
>>> quiet = [score(st, 0, 300.0 * k, used[k], 300.0, c) for k in range(2 * 288)]
>>> max(quiet)
0.0
>>> fill = [score(st, 0, 300.0 * k, used[k] + 0.1 * (k - 2 * 288), 300.0, c)
...         for k in range(2 * 288, 3 * 288)]  # then 1.2 % more an hour
>>> alerted = next(k for k, s in enumerate(fill) if s >= 0.36)
>>> alerted * 5, max(fill)  # minutes into the fill
(10, 1.0)
"""

from __future__ import annotations

from detectors.compiled import part
from detectors.layout import state_type
from detectors.parts import trend

NAME = "fill"
#: The line's time constant (s): a disk fills up over hours, not minutes.
WINDOW = 3600.0
#: The usual slope's memory (s).
MEMORY = 3 * 86400.0
#: The series' time before a slope may score (s): a day shows the daily cycle's slopes.
WARM_UP = 86400.0

FIELDS = trend.FIELDS
State = state_type("State", FIELDS, __name__)
Constants, constants = trend.Constants, trend.constants


@part
def score(st, slot, t, x, step, c):
    """The slope's score at ``(t, x)`` in decades over ``score_decades``; then it is learned."""
    return trend.score(st, slot, t, x, step, WINDOW, MEMORY, WARM_UP, True, c.score_decades)


@part
def incident(st, slot, point, step, p):
    """The stack's call (see :data:`detectors.kernel.INCIDENTS`): the centred value."""
    return score(st.fill, slot, point.t, point.x, step, p.fill)
