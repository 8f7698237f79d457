"""The surprise: the forecast residual in residual standard deviations, floored at the spread
floor, unless the seasonal profile explains the value.

A slow excursion (a memory leak's ramp) fools the lags and the season alike: the lags follow it
and the season's previous bucket has just learned it. Its end, a jump back to the usual level,
is a change the lags did not expect, and the season must not excuse it
(``return_is_surprise``). "Unusual" is judged in the point's own bucket only (learned a period
ago), which a lasting deviation has not taught yet. And it is a return only if the usual level
itself moved less than the deviation undone: a nightly job starting on a quiet Saturday is the
season's own step, not a return. The state is the previous point's usual value and, if the
season did not explain that point, how far it was from it.

Examples
--------
>>> from detectors.layout import allocate
>>> c = constants({"min_surprise": 3.0, "return_is_surprise": True})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> excused(st, 0, 10.0, 8.0, 8.0, 100.0, 108.0, c)  # the season explains it: min(10, 8)
8.0
>>> excused(st, 0, 9.0, 1.0, 1.0, 100.0, 100.0, c)  # back to the usual level: a return
9.0
>>> excused(st, 0, 5.0, 1.0, 1.0, 100.0, 101.0, c)  # usual again
1.0
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import part, py_min
from detectors.layout import Field, state_type

FIELDS = (
    Field("previous_usual", "f8", initial=math.nan),
    Field("previous_deviation", "f8", doc="0 when the season explained the previous point"),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple("Constants", ["min_surprise", "return_is_surprise"])


def constants(params) -> Constants:
    return Constants(
        min_surprise=float(params["min_surprise"]),
        return_is_surprise=bool(params["return_is_surprise"]),
    )


@part
def excused(st, slot, surprise, seasonal, own, usual, x, c):
    """``surprise`` unless the season explains ``x``: ``seasonal`` is the best score of its
    bucket and the neighbours, ``own`` its bucket's, ``usual`` its bucket's mean."""
    returning = False
    if c.return_is_surprise:
        unusual = own > c.min_surprise  # False while the bucket is unknown (NaN)
        returning = not unusual and (
            abs(usual - st.previous_usual[slot]) < abs(st.previous_deviation[slot])
        )
        st.previous_usual[slot] = usual
        st.previous_deviation[slot] = x - usual if unusual else 0.0
    if not math.isnan(seasonal) and not returning:
        return py_min(surprise, seasonal)
    return surprise


@part
def restart(st, slot):
    """After a gap there is no previous point to return from."""
    st.previous_deviation[slot] = 0.0
