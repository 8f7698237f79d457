"""The ``hst`` detector: Half-Space-Trees (Tan et al. 2011) on the point's shape.

The shape is four features of the value (the deseasonalised value, its difference from the
previous one, the mean and standard deviation of the last ``window_size`` values), each min-max
scaled by the range seen so far on the series. The forest is grown once from ``seed``, with the
draws of ``river.anomaly.HalfSpaceTrees`` (:func:`detectors.forest.shared_forest`), and shared
by every series; a series keeps only its masses: two windows of ``hst_window_size`` points (the
reference, full, and the latest, being learned), each node's left child's mass only
(:func:`~detectors.compiled.walk_forest`). The raw score is ``max_mass / mass - 1`` of river's
``1 - mass / max_mass``: unbounded, so the calibration can tell a rare point from a very rare one.

Examples
--------
>>> import numpy as np
>>> from detectors.layout import allocate
>>> c = constants({"window_size": 3, "n_trees": 5, "height": 4, "hst_window_size": 20,
...                "seed": 42, "detectors": ("hst",)})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> window, partials, v = np.zeros(4), np.zeros(5), np.zeros(4)
>>> raws = [score_then_learn(st, 0, float(x % 5), c, window, partials, v) for x in range(60)]
>>> raws[:20] == [0.0] * 20  # the first window only learns
True
>>> spike = score_then_learn(st, 0, 50.0, c, window, partials, v)
>>> spike > max(raws[40:])
True
"""

from __future__ import annotations

import collections
import math

import numpy as np

from detectors.compiled import fsum, part, py_max, walk_forest
from detectors.forest import shared_forest
from detectors.layout import Field, state_type

NAME = "hst"
BOUND = None
N_FEATURES = 4  # value, diff, rolling mean, rolling std

FIELDS = (
    Field("last", "f8", initial=math.nan, doc="the previous value"),
    Field("low", "f8", (N_FEATURES,), initial=math.inf, doc="each feature's lowest"),
    Field("high", "f8", (N_FEATURES,), initial=-math.inf, doc="and highest"),
    Field("n", "i8", doc="values in the shape window"),
    Field("head", "i8"),
    Field("window", "f8", lambda c: (max(c.window_size - 1, 1),), doc="the last values"),
    Field("counter", "i8", doc="points learned in the latest window"),
    Field("latest", "i8", doc="which of masses[slot, 0 / 1] is the latest window"),
    Field("first_window", "i8", initial=1, doc="1 until a window is full"),
    Field(
        "masses",
        lambda c: np.min_scalar_type(c.hst_window_size),
        lambda c: (2, c.split_features.shape[0], c.split_features.shape[1]),
        doc="left children's masses of the two windows",
    ),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple(
    "Constants",
    [
        "enabled",
        "window_size",
        "height",
        "hst_window_size",
        "size_limit",
        "max_score",
        "split_features",  # (n_trees, 2 ** height - 1): the forest, shared by every series
        "thresholds",
    ],
)


def constants(params) -> Constants:
    n_trees, height, hst_window_size = (
        params["n_trees"],
        params["height"],
        params["hst_window_size"],
    )
    split_features, thresholds = shared_forest(
        params["seed"], n_trees, height, ((0.0, 1.0),) * N_FEATURES
    )
    return Constants(
        enabled="hst" in params["detectors"],
        window_size=params["window_size"],
        height=height,
        hst_window_size=hst_window_size,
        size_limit=0.1 * hst_window_size,
        max_score=float(n_trees * hst_window_size * (2 ** (height + 1) - 1)),
        split_features=split_features,
        thresholds=thresholds,
    )


@part
def _shape(st, slot, x, c, window, partials, v):
    """The shape features of ``x``, scaled, into ``v``; then the shape window learns ``x``.
    ``window`` and ``partials`` are scratch space of ``window_size + 1`` and ``+ 2`` floats."""
    shape = st.window[slot]
    max_length = c.window_size - 1
    n = st.n[slot]
    head = st.head[slot]
    last = st.last[slot]
    diff = 0.0 if math.isnan(last) else x - last
    capacity = shape.shape[0]
    at = head  # (head + k) % capacity, without a division per value
    for k in range(n):
        window[k] = shape[at]
        at += 1
        if at == capacity:
            at = 0
    window[n] = x
    size = n + 1
    mean = fsum(window, size, partials) / size
    if size > 1:
        for k in range(size):
            deviation = window[k] - mean
            window[k] = deviation * deviation
        std = math.sqrt(fsum(window, size, partials) / (size - 1))
    else:
        std = 0.0
    v[0], v[1], v[2], v[3] = x, diff, mean, std
    for k in range(N_FEATURES):
        raw = v[k]
        low = st.low[slot, k]
        high = st.high[slot, k]
        v[k] = (raw - low) / (high - low) if high - low > 0 else 0.5
        if raw < low:
            st.low[slot, k] = raw
        if raw > high:
            st.high[slot, k] = raw
    if max_length > 0:
        if n == max_length:
            shape[head] = x
            st.head[slot] = (head + 1) % max_length
        else:
            shape[(head + n) % max_length] = x
            st.n[slot] = n + 1
    st.last[slot] = x


@part
def score_then_learn(st, slot, x, c, window, partials, v):
    """The raw ``hst`` score of ``x`` (0 during the first window), then learn it."""
    _shape(st, slot, x, c, window, partials, v)
    latest = st.latest[slot]
    first_window = st.first_window[slot] != 0
    counter = st.counter[slot]
    total = walk_forest(
        v,
        c.split_features,
        c.thresholds,
        st.masses[slot, latest],
        counter,
        st.masses[slot, 1 - latest],
        c.hst_window_size,
        c.height,
        c.size_limit,
        not first_window,
    )
    counter += 1
    if counter == c.hst_window_size:
        # The latest window becomes the reference; the old reference is emptied and reused.
        latest = 1 - latest
        st.masses[slot, latest] = 0
        st.latest[slot] = latest
        st.first_window[slot] = 0
        counter = 0
    st.counter[slot] = counter
    score = 0.0 if first_window else 1 - total / c.max_score
    return 1.0 / py_max(1.0 - score, 1e-9) - 1.0


@part
def raw(st, slot, point, scratch, p):
    """The raw ``hst`` score of the point's deseasonalised value."""
    return score_then_learn(
        st.hst, slot, point.deseasonalized, p.hst, scratch.window, scratch.partials, scratch.v
    )


@part
def restart(st, slot):
    """After a gap the shape window starts again (the trees' masses stay)."""
    st.n[slot] = 0
    st.head[slot] = 0
    st.last[slot] = math.nan
