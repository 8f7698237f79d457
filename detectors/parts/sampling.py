"""The series' sampling interval and its gaps.

A series' first ``n_lags`` points are kept until its sampling interval (the median step between
them) is known; that sets the season's length in buckets (``season / step``, none when it is
under 2, at most ``max_season_length``: a series sampled faster keeps buckets of
``season / max_season_length`` seconds, several points each, see
:mod:`detectors.parts.seasonal`), and the forecaster and the seasonal profile start. A
silence longer than ``gap_steps`` intervals is a gap: the lag-based parts restart their windows,
so the first point after it is not mistaken for a jump.

Examples
--------
>>> import numpy as np
>>> c = constants({"n_lags": 3, "gap_steps": 6.0, "season": 86400.0, "max_season_length": 288})
>>> season_length(3600.0, c), season_length(300.0, c), season_length(15.0, c)
(24, 288, 288)
>>> season_length(60000.0, c)  # under two points a season: none
0
>>> from detectors.layout import allocate
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> st.first_times[0] = 0.0, 60.0, 300.0  # steps of 60, 240 and (to 360) 60
>>> median_step(st, 0, 360.0, 3, np.zeros(3))
60.0
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import jit, part, py_round
from detectors.layout import Field, state_type

FIELDS = (
    Field("step", "f8", doc="median sampling interval, 0 until the first n_lags points"),
    Field("last_timestamp", "f8", initial=math.nan),
    Field("n_first", "i8", doc="points kept while the step is unknown"),
    Field("started", "i8", doc="1 once the step is known (the forecaster exists)"),
    Field("first_times", "f8", lambda c: (c.n_lags,), doc="timestamps of the first points"),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple(
    "Constants", ["n_lags", "gap_steps", "season", "max_season_length"]
)


def constants(params) -> Constants:
    return Constants(
        n_lags=params["n_lags"],
        gap_steps=float(params["gap_steps"]),
        season=float(params["season"]),
        max_season_length=params["max_season_length"],
    )


@jit
def season_length(step, c):
    """Buckets per season at ``step``: a point each, but at most ``max_season_length``; 0
    when a season holds under two points."""
    if c.season <= 0 or step <= 0:
        return 0
    ratio = c.season / step
    if not math.isfinite(ratio):
        return 0
    length = py_round(ratio)
    if length < 2 or c.max_season_length < 2:
        return 0
    return int(min(length, c.max_season_length))


@jit
def median_step(st, slot, last_timestamp, n_first, sorted_steps):
    """The median step between the first ``n_first`` points and ``last_timestamp`` (the
    newest), by insertion sort into ``sorted_steps``."""
    times = st.first_times[slot]
    n_steps = n_first
    for k in range(n_steps):
        step = (last_timestamp if k + 1 == n_first else times[k + 1]) - times[k]
        j = k
        while j > 0 and sorted_steps[j - 1] > step:
            sorted_steps[j] = sorted_steps[j - 1]
            j -= 1
        sorted_steps[j] = step
    return sorted_steps[n_steps // 2] if n_steps else 0.0


@part
def season_at_start(st, slot, timestamp, c, sorted_steps):
    """The season length the series takes if its step is learned at this point (0 if not)."""
    n_first = st.n_first[slot]
    if st.started[slot] or n_first + 1 < c.n_lags:
        return 0
    return season_length(median_step(st, slot, timestamp, n_first, sorted_steps), c)


@part
def is_gap(st, slot, timestamp, c):
    """Whether the silence before ``timestamp`` is a gap; then the point is the last one."""
    step = st.step[slot]
    gap = step > 0 and timestamp - st.last_timestamp[slot] > c.gap_steps * step
    st.last_timestamp[slot] = timestamp
    return gap


@part
def keep_first(st, slot, timestamp, c):
    """Keep a first point's timestamp; True once the step can be learned."""
    n_first = st.n_first[slot]
    st.first_times[slot, n_first] = timestamp
    st.n_first[slot] = n_first + 1
    return n_first + 1 >= c.n_lags


@part
def learn_step(st, slot, c, sorted_steps):
    """Learn the step from the first points; returns the season's length."""
    n = c.n_lags
    times = st.first_times[slot]
    step = median_step(st, slot, times[n - 1], n - 1, sorted_steps)
    st.step[slot] = step
    st.started[slot] = 1
    st.n_first[slot] = 0
    return season_length(step, c)


#: The fewest points any warm-up is cut to: a calibration needs some history of its own.
MIN_WARM_UP_POINTS = 24


@part
def warm_up_points(points, step, warm_up_time):
    """A warm-up of ``points`` for a series sampled every ``step`` seconds, cut to
    ``warm_up_time`` seconds of its time (but not under :data:`MIN_WARM_UP_POINTS`): an hourly
    series is useful after a day or two, not after ``points`` hours. 0 for either: points.
    The calibrations' grace and the onset's quiet period (no longer than the warm-up: an
    hourly series that pages from its third day is not kept quiet for eight after an onset)
    are cut by it; series sampled every 5 minutes or faster have more points in two days than
    either.

    >>> warm_up_points(250, 3600.0, 86400.0), warm_up_points(250, 300.0, 86400.0)
    (24, 250)
    """
    if step <= 0.0 or warm_up_time <= 0.0:
        return points
    in_time = int(math.ceil(warm_up_time / step))
    return min(points, max(MIN_WARM_UP_POINTS, in_time))


@part
def memory_points(points, step, memory_time):
    """A memory of ``points`` for a series sampled every ``step`` seconds, lengthened to
    ``memory_time`` seconds of its time: a 15-second series remembers as many hours as a
    5-minute one, so that a one-in-a-memory score is as rare per hour on both. 0 for either:
    points.

    >>> memory_points(200, 15.0, 60000.0), memory_points(200, 3600.0, 60000.0)
    (4000, 200)
    """
    if step <= 0.0 or memory_time <= 0.0:
        return points
    return max(points, int(math.ceil(memory_time / step)))
