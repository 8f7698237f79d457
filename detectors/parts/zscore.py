"""The rolling z-score over the last ``window_size`` values (mean and variance by Welford's
update, with the oldest value taken back out), and the ``zscore`` detector's floored z-score.

Examples
--------
>>> from detectors.layout import allocate
>>> c = constants({"window_size": 3})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> for x in (1.0, 2.0, 3.0, 4.0):
...     learn(st, 0, x, c)
>>> float(st.mean[0]), std(st, 0), score(st, 0, 5.0, c)
(3.0, 1.0, 2.0)
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import part, py_max
from detectors.layout import Field, state_type

FIELDS = (
    Field("mean", "f8"),
    Field("m2", "f8", doc="sum of squared deviations (Welford)"),
    Field("n", "i8", doc="values in the window"),
    Field("head", "i8", doc="ring position of the oldest value"),
    Field("window", "f8", lambda c: (c.window_size,)),
)
NAME = "zscore"
BOUND = None
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple("Constants", ["window_size", "min_std", "min_surprise"])


def constants(params) -> Constants:
    return Constants(
        window_size=params["window_size"],
        min_std=1e-6,
        min_surprise=float(params.get("min_surprise", 3.0)),
    )


@part
def std(st, slot):
    """The window's standard deviation (NaN under two values)."""
    n = st.n[slot]
    if n - 1 <= 0:
        return math.nan
    return math.sqrt(py_max(st.m2[slot], 0.0) / (n - 1))


@part
def mean(st, slot):
    return st.mean[slot] if st.n[slot] > 0 else math.nan


@part
def score(st, slot, x, c):
    """The signed z-score of ``x`` (0 under two values)."""
    if st.n[slot] < 2:
        return 0.0
    m = mean(st, slot)
    return (x - m) / py_max(std(st, slot), c.min_std * py_max(1.0, abs(m)))


@part
def floored_score(st, slot, x, floor):
    """``|z|`` with the standard deviation floored at ``floor``, 0 where it means nothing."""
    m = mean(st, slot)
    s = std(st, slot)
    s = 0.0 if math.isnan(s) else s
    if s == 0.0 and floor == 0.0 or math.isnan(m):
        return 0.0
    floored = py_max(s, floor)
    return abs(x - m) / floored if floored > 0 else 0.0


@part
def raw(st, slot, point, scratch, p):
    """The raw ``zscore`` score: the floored z-score beyond ``min_surprise``."""
    c = p.zscore
    return py_max(0.0, floored_score(st.zscore, slot, point.x, point.floor) - c.min_surprise)


@part
def restart(st, slot):
    """Forget the window (after a gap)."""
    st.n[slot] = 0
    st.head[slot] = 0
    st.mean[slot] = 0.0
    st.m2[slot] = 0.0


@part
def learn(st, slot, x, c):
    """Push ``x`` into the window, the oldest value out."""
    w = c.window_size
    window = st.window[slot]
    n = st.n[slot]
    head = st.head[slot]
    m = st.mean[slot]
    m2 = st.m2[slot]
    if n == w:
        old = window[head]
        head = (head + 1) % w
        n -= 1
        if n == 0:
            m = 0.0
            m2 = 0.0
        else:
            mean_after = ((n + 1) * m - old) / n
            m2 -= (old - m) * (old - mean_after)
            m = mean_after
    window[(head + n) % w] = x
    n += 1
    delta = x - m
    m += delta / n
    m2 += delta * (x - m)
    st.n[slot] = n
    st.head[slot] = head
    st.mean[slot] = m
    st.m2[slot] = m2
