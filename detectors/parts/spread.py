"""The series' overall spread: an exponentially weighted variance of the values over about
``long_window`` points (a mean of all points until then), whose standard deviation times
``spread_floor`` floors every other standard deviation: a deviation must matter for the metric,
not only for a near-zero noise level.

Examples
--------
>>> from detectors.layout import allocate
>>> c = constants({"long_window": 100, "spread_floor": 0.1})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> for x in (1.0, 3.0):
...     learn(st, 0, x, c)
>>> variance(st, 0), floor(st, 0, c)
(1.0, 0.1)
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import part, py_max
from detectors.layout import Field, state_type

FIELDS = (
    Field("mean", "f8", initial=math.nan),
    Field("var", "f8"),
    Field("n", "i8", doc="values learned"),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple("Constants", ["alpha", "floor"])


def constants(params) -> Constants:
    return Constants(alpha=1.0 / params["long_window"], floor=float(params["spread_floor"]))


@part
def variance(st, slot):
    """The spread's variance (NaN before any value)."""
    return st.var[slot] if not math.isnan(st.mean[slot]) else math.nan


@part
def floor(st, slot, c):
    """``spread_floor`` times the spread's standard deviation."""
    return c.floor * math.sqrt(py_max(variance(st, slot), 0.0))


@part
def learn(st, slot, x, c):
    st.n[slot] += 1
    if math.isnan(st.mean[slot]):
        st.mean[slot] = x
    else:
        alpha = py_max(c.alpha, 1.0 / st.n[slot])
        delta = x - st.mean[slot]
        st.mean[slot] += alpha * delta
        st.var[slot] = (1 - alpha) * (st.var[slot] + alpha * delta * delta)
