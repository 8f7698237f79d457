"""The series' own origin and unit: every other part sees ``(x - offset) / unit``.

The offset is the series' first value and the unit the size of its first change (until the
series changes every value equals the offset, and is 0 in any unit). A memory gauge at
``1e9 +- 1`` is then seen as the same ``+- 1`` series as one at 0, and a byte count as the same
series as its gibibytes: scores and alerts do not depend on where a metric's zero is or what
its unit is (to rounding). Without it the forecaster's scale (the mean absolute value) hid the
variation of a gauge far from 0 under its ridge, and fixed floors (``1e-9``, ``1e-6``) were
large or small depending on the unit. Values the stack reports in the metric's unit (the
expected value and band) go back through :func:`uncenter`.

Examples
--------
>>> from detectors.layout import allocate
>>> c = constants({})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> [center(st, 0, x) for x in (1e9, 1e9, 1e9 + 2, 1e9 - 1)]
[0.0, 0.0, 1.0, -0.5]
>>> uncenter(st, 0, -0.5)
999999999.0
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import part
from detectors.layout import Field, state_type

FIELDS = (
    Field("offset", "f8", initial=math.nan, doc="the first value (NaN before it)"),
    Field("unit", "f8", initial=math.nan, doc="the first change's size (NaN before it)"),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple("Constants", [])


def constants(params) -> Constants:
    return Constants()


@part
def center(st, slot, x):
    """``x`` in the series' own origin and unit; learns them from the first values."""
    if not math.isfinite(x):
        return x
    offset = st.offset[slot]
    if math.isnan(offset):
        st.offset[slot] = x
        return 0.0
    change = x - offset
    unit = st.unit[slot]
    if math.isnan(unit):
        if change == 0.0:
            return 0.0
        unit = abs(change)
        st.unit[slot] = unit
    return change / unit


@part
def uncenter(st, slot, centered):
    """A value the other parts computed, back in the metric's unit."""
    unit = st.unit[slot]
    offset = st.offset[slot]
    return (0.0 if math.isnan(offset) else offset) + centered * (1.0 if math.isnan(unit) else unit)
