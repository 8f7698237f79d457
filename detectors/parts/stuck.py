"""A stuck value: the series repeats its last value exactly for longer than it ever did, on a
series that rarely repeats itself (a flat-lined exporter, a frozen gauge, a counter's rate that
stopped being computed).

The part counts, with a fading memory of ``long_window`` points (or ``memory_time`` of the
series' time, if longer), how often a value equals the one before, and remembers the longest
run of equal values that ended; the current run's score is :func:`~detectors.parts.runs.run_score`
of its points beyond twice that longest run (and beyond ``MIN_RUN``).
A constant gauge, a replica count or sparse error counts repeat themselves all the time: their
runs are not surprising (nor is any run of a series that never changed: its rate of repeats
fades towards 1 but never shows a change). A noisy gauge that holds the same value to the last
bit for three samples is.

Examples
--------
>>> from detectors.layout import allocate
>>> c = constants({"long_window": 1000, "memory_time": 0.0, "score_decades": 6.0})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> noisy = [float(k % 7) + k / 1000 for k in range(500)]  # never the same value twice
>>> _ = [score(st, 0, x, 60.0, c) for x in noisy]
>>> [round(score(st, 0, 3.5, 60.0, c), 2) for _ in range(5)]  # then stuck at 3.5
[0.0, 0.0, 0.38, 0.71, 1.0]
"""

from __future__ import annotations

import math

from detectors.compiled import part, py_max, py_min
from detectors.layout import Field, state_type
from detectors.parts import runs
from detectors.parts.runs import MIN_RUN, beyond, fade, run_score
from detectors.parts.sampling import memory_points

NAME = "stuck"

FIELDS = (
    Field("last", "f8", initial=math.nan, doc="the previous value"),
    Field("run", "i8", doc="points in the current run of equal values"),
    Field("longest", "i8", doc="the longest run that ended"),
    Field("repeats", "f8", doc="values equal to the previous one (fading)"),
    Field("points", "f8", doc="values after a previous one (fading)"),
)
State = state_type("State", FIELDS, __name__)
Constants, constants = runs.Constants, runs.constants


@part
def score(st, slot, x, step, c):
    """The score of ``x`` ending or extending the run, in decades over ``score_decades``; then
    the part learns it (a missing value changes nothing)."""
    if math.isnan(x):
        return 0.0
    last = st.last[slot]
    repeated = x == last
    run = st.run[slot] + 1 if repeated else 1
    result = 0.0
    if st.longest[slot] > 0:  # a series constant since it began has never shown it varies
        excess = py_min(beyond(run, st.longest[slot]), run - MIN_RUN)
        result = run_score(excess, st.repeats[slot], st.points[slot], c.score_decades)
    if not math.isnan(last):
        memory = memory_points(c.window, step, c.memory_time)
        st.repeats[slot] = fade(st.repeats[slot], memory) + (1.0 if repeated else 0.0)
        st.points[slot] = fade(st.points[slot], memory) + 1.0
    if not repeated:
        st.longest[slot] = py_max(st.longest[slot], st.run[slot])
    st.run[slot] = run
    st.last[slot] = x
    return result


@part
def incident(st, slot, point, step, p):
    """The stack's call (see :data:`detectors.kernel.INCIDENTS`): the value in its own units
    (a repeat is exact there; centred, two close values could round to one)."""
    return score(st.stuck, slot, point.value, step, p.stuck)
