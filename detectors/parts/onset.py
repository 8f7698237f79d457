"""The onset rule: a combined score is reported (``anomaly_score``) only where it beats the
highest of about the last ``refractory`` combined scores by more than ``onset_margin``, so that
an incident is reported when it starts, not at every point.

The maximum is kept in at most ``BLOCKS`` blocks (:func:`~detectors.compiled.blocked_max`):
the last 181 to 200 of 200 scores in 10 floats. With ``refractory_time``, the refractory period
is that much of the series' time, whatever its sampling interval (the blocks grow or shrink:
:func:`refractory_points`), so that a 15-second series is quiet after an onset as long as a
5-minute one, and an hourly one no longer (``refractory`` points only while the step is
unknown, or with ``refractory_time`` 0).

Examples
--------
>>> from detectors.layout import allocate
>>> c = constants({"refractory": 4, "onset_margin": 0.0, "refractory_time": 0.0,
...                "warm_up_time": 0.0})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> onsets = []
>>> for score in (0.1, 0.5, 0.3, 0.5, 0.6, 0.2, 0.2, 0.2, 0.2, 0.2, 0.3):
...     onsets.append(is_onset(st, 0, score, c))
...     learn(st, 0, score, 60.0, c)
>>> onsets
[True, True, False, False, True, False, False, False, False, False, True]

In time: 10 minutes of a 1-minute series (10 points, not 4), so the 0.5 is still recent six
points later:

>>> c = constants({"refractory": 4, "onset_margin": 0.0, "refractory_time": 600.0,
...                "warm_up_time": 0.0})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> onsets = []
>>> for score in (0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.3, 0.6):
...     onsets.append(is_onset(st, 0, score, c))
...     learn(st, 0, score, 60.0, c)
>>> onsets
[True, False, False, False, False, False, False, True]
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import blocked_max, blocked_update, part
from detectors.layout import Field, state_type
from detectors.parts.sampling import warm_up_points

BLOCKS = 10


def geometry(refractory: int) -> tuple[int, int]:
    """``(block_size, n_blocks)`` of the maximum of about the last ``refractory`` scores."""
    window = max(refractory, 1)
    n_blocks = min(BLOCKS, window)
    return max(window // n_blocks, 1), n_blocks


FIELDS = (
    Field("n", "i8", doc="scores learned"),
    Field("blocks", "f8", lambda c: (c.n_blocks,), initial=-math.inf, doc="block maxima"),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple(
    "Constants",
    ["refractory", "margin", "block_size", "n_blocks", "refractory_time", "warm_up_time"],
)


def constants(params) -> Constants:
    block_size, n_blocks = geometry(params["refractory"])  # in points (before the step is known)
    return Constants(
        refractory=params["refractory"],
        margin=float(params["onset_margin"]),
        block_size=block_size,
        n_blocks=n_blocks,
        refractory_time=float(params["refractory_time"]),
        warm_up_time=float(params["warm_up_time"]),
    )


@part
def is_onset(st, slot, combined, c):
    n = st.n[slot]
    return not (
        c.refractory != 0 and n != 0 and combined <= blocked_max(st.blocks[slot], n) + c.margin
    )


@part
def refractory_points(step, c):
    """The refractory period in points of a series sampled every ``step`` seconds:
    ``refractory_time`` of its time (``refractory`` points while the step is unknown, or
    with ``refractory_time`` 0), no longer than its warm-up
    (:func:`~detectors.parts.sampling.warm_up_points`).

    >>> c = constants({"refractory": 200, "onset_margin": 0.02, "refractory_time": 60000.0,
    ...                "warm_up_time": 172800.0})
    >>> [refractory_points(step, c) for step in (15.0, 60.0, 300.0, 3600.0, 0.0)]
    [4000, 1000, 200, 17, 200]
    """
    window = max(c.refractory, 1)
    if c.refractory_time > 0.0 and step > 0.0:
        window = max(int(math.ceil(c.refractory_time / step)), 1)
    return warm_up_points(window, step, c.warm_up_time)


@part
def learn(st, slot, combined, step, c):
    """Learn the combined score of a series sampled every ``step`` seconds."""
    window = refractory_points(step, c)
    block_size = max(window // c.n_blocks, 1)
    blocked_update(st.blocks[slot], st.n[slot], block_size, combined)
    st.n[slot] += 1
