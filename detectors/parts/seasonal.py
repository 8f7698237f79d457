"""The usual value at this time of ``season`` (a day): a profile of ``length`` buckets of fixed
time (``season / length`` seconds each: at most ``max_season_length`` a season, never finer
than the sampling interval), each an exponentially weighted mean and mean absolute deviation
of the values that fell in it, trusted after ``MIN_CYCLES`` seasons.

A 15-second, a 1-minute and a 5-minute series keep the same 288 buckets a day (4 KB with the
forecaster's season history). A bucket of a series sampled faster than its width sees
``points_per_bucket`` values a season (5 a day for a 1-minute series): each weighs ``1 - (1 -
alpha) ** (1 / points_per_bucket)`` (``alpha_of``), so that a season weighs what it does at 5
minutes, and the bucket is trusted after ``MIN_CYCLES`` seasons' worth of values. Its mean
then stands for the time where its values fall on average (``center``, in buckets from its
start): the usual value and spread between two buckets' are interpolated, so that a 1-minute
series' daily ramp is not a staircase of 5-minute steps. A series with one point per bucket
(5-minute, hourly) reads its buckets as they are.

The profile lives in the bank's season pool, in the series' segment
``[history (length + 2) | means (length) | absolute deviations (length)]`` of float32 (the
first part is the forecaster's, see :mod:`detectors.parts.forecaster`) and ``length`` uint16
counts. The means are float32 offsets from the first mean stored (``anchor``,
:func:`~detectors.compiled.store_offset`), so a boot-time gauge of 1.7e9 reads back exactly.

Examples
--------
>>> import numpy as np
>>> from detectors.layout import allocate
>>> c = constants({"season": 4.0})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> start(st, 0, 4, 1.0, c)  # a season of 4 buckets, its segment at the start of the pools
>>> floats, counts = np.zeros(segment_floats(4), np.float32), np.zeros(4, np.uint16)
>>> for t in range(12):
...     learn(st, 0, floats, counts, float(t), 10.0 * (t % 4), c)
>>> predict(st, 0, floats, counts, 14.0, c)
20.0

A 15-second series: 20 points a bucket, each weighing a twentieth of a day's 0.3, trusted
after two days' 40; the usual value halfway between two buckets' means is their mean.

>>> start(st, 0, 288, 15.0, constants({"season": 86400.0}))
>>> round(float(st.alpha[0]), 4), int(st.min_count[0]), round(float(st.center[0]), 3)
(0.0177, 40, 0.475)
"""

from __future__ import annotations

import collections
import math

import numpy as np

from detectors.compiled import (
    MAD_TO_SIGMA,
    UINT16_MAX,
    jit,
    load_offset,
    part,
    py_max,
    py_mod,
    store_offset,
    to_float32,
)
from detectors.layout import Field, state_type
from detectors.parts.forecaster import history_size

MIN_CYCLES = 2

FIELDS = (
    Field("length", "i8", doc="buckets per season, 0: no season"),
    Field("float_offset", "i8", doc="start of the series' segment in the float pool"),
    Field("count_offset", "i8", doc="start of the series' segment in the count pool"),
    Field("anchor", "f8", initial=math.nan, doc="the means' float32 offsets are from it"),
    Field("alpha", "f8", initial=math.nan, doc="the weight of a value in its bucket"),
    Field("min_count", "i8", doc="values a bucket learns before it is trusted"),
    Field("center", "f8", doc="where a bucket's values fall on average, in buckets"),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple("Constants", ["season", "alpha", "min_cycles"])


def constants(params) -> Constants:
    return Constants(season=float(params["season"]), alpha=0.3, min_cycles=MIN_CYCLES)


@jit
def segment_floats(length):
    """Floats of a series' segment of the pool for a season of ``length`` buckets."""
    return history_size(length) + 2 * length if length else 0


@jit
def points_per_bucket(season, step, length):
    """Points of a series sampled every ``step`` seconds that fall in one of ``length``
    buckets a season (1 at least: a series sampled slower has a bucket per point)."""
    if length <= 0 or step <= 0:
        return 1.0
    return py_max(season / step / length, 1.0)


@jit
def alpha_of(alpha, points):
    """The weight of each of ``points`` values a bucket sees a season, so that they weigh
    ``alpha`` together: a season weighs as much at every sampling interval.

    >>> alpha_of(0.3, 1.0), round(alpha_of(0.3, 5.0), 4)
    (0.3, 0.0689)
    >>> round(1 - (1 - alpha_of(0.3, 5.0)) ** 5, 4)  # five points weigh a day's 0.3
    0.3
    """
    if points <= 1.0:
        return alpha
    return 1 - (1 - alpha) ** (1 / points)


@part
def start(st, slot, length, step, c):
    """A profile of ``length`` buckets (0: none) for a series sampled every ``step``
    seconds: the weight of a value, the values a bucket needs and where they fall."""
    points = points_per_bucket(c.season, step, length)
    st.length[slot] = length
    st.anchor[slot] = math.nan
    st.alpha[slot] = alpha_of(c.alpha, points)
    st.min_count[slot] = int(math.ceil(c.min_cycles * points))
    st.center[slot] = (1 - 1 / points) / 2


@jit
def phase(timestamp, period, n_buckets):
    """Where ``timestamp`` falls in the ``period``, in buckets of ``n_buckets`` (its whole part
    is :func:`bucket`'s)."""
    return py_mod(timestamp, period) * n_buckets / period


@jit
def bucket(timestamp, period, n_buckets):
    """The bucket of ``timestamp`` among ``n_buckets`` of the ``period``, multiplied before it
    is divided, so that a point on a bucket's boundary is in that bucket: dividing first put
    83 of a day's 1,440 minutes into the bucket before theirs (left empty), e.g. 00:13.

    >>> bucket(780.0, 86400.0, 1440), int(780.0 / 86400.0 * 1440)
    (13, 12)
    """
    return int(phase(timestamp, period, n_buckets)) % n_buckets


@part
def _usual(st, slot, floats, counts, timestamp, c):
    """The bucket of ``timestamp``, whether it is trusted, and the usual value and mean
    absolute deviation there: between the bucket's and its neighbour's where the bucket holds
    several points a season (its mean stands at ``center``), the bucket's own otherwise."""
    length = st.length[slot]
    means = st.float_offset[slot] + history_size(length)
    first_count = st.count_offset[slot]
    min_count = st.min_count[slot]
    where = phase(timestamp, c.season, length)
    b = int(where) % length
    if counts[first_count + b] < min_count:
        return b, False, math.nan, math.nan
    anchor = st.anchor[slot]
    mean = load_offset(anchor, floats, means + b)
    abs_dev = np.float64(floats[means + length + b])
    center = st.center[slot]
    w = where - math.floor(where) - center
    if center == 0.0 or w == 0.0:
        return b, True, mean, abs_dev
    other = (b + (1 if w > 0 else -1) + length) % length
    if counts[first_count + other] < min_count:
        return b, True, mean, abs_dev
    w = abs(w)
    other_mean = load_offset(anchor, floats, means + other)
    other_dev = np.float64(floats[means + length + other])
    return b, True, mean + w * (other_mean - mean), abs_dev + w * (other_dev - abs_dev)


@part
def predict(st, slot, floats, counts, timestamp, c):
    """The usual value at ``timestamp`` (NaN while its bucket is not trusted)."""
    return _usual(st, slot, floats, counts, timestamp, c)[2]


@part
def scores(st, slot, floats, counts, timestamp, x, min_std, c, spread=1.0):
    """How unusual ``x`` is at its time, in (floored) standard deviations: the best of its
    time's usual value and its bucket's two neighbours', and its time's own score (NaN where
    not trusted). ``spread`` narrows the buckets' deviations (the weekly season's, which fits
    better: see :mod:`detectors.parts.weekly`)."""
    length = st.length[slot]
    means = st.float_offset[slot] + history_size(length)
    abs_devs = means + length
    first_count = st.count_offset[slot]
    at, trusted, own_mean, own_dev = _usual(st, slot, floats, counts, timestamp, c)
    best = own = math.nan
    for offset in (0, -1, 1):
        if offset == 0:
            if not trusted:
                continue
            mean, abs_dev = own_mean, own_dev
        else:
            b = (at + offset + length) % length
            if counts[first_count + b] < st.min_count[slot]:
                continue
            mean = load_offset(st.anchor[slot], floats, means + b)
            abs_dev = np.float64(floats[abs_devs + b])
        std = py_max(abs_dev * MAD_TO_SIGMA * spread, min_std)
        if std <= 0:
            score = 0.0 if x == mean else math.inf
        else:
            score = abs(x - mean) / std
        if offset == 0:
            own = score
        if not score >= best:
            best = score
    return best, own


@part
def learn(st, slot, floats, counts, timestamp, x, c):
    length = st.length[slot]
    b = bucket(timestamp, c.season, length)
    mean_at = st.float_offset[slot] + history_size(length) + b
    abs_dev_at = mean_at + length
    count_at = st.count_offset[slot] + b
    count = counts[count_at]
    if count == 0:
        store_offset(st.anchor, slot, floats, mean_at, x)
    else:
        mean = load_offset(st.anchor[slot], floats, mean_at)
        abs_dev = np.float64(floats[abs_dev_at])
        deviation = x - mean
        alpha = st.alpha[slot]
        floats[abs_dev_at] = to_float32(abs_dev + alpha * (abs(deviation) - abs_dev))
        store_offset(st.anchor, slot, floats, mean_at, mean + alpha * deviation)
    if count < UINT16_MAX:
        counts[count_at] = count + 1
