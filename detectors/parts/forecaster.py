"""The lag forecaster: the next value from the last ``n_lags`` values, an intercept and the
values one season ago (and its two neighbours), with a band of ``band_width`` residual standard
deviations.

The model is ridge regression on exponentially forgotten points, kept by recursive least
squares: the inverse ``P`` of the normal equations' matrix

    A_t = forgetting_factor * A_{t-1} + x_t x_t' + refill_t

is updated by the Sherman-Morrison formula for each rank-one term, in O(size^2) per point
(where solving ``A`` afresh by Cholesky took O(size^3)), and the weights by the RLS gain
(:func:`learn`). Textbook RLS lets the ridge decay with the old points; here it is refilled,
so that flatlines stay well conditioned: each point adds ``size * (1 - forgetting_factor) *
ridge`` to one diagonal entry, in turn (a rank-one term too), which keeps every diagonal
entry's ridge at about ``ridge`` (within 1.5 % at the defaults), as adding ``(1 -
forgetting_factor) * ridge`` to the whole diagonal every point would (the solve before did
that). With ``forgetting_factor=1`` there is no refill, and the weights equal batch ridge
regression on the same lags. ``P`` is stored in float32 (computed in float64, rounded when
stored): half of its 3.2 kB a series, at a cost measured on every corpus (bench/README.md); the
symmetric, packed update keeps it symmetric, and the refilled ridge keeps it well conditioned.
Values are divided by a scale frozen at the end of warm-up (the mean absolute value of the first
``n_lags`` values), which makes the ridge mean the same for CPU percentages and byte counts.
A scale can turn out wrong by orders of magnitude (a gauge reads 0 until its service starts,
then 8 GiB): once a diagonal entry of ``A`` (kept beside ``P``) exceeds ``RIDGE_HEADROOM`` times
the ridge, or the update stops being finite and positive (a NaN reached the fit), the
forecaster learns a new scale from its last ``n_lags`` values and starts its fit over.

The season features read the last season kept in time, not in points: a ring of ``length +
2`` buckets of ``season / length`` seconds (a bucket of the series' time, as the seasonal
profile's), each the mean of the values that fell in it, in the series' segment of the season
pool (see :mod:`detectors.parts.seasonal`) as float32 offsets from ``history_anchor``. A point
in bucket ``n`` reads buckets ``n - length - 1`` to ``n - length + 1``: the same time one season
ago and its neighbours. A 5-minute series has one value per bucket (its features are the values
288 points back, as when the ring counted points); a 15-second series has 20, whose mean it
reads, so its season costs what a 5-minute one's does. A bucket without a value (a scrape gap,
the first day) is NaN; while any of the three is, the features repeat the newest value.

Examples
--------
A sine wave without a season (``length`` 0): each value is a linear function of the two
before it.

>>> import numpy as np
>>> from detectors.layout import allocate
>>> c = constants({"n_lags": 2, "forgetting_factor": 0.999, "season": 0.0})  # no season
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> pool = np.zeros(0, np.float32)
>>> wave = 10 + np.sin(np.arange(300) / 3)
>>> st.lags[0] = wave[:2]  # the first n_lags values, in order
>>> start(st, 0, np.arange(2.0), 0, 0, pool, c, np.zeros(2))
>>> features, work = np.zeros(c.size), np.zeros(2 * c.size)
>>> for t, x in enumerate(wave[2:], start=2):
...     ready = features_of(st, 0, features, t, 0, 0, pool, c) and st.fitted[0] >= c.n_lags
...     expected = predict(st, 0, features, 0, c) if ready else np.nan
...     learn(st, 0, x, t, expected, ready, features, c.size, work, 0, 0, pool, c)
>>> _ = features_of(st, 0, features, 300, 0, 0, pool, c)
>>> bool(abs(predict(st, 0, features, 0, c) - (10 + np.sin(100))) < 0.2)  # the ridge biases it
True
"""

from __future__ import annotations

import collections
import math

import numpy as np

from detectors.compiled import (
    MAD_TO_SIGMA,
    jit,
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
#: ``history_bucket`` before any value was kept.
NO_BUCKET = -(2**62)


def _packed(c) -> tuple:
    return (c.size * (c.size + 1) // 2,)


FIELDS = (
    Field("scale", "f8", initial=math.nan, doc="values are divided by it"),
    Field("abs_residual", "f8", initial=math.nan, doc="EWMean of the absolute residuals"),
    Field("n_learned", "i8", doc="values learned since the start or a gap"),
    Field("fitted", "i8", doc="fits since the last restart"),
    Field("lag_head", "i8", doc="ring position of the oldest lag"),
    Field("history_bucket", "i8", initial=NO_BUCKET, doc="the bucket of the newest value kept"),
    Field("bucket_total", "f8", doc="the sum of the values in that bucket"),
    Field("bucket_count", "i8", doc="how many values fell in that bucket"),
    Field("history_anchor", "f8", initial=math.nan, doc="the history's float32 offsets' anchor"),
    Field("lags", "f8", lambda c: (c.n_lags,), doc="ring of the last values"),
    Field("inverse", "f4", _packed, doc="P, the inverse of A: upper triangle, row by row"),
    Field("diagonal", "f8", lambda c: (c.size,), doc="A's diagonal"),
    Field("weights", "f8", lambda c: (c.size,)),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple(
    "Constants",
    [
        "n_lags",
        "size",  # intercept, lags, season features
        "forgetting_factor",
        "ridge",
        "ridge_refill",  # size * (1 - forgetting_factor) * ridge, added to one diagonal entry
        "ridge_limit",  # RIDGE_HEADROOM * ridge: a larger diagonal entry restarts the fit
        "band_width",
        "residual_alpha",
        "season",  # seconds: the history's buckets are season / length wide
    ],
)


def constants(params) -> Constants:
    n_lags, forgetting_factor = params["n_lags"], float(params["forgetting_factor"])
    return Constants(
        n_lags=n_lags,
        size=n_lags + 1 + N_SEASON_FEATURES,
        forgetting_factor=forgetting_factor,
        ridge=RIDGE,
        ridge_refill=(n_lags + 1 + N_SEASON_FEATURES) * (1 - forgetting_factor) * RIDGE,
        ridge_limit=RIDGE_HEADROOM * RIDGE,
        band_width=3.0,
        residual_alpha=0.02,
        season=float(params["season"]),
    )


@jit
def history_size(length):
    """Floats of the season history for a season of ``length`` buckets (0: none): a season
    and two buckets, the oldest feature's and the one being filled."""
    return length + 2 if length else 0


@jit
def time_bucket(timestamp, season, length):
    """The bucket of ``timestamp`` counted from the epoch, ``length`` buckets a season
    (multiplied before it is divided, as :func:`detectors.parts.seasonal.bucket`)."""
    return int(math.floor(timestamp * length / season))


@part
def features_of(st, slot, features, timestamp, length, history, floats, c):
    """The features of the next point, at ``timestamp``, into ``features``; False while the
    lags are not full (right after the start or a gap). ``length`` is the season's buckets (0:
    none), ``history`` where the series' segment starts in the pool ``floats``."""
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
        # A season ago and its neighbours, if the ring still holds them and they had values
        newest = st.history_bucket[slot]
        first = time_bucket(timestamp, c.season, length) - length - 1
        size = history_size(length)
        known = newest - size < first and first + N_SEASON_FEATURES - 1 <= newest
        for j in range(N_SEASON_FEATURES):
            if known:
                at = history + (first + j) % size
                value = load_offset(st.history_anchor[slot], floats, at)
                known = not math.isnan(value)
                features[n + 1 + j] = value / scale
        if not known:
            newest_value = lags[(head + n - 1) % n] / scale
            for j in range(N_SEASON_FEATURES):
                features[n + 1 + j] = newest_value
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
def remember(st, slot, x, timestamp, length, history, floats, c):
    """Push ``x``, at ``timestamp``, into the lags and the season history."""
    head = st.lag_head[slot]
    st.lags[slot, head] = x
    st.lag_head[slot] = (head + 1) % c.n_lags
    if length:
        keep(st, slot, x, time_bucket(timestamp, c.season, length), length, history, floats)
    st.n_learned[slot] += 1


@part
def keep(st, slot, x, bucket, length, history, floats):
    """Fold ``x`` into the season history's ``bucket`` (the mean of its values so far); a
    later bucket starts anew, the buckets skipped on the way NaN (a value before the newest
    bucket counts in the newest)."""
    size = history_size(length)
    newest = st.history_bucket[slot]
    if bucket > newest:
        for skipped in range(max(newest + 1, bucket - size), bucket):
            floats[history + skipped % size] = math.nan
        st.history_bucket[slot] = newest = bucket
        st.bucket_total[slot] = x
        st.bucket_count[slot] = 1
    else:
        st.bucket_total[slot] += x
        st.bucket_count[slot] += 1
    mean = st.bucket_total[slot] / st.bucket_count[slot]
    store_offset(st.history_anchor, slot, floats, history + newest % size, mean)


@part
def _rank_one(inverse, factor, g, scale, size):
    """``P = factor * P - scale * g g'`` on the packed upper triangle of ``P``.

    Indexes into ``P`` are unsigned: numba then tests none for wraparound, and LLVM vectorizes
    each row (every entry is computed as before, so the results are the same to the bit).
    """
    row = np.uint64(0)  # packed(i, j) = row + j
    for i in range(size):
        gi = scale * g[i]
        for j in range(i, size):
            at = row + np.uint64(j)
            inverse[at] = factor * inverse[at] - gi * g[j]
        row += np.uint64(size - i - 1)


@part
def _times(inverse, f, out, size):
    """``out = P f`` for the symmetric ``P`` stored as its packed upper triangle: each
    ``out[i]`` sums ``P[i, k] f[k]`` in the order of ``k`` (the rows above reach it as columns
    first, then its own row), with unsigned indexes as in :func:`_rank_one`."""
    for i in range(size):
        out[i] = 0.0
    row = np.uint64(0)  # packed(i, j) = row + j
    for i in range(size):
        fi = f[i]
        for j in range(i + 1, size):  # the column part of the rows below, vectorized
            out[j] += inverse[row + np.uint64(j)] * fi
        total = out[i] + inverse[row + np.uint64(i)] * fi
        for j in range(i + 1, size):  # this row, in order
            total += inverse[row + np.uint64(j)] * f[j]
        out[i] = total
        row += np.uint64(size - i - 1)


@part
def learn(
    st, slot, x, timestamp, expected, ready, features, size, work, length, history, floats, c
):
    """Learn ``x`` at ``timestamp``, whose ``features`` were computed (if the lags were full)
    and gave ``expected`` (if ``ready``). ``size`` is ``c.size``, passed as the length of a
    tuple where numba compiles it in as a constant; ``work`` is scratch space of ``2 * size``
    floats."""
    if st.n_learned[slot] < c.n_lags:  # refilling the lags after a restart
        remember(st, slot, x, timestamp, length, history, floats, c)
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
    inverse = st.inverse[slot]
    weights = st.weights[slot]
    diagonal = st.diagonal[slot]
    gain = work[:size]
    column = work[size:]
    # A x x' term on A / lam: P / lam - u u' / d with u = P x / lam, d = 1 + x' u; the
    # weights move by the gain u / d times the error of the prediction before the update.
    _times(inverse, features, gain, size)
    error = target
    d = lam
    for i in range(size):
        error -= features[i] * weights[i]
        d += features[i] * gain[i]
    ok = d > 0.0 and math.isfinite(d) and math.isfinite(error)
    ridge_counts = True
    if ok:
        for i in range(size):
            gain[i] /= lam
        d /= lam
        _rank_one(inverse, 1.0 / lam, gain, 1.0 / d, size)
        for i in range(size):
            weights[i] += gain[i] * (error / d)
            diagonal[i] = diagonal[i] * lam + features[i] * features[i]
        # The ridge refill, on one diagonal entry in turn: P -= r g g' / (1 + r g_k) with g
        # P's column k; the weights (P b, b unchanged) move by -g r w_k / (1 + r g_k).
        if c.ridge_refill != 0.0:
            k = st.fitted[slot] % size
            packed = k  # column k: row i < k at packed(i, k), then row k from packed(k, k)
            for i in range(k):
                column[i] = inverse[packed]
                packed += size - i - 1
            for j in range(k, size):
                column[j] = inverse[packed]
                packed += 1
            scale = c.ridge_refill / (1.0 + c.ridge_refill * column[k])
            shift = scale * weights[k]
            _rank_one(inverse, 1.0, column, scale, size)
            for i in range(size):
                weights[i] -= column[i] * shift
            diagonal[k] += c.ridge_refill
        for i in range(size):
            ridge_counts = ridge_counts and (c.ridge == 0.0 or diagonal[i] <= c.ridge_limit)
            ok = ok and math.isfinite(weights[i])
    if not (ok and ridge_counts):
        # The scale is wrong by orders of magnitude, or a NaN came in: start over
        remember(st, slot, x, timestamp, length, history, floats, c)
        learn_scale(st, slot, c, work)
        reset_fit(st, slot, c)
        return
    st.fitted[slot] += 1
    remember(st, slot, x, timestamp, length, history, floats, c)


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
    """A fit that learned nothing: ``A`` the ridge alone (``P`` its inverse), no weights."""
    inverse = st.inverse[slot]
    inverse[:] = 0.0
    size = c.size
    at = 0
    for i in range(size):
        inverse[at] = 1.0 / c.ridge if c.ridge > 0 else 1e300
        at += size - i
    st.diagonal[slot, :] = c.ridge
    st.weights[slot, :] = 0.0
    st.fitted[slot] = 0


@part
def start(st, slot, times, length, history, floats, c, scratch):
    """A new forecaster whose first ``n_lags`` values are already in the lags, in order, and
    were seen at ``times``: a scale from them, an empty fit, and (``length`` > 0) the history
    of the season started with them at ``history`` in the pool ``floats``."""
    n = c.n_lags
    reset_fit(st, slot, c)
    st.n_learned[slot] = n
    st.abs_residual[slot] = math.nan
    learn_scale(st, slot, c, scratch)
    if length:
        st.history_anchor[slot] = math.nan
        st.history_bucket[slot] = NO_BUCKET
        floats[history : history + history_size(length)] = math.nan
        lags = st.lags[slot]
        head = st.lag_head[slot]  # back at 0 after n values
        for k in range(n):
            bucket = time_bucket(times[k], c.season, length)
            keep(st, slot, lags[(head + k) % n], bucket, length, history, floats)


@part
def restart(st, slot):
    """After a gap the lags start again (learned weights and the scale stay)."""
    st.n_learned[slot] = 0
