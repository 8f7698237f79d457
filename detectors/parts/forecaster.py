"""The lag forecaster: the next value from the last ``n_lags`` values, an intercept and the
values one season ago (and its two neighbours), with a band of ``band_width`` residual standard
deviations.

The model is ridge regression refitted after every point with exponential forgetting: the normal
equations

    A_t = forgetting_factor * A_{t-1} + x_t x_t' + (1 - forgetting_factor) * ridge * I
    b_t = forgetting_factor * b_{t-1} + x_t y_t

keep ``A_t = sum_i forgetting_factor**(t-i) x_i x_i' + ridge * I`` exactly (the ridge never
decays, so flatlines stay well conditioned), and are solved by Cholesky (:func:`solve_spd`).
Values are divided by a scale frozen at the end of warm-up (the mean absolute value of the first
``n_lags`` values), which makes the ridge mean the same for CPU percentages and byte counts.
A scale can turn out wrong by orders of magnitude (a gauge reads 0 until its service starts,
then 8 GiB): once a diagonal entry of ``A`` exceeds ``RIDGE_HEADROOM`` times the ridge, or the
factorisation fails (a NaN reached the fit), the forecaster learns a new scale from its last
``n_lags`` values and starts its fit over.

The last season of values (for the season features) is kept in the series' segment of the
season pool (see :mod:`detectors.parts.seasonal`), as float32 offsets from ``history_anchor``.

Examples
--------
A sine wave without a season (``length`` 0): each value is a linear function of the two
before it.

>>> import numpy as np
>>> from detectors.layout import allocate
>>> c = constants({"n_lags": 2, "forgetting_factor": 0.999})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> pool = np.zeros(0, np.float32)
>>> wave = 10 + np.sin(np.arange(300) / 3)
>>> st.lags[0] = wave[:2]  # the first n_lags values, in order
>>> start(st, 0, 0, 0, pool, c, np.zeros(2))
>>> features, factor, work = np.zeros(c.size), np.zeros(c.size ** 2), np.zeros(c.size)
>>> for x in wave[2:]:
...     ready = features_of(st, 0, features, 0, 0, pool, c) and st.fitted[0] >= c.n_lags
...     expected = predict(st, 0, features, 0, c) if ready else np.nan
...     learn(st, 0, x, expected, ready, features, c.size, factor, work, 0, 0, pool, c)
>>> _ = features_of(st, 0, features, 0, 0, pool, c)
>>> bool(abs(predict(st, 0, features, 0, c) - (10 + np.sin(100))) < 0.2)  # the ridge biases it
True
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import (
    MAD_TO_SIGMA,
    load_offset,
    numpy_pairwise_sum,
    part,
    py_max,
    store_offset,
)
from detectors.layout import Field, state_type

#: How far the largest diagonal entry of the normal equations may outgrow the ridge before the
#: scale is learnt again: beyond it the ridge is lost in rounding, and solves disagree.
RIDGE_HEADROOM = 1e8
RIDGE = 0.1
#: Season features: the value one season ago and its two neighbours.
N_SEASON_FEATURES = 3


def _packed(c) -> tuple:
    return (c.size * (c.size + 1) // 2,)


FIELDS = (
    Field("scale", "f8", initial=math.nan, doc="values are divided by it"),
    Field("abs_residual", "f8", initial=math.nan, doc="EWMean of the absolute residuals"),
    Field("n_learned", "i8", doc="values learned since the start or a gap"),
    Field("fitted", "i8", doc="fits since the last restart"),
    Field("lag_head", "i8", doc="ring position of the oldest lag"),
    Field("history_head", "i8", doc="ring position of the oldest value of the last season"),
    Field("history_anchor", "f8", initial=math.nan, doc="the history's float32 offsets' anchor"),
    Field("lags", "f8", lambda c: (c.n_lags,), doc="ring of the last values"),
    Field("gram", "f8", _packed, doc="A, its upper triangle packed row by row"),
    Field("moment", "f8", lambda c: (c.size,), doc="b"),
    Field("weights", "f8", lambda c: (c.size,)),
)
State = state_type("ForecasterState", FIELDS, __name__)
Constants = collections.namedtuple(
    "ForecasterConstants",
    [
        "n_lags",
        "size",  # intercept, lags, season features
        "forgetting_factor",
        "ridge",
        "ridge_refill",  # (1 - forgetting_factor) * ridge, added to the diagonal every fit
        "ridge_limit",  # RIDGE_HEADROOM * ridge: a larger diagonal entry restarts the fit
        "band_width",
        "residual_alpha",
    ],
)


def constants(params) -> Constants:
    n_lags, forgetting_factor = params["n_lags"], float(params["forgetting_factor"])
    return Constants(
        n_lags=n_lags,
        size=n_lags + 1 + N_SEASON_FEATURES,
        forgetting_factor=forgetting_factor,
        ridge=RIDGE,
        ridge_refill=(1 - forgetting_factor) * RIDGE,
        ridge_limit=RIDGE_HEADROOM * RIDGE,
        band_width=3.0,
        residual_alpha=0.02,
    )


@part
def features_of(st, slot, features, length, history, floats, c):
    """The next point's features, into ``features``; False while the lags are not full (right
    after the start or a gap). ``length`` is the season's (0: none), ``history`` where the
    series' segment starts in the pool ``floats``."""
    n = c.n_lags
    if st.n_learned[slot] < n:
        return False
    scale = st.scale[slot]
    lags = st.lags[slot]
    head = st.lag_head[slot]
    features[0] = 1.0
    for k in range(n):
        features[1 + k] = lags[(head + k) % n] / scale
    if length:
        if st.n_learned[slot] >= length + 1:
            # The oldest three of the last season + 1 values: a season ago and its neighbours.
            history_head = st.history_head[slot]
            for j in range(N_SEASON_FEATURES):
                at = history + (history_head + j) % (length + 1)
                features[n + 1 + j] = load_offset(st.history_anchor[slot], floats, at) / scale
        else:
            newest = lags[(head + n - 1) % n] / scale
            for j in range(N_SEASON_FEATURES):
                features[n + 1 + j] = newest
    else:
        # No season: the season features are 0, and stay out of the fit (see solve_spd)
        for j in range(N_SEASON_FEATURES):
            features[n + 1 + j] = 0.0
    return True


@part
def predict(st, slot, features, length, c):
    """The expected value of the point whose ``features`` are given."""
    weights = st.weights[slot]
    total = 0.0
    for k in range(c.n_lags + 1 + (N_SEASON_FEATURES if length else 0)):
        total += features[k] * weights[k]
    return total * st.scale[slot]


@part
def residual_std(st, slot):
    """The residuals' standard deviation, from their mean absolute value (NaN before any)."""
    mad = st.abs_residual[slot]
    if math.isnan(mad):
        return math.nan
    return py_max(mad * MAD_TO_SIGMA, 1e-9 * py_max(1.0, abs(st.scale[slot])))


@part
def remember(st, slot, x, length, history, floats, c):
    """Push ``x`` into the lags and the season history."""
    head = st.lag_head[slot]
    st.lags[slot, head] = x
    st.lag_head[slot] = (head + 1) % c.n_lags
    if length:
        history_head = st.history_head[slot]
        store_offset(st.history_anchor, slot, floats, history + history_head, x)
        st.history_head[slot] = (history_head + 1) % (length + 1)
    st.n_learned[slot] += 1


@part
def solve_spd(gram, moment, weights, size, factor, work):
    """``weights = solve(gram, moment)`` by Cholesky (``gram = U'U``, its upper triangle packed
    row by row).

    Written as an outer-product factorisation, so that the inner loops are independent
    multiply-adds along contiguous rows; ``size`` should be a compile-time constant, which
    makes it twice as fast. ``factor`` (``size * size``) and ``work`` (``size``) are scratch
    space. Returns False if a pivot is not positive and finite (``gram`` not numerically positive
    definite), leaving ``weights`` to the caller.

    A series without a season solves the same ``size`` as one with: its three season
    features are 0, so their rows and columns of ``gram`` hold only the ridge, and their
    weights come out 0 while the others are computed exactly as in the smaller system (the
    factorisation of a leading block does not depend on the rows after it, and the padded
    rows add products of exact zeros).
    """
    packed = 0
    for i in range(size):
        row = i * size
        for j in range(i, size):
            factor[row + j] = gram[packed]
            packed += 1
    for k in range(size):
        row_k = k * size
        pivot = factor[row_k + k]
        if not 0.0 < pivot < math.inf:  # also NaN; numpy's factor would not be finite
            return False
        diagonal = math.sqrt(pivot)
        factor[row_k + k] = diagonal
        inverse = 1.0 / diagonal
        for j in range(k + 1, size):
            factor[row_k + j] *= inverse
        # Subtract row k's outer product from the rows below, two rows per pass over row k
        i = k + 1
        while i + 1 < size:
            u0 = factor[row_k + i]
            u1 = factor[row_k + i + 1]
            row_0 = i * size
            row_1 = row_0 + size
            factor[row_0 + i] -= u0 * u0
            for j in range(i + 1, size):
                above = factor[row_k + j]
                factor[row_0 + j] -= u0 * above
                factor[row_1 + j] -= u1 * above
            i += 2
        if i < size:
            factor[i * size + i] -= factor[row_k + i] * factor[row_k + i]
    # U' z = moment, then U weights = z, both as multiply-adds along rows and columns
    for k in range(size):
        work[k] = moment[k]
    for k in range(size):
        row_k = k * size
        z = work[k] / factor[row_k + k]
        work[k] = z
        for j in range(k + 1, size):
            work[j] -= factor[row_k + j] * z
    for k in range(size):
        weights[k] = work[k]
    for k in range(size - 1, -1, -1):
        weight = weights[k] / factor[k * size + k]
        weights[k] = weight
        for i in range(k):
            weights[i] -= factor[i * size + k] * weight
    return True


@part
def learn(st, slot, x, expected, ready, features, size, factor, work, length, history, floats, c):
    """Learn ``x``, whose ``features`` were computed (if the lags were full) and gave
    ``expected`` (if ``ready``). ``size`` is ``c.size``, passed as the length of a tuple where
    numba can compile it in as a constant (which makes the solve twice as fast)."""
    if st.n_learned[slot] < c.n_lags:  # refilling the lags after a restart
        remember(st, slot, x, length, history, floats, c)
        return
    if ready:
        residual = abs(x - expected)
        mean = st.abs_residual[slot]
        if math.isnan(mean):
            st.abs_residual[slot] = residual
        else:
            st.abs_residual[slot] = mean + c.residual_alpha * (residual - mean)
    target = x / st.scale[slot]
    lam = c.forgetting_factor
    gram = st.gram[slot]
    moment = st.moment[slot]
    # A = lam * A + f f' (+ (1 - lam) * ridge on the diagonal), in the reference's order.
    packed = 0
    ridge_counts = finite = True
    for i in range(size):
        fi = features[i]
        diagonal = packed
        for j in range(i, size):
            gram[packed] = gram[packed] * lam + fi * features[j]
            packed += 1
        if lam != 1.0:  # the padding too: it keeps its ridge
            gram[diagonal] = gram[diagonal] + c.ridge_refill
        ridge_counts = ridge_counts and (c.ridge == 0.0 or gram[diagonal] <= c.ridge_limit)
        moment[i] = moment[i] * lam + fi * target
        finite = finite and math.isfinite(moment[i])
    solvable = ridge_counts and finite
    if not (solvable and solve_spd(gram, moment, st.weights[slot], size, factor, work)):
        # The scale is wrong by orders of magnitude, or a NaN came in: start over
        remember(st, slot, x, length, history, floats, c)
        learn_scale(st, slot, c, work)
        reset_fit(st, slot, c)
        return
    st.fitted[slot] += 1
    remember(st, slot, x, length, history, floats, c)


@part
def learn_scale(st, slot, c, scratch):
    """The scale: the mean absolute value of the lags (oldest first, numpy's pairwise sum),
    1 if it is about 0. ``scratch`` holds at least ``n_lags`` floats."""
    n = c.n_lags
    lags = st.lags[slot]
    head = st.lag_head[slot]  # the oldest lag
    for k in range(n):
        scratch[k] = abs(lags[(head + k) % n])
    scale = numpy_pairwise_sum(scratch, 0, n) / n
    st.scale[slot] = scale if scale > 1e-9 else 1.0


@part
def reset_fit(st, slot, c):
    """A fit that learned nothing: the ridge alone on the diagonal, no weights."""
    gram = st.gram[slot]
    gram[:] = 0.0
    size = c.size
    diagonal = 0
    for i in range(size):  # the padding too, see solve_spd
        gram[diagonal] = c.ridge
        diagonal += size - i
    st.moment[slot, :] = 0.0
    st.weights[slot, :] = 0.0
    st.fitted[slot] = 0


@part
def start(st, slot, length, history, floats, c, scratch):
    """A new forecaster whose first ``n_lags`` values are already in the lags, in order: a
    scale from them, an empty fit, and (``length`` > 0) the history of the season started
    with them at ``history`` in the pool ``floats``."""
    n = c.n_lags
    reset_fit(st, slot, c)
    st.n_learned[slot] = n
    st.abs_residual[slot] = math.nan
    learn_scale(st, slot, c, scratch)
    if length:
        st.history_anchor[slot] = math.nan
        lags = st.lags[slot]
        head = st.lag_head[slot]  # back at 0 after n values
        history_head = 0
        for k in range(n):
            store_offset(
                st.history_anchor, slot, floats, history + history_head, lags[(head + k) % n]
            )
            history_head = (history_head + 1) % (length + 1)
        st.history_head[slot] = history_head


@part
def restart(st, slot):
    """After a gap the lags start again (learned weights and the scale stay)."""
    st.n_learned[slot] = 0
