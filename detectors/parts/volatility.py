"""The ``volatility`` detector: the forecast surprise averaged over about ``volatility_window``
points (bursts, a changing density of spikes).

Surprises are capped at :data:`SURPRISE_CAP` standard deviations: one wild point must not read
as a burst for the next ``volatility_window`` points.

Examples
--------
>>> import numpy as np
>>> from detectors.layout import allocate
>>> c = constants({"volatility_window": 3})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> [round(learn(st, 0, surprise, c), 3) for surprise in (1.0, 1.0, 40.0)]
[1.0, 1.0, 5.5]
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import part, py_min
from detectors.layout import Field, state_type

NAME = "volatility"
SURPRISE_CAP = 10.0
#: The raw score is at most the cap (its calibration's histogram stops there).
BOUND = SURPRISE_CAP

FIELDS = (Field("mean", "f8", initial=math.nan, doc="EWMean of the capped surprise"),)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple("Constants", ["alpha", "cap"])


def constants(params) -> Constants:
    return Constants(alpha=2.0 / (params["volatility_window"] + 1), cap=SURPRISE_CAP)


@part
def learn(st, slot, surprise, c):
    """Learn ``surprise`` (capped) and return the new average, the raw ``volatility`` score."""
    capped = py_min(surprise, c.cap)
    if math.isnan(st.mean[slot]):
        st.mean[slot] = capped
    else:
        st.mean[slot] += c.alpha * (capped - st.mean[slot])
    return st.mean[slot]


@part
def raw(st, slot, point, scratch, p):
    """The raw ``volatility`` score of the point (see :data:`detectors.kernel.Point`)."""
    return learn(st.volatility, slot, point.surprise, p.volatility)
