"""The usual value at this time of ``season`` (a day): a profile of ``length`` buckets, each an
exponentially weighted mean and mean absolute deviation of the values that fell in it, trusted
after ``MIN_CYCLES`` visits.

The profile lives in the bank's season pool, in the series' segment
``[history (length + 1) | means (length) | absolute deviations (length)]`` of float32 (the
first part is the forecaster's, see :mod:`detectors.parts.forecaster`) and ``length`` uint16
counts. The means are float32 offsets from the first mean stored (``anchor``,
:func:`~detectors.compiled.store_offset`), so a boot-time gauge of 1.7e9 reads back exactly.

Examples
--------
>>> import numpy as np
>>> from detectors.layout import allocate
>>> c = constants({"season": 4.0})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> st.length[0] = 4  # a season of 4 points, its segment at the start of the pools
>>> floats, counts = np.zeros(13, np.float32), np.zeros(4, np.uint16)
>>> for t in range(12):
...     learn(st, 0, floats, counts, float(t), 10.0 * (t % 4), c)
>>> predict(st, 0, floats, counts, 14.0, c)
20.0
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

MIN_CYCLES = 2

FIELDS = (
    Field("length", "i8", doc="buckets per season, 0: no season"),
    Field("float_offset", "i8", doc="start of the series' segment in the float pool"),
    Field("count_offset", "i8", doc="start of the series' segment in the count pool"),
    Field("anchor", "f8", initial=math.nan, doc="the means' float32 offsets are from it"),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple("Constants", ["season", "alpha", "min_cycles"])


def constants(params) -> Constants:
    return Constants(season=float(params["season"]), alpha=0.3, min_cycles=MIN_CYCLES)


@jit
def bucket(timestamp, period, n_buckets):
    """The bucket of ``timestamp`` among ``n_buckets`` of the ``period``, multiplied before it
    is divided, so that a point on a bucket's boundary is in that bucket: dividing first put
    83 of a day's 1,440 minutes into the bucket before theirs (left empty), e.g. 00:13.

    >>> bucket(780.0, 86400.0, 1440), int(780.0 / 86400.0 * 1440)
    (13, 12)
    """
    return int(py_mod(timestamp, period) * n_buckets / period) % n_buckets


@part
def predict(st, slot, floats, counts, timestamp, c):
    """The usual value at ``timestamp`` (NaN while its bucket is not trusted)."""
    length = st.length[slot]
    b = bucket(timestamp, c.season, length)
    if counts[st.count_offset[slot] + b] >= c.min_cycles:
        return load_offset(st.anchor[slot], floats, st.float_offset[slot] + length + 1 + b)
    return math.nan


@part
def scores(st, slot, floats, counts, timestamp, x, min_std, c):
    """How unusual ``x`` is in its bucket, in (floored) standard deviations: the best of the
    bucket and its two neighbours, and the bucket's own score (NaN where not trusted)."""
    length = st.length[slot]
    means = st.float_offset[slot] + length + 1
    abs_devs = means + length
    first_count = st.count_offset[slot]
    at = bucket(timestamp, c.season, length)
    best = own = math.nan
    for offset in (0, -1, 1):
        b = (at + offset + length) % length
        if counts[first_count + b] < c.min_cycles:
            continue
        mean = load_offset(st.anchor[slot], floats, means + b)
        std = py_max(np.float64(floats[abs_devs + b]) * MAD_TO_SIGMA, min_std)
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
    mean_at = st.float_offset[slot] + length + 1 + b
    abs_dev_at = mean_at + length
    count_at = st.count_offset[slot] + b
    count = counts[count_at]
    if count == 0:
        store_offset(st.anchor, slot, floats, mean_at, x)
    else:
        mean = load_offset(st.anchor[slot], floats, mean_at)
        abs_dev = np.float64(floats[abs_dev_at])
        deviation = x - mean
        floats[abs_dev_at] = to_float32(abs_dev + c.alpha * (abs(deviation) - abs_dev))
        store_offset(st.anchor, slot, floats, mean_at, mean + c.alpha * deviation)
    if count < UINT16_MAX:
        counts[count_at] = count + 1
