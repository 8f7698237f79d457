"""The range break: how far a value lies out of the range of about the last ``long_window``
values, in units of that range (0 inside it), calibrated as the detectors are.

A new extreme is evidence on its own (NAB's HTM detector has the same "spatial anomaly" rule):
its score replaces the combined one when higher. The range is kept as the maxima of ``BLOCKS``
blocks of the values and of their negatives (:func:`~detectors.compiled.blocked_max`): the last
``long_window`` values (or ``memory_time`` of the series' time, if longer) to within one block.

Examples
--------
>>> from detectors.layout import allocate
>>> c = constants({"long_window": 100, "range_break": True, "memory_time": 0.0})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> [raw_score(st, 0, x, 60.0, c) for x in (1.0, 3.0, 2.0, 7.0, -1.0)]
[0.0, 0.0, 0.0, 2.0, 0.3333333333333333]
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import blocked_max, blocked_update, part, py_max
from detectors.layout import Field, state_type
from detectors.parts.sampling import memory_points

BLOCKS = 10

FIELDS = (
    Field("n", "i8", doc="values learned"),
    Field("bounds", "f8", (2, BLOCKS), initial=-math.inf, doc="blocks' negated lows, highs"),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple("Constants", ["enabled", "window", "memory_time"])


def constants(params) -> Constants:
    return Constants(
        enabled=bool(params["range_break"]),
        window=params["long_window"],
        memory_time=float(params["memory_time"]),
    )


@part
def raw_score(st, slot, x, step, c):
    """How far ``x`` lies out of the range, in units of the range; then the range learns it.
    The range spans ``long_window`` values of a series sampled every ``step`` seconds, or
    ``memory_time`` of its time if longer (:func:`~detectors.parts.sampling.memory_points`)."""
    block_size = max(memory_points(c.window, step, c.memory_time) // BLOCKS, 1)
    negated_lows = st.bounds[slot, 0]
    highs = st.bounds[slot, 1]
    n = st.n[slot]
    raw = 0.0
    if n > 0:
        low = -blocked_max(negated_lows, n)
        high = blocked_max(highs, n)
        if high > low:
            raw = py_max(py_max(0.0, x - high), low - x) / (high - low)
    if not math.isnan(x):
        blocked_update(highs, n, block_size, x)
        blocked_update(negated_lows, n, block_size, -x)
        st.n[slot] = n + 1
    return raw
