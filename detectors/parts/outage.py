"""An outage to zero: the value is exactly 0 for longer than it ever was, on a series that is
rarely 0 (a request rate whose service is down, a deployment scaled to zero replicas).

The part counts, with a fading memory of ``long_window`` points (or ``memory_time`` of the
series' time, if longer), how often the value is exactly 0 in the metric's own units, and
remembers the longest run of zeros that ended; the current run's score is
:func:`~detectors.parts.runs.run_score` of its points beyond twice that longest run (a rate
that was never 0 scores at its first zero). Sparse counts and idle queues are 0 most of the
time: their zeros are not surprising. It is the one part that reads the metric's own zero
(:mod:`~detectors.parts.origin` spares every other part of it): an outage to zero means nothing
at another origin.

Examples
--------
>>> from detectors.layout import allocate
>>> c = constants({"long_window": 1000, "memory_time": 0.0, "score_decades": 6.0})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> _ = [score(st, 0, 100.0 + k % 5, 60.0, c) for k in range(998)]
>>> [round(score(st, 0, 0.0, 60.0, c), 2) for _ in range(3)]  # down to 0
[0.47, 0.83, 1.0]
>>> errors = allocate(State, FIELDS, c, capacity=1)
>>> _ = [score(errors, 0, float(k % 10 == 0), 60.0, c) for k in range(1000)]
>>> [round(score(errors, 0, 0.0, 60.0, c), 2) for _ in range(3)]  # zeros are routine
[0.0, 0.0, 0.0]
"""

from __future__ import annotations

import math

from detectors.compiled import part, py_max
from detectors.layout import Field, state_type
from detectors.parts import runs
from detectors.parts.runs import beyond, fade, run_score
from detectors.parts.sampling import memory_points

NAME = "outage"

FIELDS = (
    Field("run", "i8", doc="points in the current run of zeros"),
    Field("longest", "i8", doc="the longest run of zeros that ended"),
    Field("zeros", "f8", doc="values at 0 (fading)"),
    Field("points", "f8", doc="values (fading)"),
    Field("varied", "i8", doc="1 once a value other than 0 was seen"),
)
State = state_type("State", FIELDS, __name__)
Constants, constants = runs.Constants, runs.constants


@part
def score(st, slot, value, step, c):
    """The score of ``value`` (in the metric's own units) starting or extending a run of zeros,
    in decades over ``score_decades``; then the part learns it (a missing value changes
    nothing)."""
    if math.isnan(value):
        return 0.0
    zero = value == 0.0
    run = st.run[slot] + 1 if zero else 0
    result = 0.0
    if zero and st.varied[slot]:  # a series at 0 since it began has shown no other level
        excess = beyond(run, st.longest[slot])  # from the first zero on a series never at 0
        result = run_score(excess, st.zeros[slot], st.points[slot], c.score_decades)
    memory = memory_points(c.window, step, c.memory_time)
    st.zeros[slot] = fade(st.zeros[slot], memory) + (1.0 if zero else 0.0)
    st.points[slot] = fade(st.points[slot], memory) + 1.0
    if not zero:
        st.longest[slot] = py_max(st.longest[slot], st.run[slot])
        st.varied[slot] = 1
    st.run[slot] = run
    return result


@part
def incident(st, slot, point, step, p):
    """The stack's call (see :data:`detectors.kernel.INCIDENTS`): the value in its own units."""
    return score(st.outage, slot, point.value, step, p.outage)
