"""Raw scores as tail probabilities on the series' own history (one calibrator per detector,
one for the recalibration of the combined score, one for the range break).

Each calibrator keeps an exponentially fading histogram of past raw scores on a grid of
``log1p(score)`` (``N_BINS`` bins up to ``MAX_SCORE``) and answers "how often was the score at
least this high?", interpolating inside a bin; a score above everything seen gets
``1 / (n_effective + 1)`` shrunk by how far it exceeds the highest bin seen
(``record_gain``), so that bigger surprises still rank higher. Bounded raw scores (the
volatility's, capped at the surprise cap) never reach the bins past their bound, so their
histograms stop there. The recalibrator learns the combined evidence unbounded (not cut at
``score_decades``): at fast sampling the detectors agree beyond it every day, and a bound would
put an incident in the same top bin as the noise's records (its histogram stops at
:data:`MAX_DECADES`). The counts are float32, added in
float64; the new scores' weights grow (fading the old ones) and everything is scaled back at
:data:`RESCALE_AT`.

Examples
--------
>>> import numpy as np
>>> from detectors.layout import allocate
>>> c = constants({"detectors": ("forecast",), "range_break": False, "long_window": 1000,
...                "record_gain": 4.0, "grace_period": 100, "recalibration_grace": 100,
...                "bounds": {"forecast": None}, "warm_up_time": 86400.0, "memory_time": 0.0,
...                "score_decades": 6.0})
>>> c.bins  # the forecast's histogram, then the recalibrator's (up to 50: 300 decades)
(128, 37)
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> rng = np.random.default_rng(0)
>>> for raw in np.abs(rng.normal(0, 1, 2000)):
...     learn(st, 0, 0, raw, 60.0, c)
>>> round(tail(st, 0, 0, 1.0, 60.0, c), 2), round(tail(st, 0, 0, 2.0, 60.0, c), 2)
(0.33, 0.05)
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import part, py_max, py_min
from detectors.layout import Field, state_type
from detectors.parts.sampling import memory_points, warm_up_points

#: The weights of new scores grow; at this weight every count is scaled back (float32 counts
#: hold up to 3.4e38, so a histogram of a long memory still fits below it).
RESCALE_AT = 1e30
N_BINS = 128
MAX_SCORE = 1e6
#: The most decades of improbability a score holds (:func:`~detectors.compiled.decades` reads
#: a tail probability under 1e-300 as 1e-300): the recalibrator's bound, over ``score_decades``.
MAX_DECADES = 300.0

FIELDS = (
    Field("counts", "f4", lambda c: (sum(c.bins),), doc="the histograms, end to end"),
    Field("total", "f8", lambda c: (len(c.bins),), doc="each histogram's mass"),
    Field("weight", "f8", lambda c: (len(c.bins),), initial=1.0, doc="a new score's weight"),
    Field("n", "i8", lambda c: (len(c.bins),), doc="scores learned"),
    Field("top", "i8", lambda c: (len(c.bins),), initial=-1, doc="highest bin learned"),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple(
    "Constants",
    [
        "memory",
        "record_gain",
        "bin_width",
        "starts",
        "bins",
        "graces",
        "memory_time",
        "warm_up_time",
    ],
)


def calibrator_names(params) -> tuple[str, ...]:
    """The calibrators, in order: the detectors' (each once), the recalibrator, the range's."""
    names = tuple(dict.fromkeys(params["detectors"]))
    return (*names, "recalibration", *(("range",) if params["range_break"] else ()))


def constants(params) -> Constants:
    bin_width = math.log1p(MAX_SCORE) / N_BINS
    # the detectors' bounds (see detectors.kernel.DETECTORS); the combined evidence's: at most
    # MAX_DECADES decades (a tail probability of 1e-300)
    bounds = {
        **params.get("bounds", {}),
        "recalibration": MAX_DECADES / float(params["score_decades"]),
    }
    names = calibrator_names(params)
    bins = tuple(
        math.ceil(math.log1p(bounds[n]) / bin_width) if bounds.get(n) else N_BINS for n in names
    )
    starts = tuple(sum(bins[:k]) for k in range(len(bins)))
    graces = tuple(
        params["recalibration_grace"] if n == "recalibration" else params["grace_period"]
        for n in names
    )
    memory = params["long_window"]
    return Constants(
        memory=memory,
        record_gain=float(params["record_gain"]),
        bin_width=bin_width,
        starts=starts,
        bins=bins,
        graces=graces,
        memory_time=float(params["memory_time"]),
        warm_up_time=float(params["warm_up_time"]),
    )


@part
def _position(raw, which, c):
    if not raw > 0.0:  # also NaN
        return 0.0
    return py_min(math.log1p(raw) / c.bin_width, c.bins[which] - 1e-9)


@part
def _histogram(st, slot, which, c):
    """Calibrator ``which``'s histogram in ``slot``'s row of counts."""
    start = c.starts[which]
    return st.counts[slot, start : start + c.bins[which]]


@part
def memory(step, c):
    """The memory in scores of a series sampled every ``step`` seconds: ``long_window`` scores,
    or ``memory_time`` of the series' time if longer (see
    :func:`~detectors.parts.sampling.memory_points`)."""
    return memory_points(c.memory, step, c.memory_time)


@part
def tail(st, slot, which, raw, step, c):
    """The tail probability of ``raw`` under calibrator ``which`` (1 during its grace, in time
    for a series sampled every ``step`` seconds: see
    :func:`~detectors.parts.sampling.warm_up_points`)."""
    n = st.n[slot, which]
    total = st.total[slot, which]
    if n < warm_up_points(c.graces[which], step, c.warm_up_time) or total <= 0:
        return 1.0
    position = _position(raw, which, c)
    index = int(position)
    top = st.top[slot, which]
    floor = 1.0 / (min(n, memory(step, c)) + 1)
    if index > top:
        top_edge = (top + 1) * c.bin_width
        return floor * math.exp(c.record_gain * (top_edge - position * c.bin_width))
    counts = _histogram(st, slot, which, c)
    above = 0.0  # left to right, as Python's sum of a list
    for b in range(index + 1, top + 1):
        above += counts[b]
    above += counts[index] * ((index + 1) - position)
    return py_max(above / total, floor)


@part
def learn(st, slot, which, raw, step, c):
    """Calibrator ``which`` of a series sampled every ``step`` seconds learns ``raw``."""
    index = int(_position(raw, which, c))
    counts = _histogram(st, slot, which, c)
    weight = st.weight[slot, which]
    counts[index] = counts[index] + weight  # float32 counts, added in float64
    st.total[slot, which] += weight
    if index > st.top[slot, which]:
        st.top[slot, which] = index
    st.n[slot, which] += 1
    weight *= 1.0 / (1.0 - 1.0 / memory(step, c))
    if weight > RESCALE_AT:
        scale = 1.0 / weight
        for b in range(counts.shape[0]):
            counts[b] = counts[b] * scale
        st.total[slot, which] *= scale
        weight = 1.0
    st.weight[slot, which] = weight
