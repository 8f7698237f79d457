"""Compiled kernels of :class:`detectors.bank.StackBank`: the detector stack as one numba loop.

Every function here mirrors a method of the reference classes (named in its docstring) on one
row of struct-of-arrays state, so that the compiled stack returns what
:meth:`detectors.stack.DetectorStack.process` returns, point for point. Floating-point
operations are written in the reference's order, with Python's ``max`` / ``min`` semantics
(:func:`_py_max`), ``math.fsum`` (:func:`_fsum`), Python's float modulo (:func:`_py_mod`) and
numpy's pairwise mean (:func:`_numpy_pairwise_sum`), so that most outputs are bit-identical.
The one deliberate difference in arithmetic is the forecaster's solve: both factorise by
Cholesky, the reference with LAPACK (blocked), this kernel in its own order (about five times
faster at this size), which moves the weights, and everything computed from them, in the last
bits. Three parts store their state more compactly than the reference, with equal results: the
forecaster's matrix as its packed upper triangle, the Half-Space-Trees' masses as the left
children's only (:func:`_walk_forest`), and the histograms of bounded raw scores cut at their
bound (``StackBank``'s ``_calibrator_bins``).

Errors follow numpy's model (``error_model="numpy"``): a division by zero gives inf or NaN
instead of raising, as it cannot happen where the reference would raise.
"""

from __future__ import annotations

import collections
import math

import numpy as np
from numba import njit

from detectors.calibration import RESCALE_AT
from detectors.compact import FLOAT32_MAX

# Mean absolute deviation of a normal distribution is sigma * sqrt(2 / pi).
MAD_TO_SIGMA = math.sqrt(math.pi / 2)
UINT16_MAX = 65535

# Columns of the per-slot float64 state ``floats``.
F_STEP = 0  # median sampling interval, 0 until the first n_lags points were seen
F_LAST_TIMESTAMP = 1
F_SCALE = 2  # the forecaster's value scale
F_ABS_RESIDUAL = 3  # the forecaster's EWMean of absolute residuals
F_Z_MEAN = 4  # the z-score's RollingStats (Welford)
F_Z_M2 = 5
F_SPREAD_MEAN = 6  # EWVar of the values (the spread floor)
F_SPREAD_VAR = 7
F_VOLATILITY = 8  # EWMean of the capped surprise
F_SHAPE_LAST = 9  # ShapeFeatures: last value, then 4 lows and 4 highs
F_SHAPE_LOW = 10
F_SHAPE_HIGH = 14
F_RUN_START = 18  # HysteresisAlert
F_LAST_ACTIVE = 19
F_ALERT_START = 20
F_PEAK = 21
F_PEAK_AT = 22
F_PREVIOUS_USUAL = 23  # DetectorStack._previous_usual and _previous_deviation
F_PREVIOUS_DEVIATION = 24
F_SEASON_ANCHOR = 25  # the anchors of the season pool's float32 offsets: the profile's means
F_HISTORY_ANCHOR = 26  # and the forecaster's history (Float32Offsets.anchor)
N_FLOAT_COLUMNS = 27

# Columns of the per-slot int64 state ``ints``.
I_ACTIVE = 0  # 1 while the slot holds a series
I_N_FIRST = 1  # points seen before the forecaster exists
I_HAS_FORECASTER = 2
I_SEASON_LENGTH = 3  # points per season, 0: no season
I_FLOAT_OFFSET = 4  # start of the slot's segment in the season float pool
I_COUNT_OFFSET = 5  # start of the slot's segment in the season count pool
I_N_LEARNED = 6  # LagForecaster._n_learned
I_FITTED = 7
I_LAG_HEAD = 8  # ring position of the oldest lag
I_HISTORY_HEAD = 9  # ring position of the oldest value of the season history
I_Z_N = 10  # values in the z-score window
I_Z_HEAD = 11
I_SHAPE_N = 12  # values in the shape features' window
I_SHAPE_HEAD = 13
I_HST_COUNTER = 14
I_HST_LATEST = 15  # which of masses[slot, 0 / 1] is l_mass (the window being learned)
I_HST_FIRST_WINDOW = 16
I_N_SEEN = 17  # DetectorStack._n_seen
I_RECENT_COUNT = 18  # BlockedMax of the combined score: points learned
I_UNUSED = 19  # format 4's index of the onset maximum (the later columns keep their places)
I_FIRING = 20  # HysteresisAlert
I_RUN = 21
I_COOLDOWN_LEFT = 22
I_SPREAD_N = 23
I_RANGE_N = 24  # BlockedRange: values learned
N_INT_COLUMNS = 25

# Detector codes, as in detectors.stack.DETECTOR_NAMES.
ZSCORE, HST, FORECAST, VOLATILITY = 0, 1, 2, 3

# Alert transitions in the results.
NO_TRANSITION, OPENED, RESOLVED = 0, 1, 2

#: Parameters of the kernel: the stack's, plus the constants the reference derives from them.
Params = collections.namedtuple(
    "Params",
    [
        "n_lags",
        "window_size",
        "forgetting_factor",
        "ridge",  # LagForecaster.alpha
        "ridge_refill",  # (1 - forgetting_factor) * alpha, added to the diagonal every fit
        "ridge_limit",  # RIDGE_HEADROOM * alpha: a larger diagonal entry restarts the fit
        "band_width",
        "residual_alpha",
        "season",
        "max_season_length",
        "seasonal_alpha",
        "min_cycles",
        "zscore_min_std",
        "height",
        "hst_window_size",
        "hst_size_limit",
        "hst_max_score",
        "uses_hst",
        "memory",
        "record_gain",
        "bin_width",
        "cal_starts",  # where each calibrator's histogram starts in a slot's row of counts
        "cal_bins",  # and how many bins it has (fewer for bounded raw scores, see StackBank)
        "growth",
        "spread_alpha",
        "volatility_alpha",
        "surprise_cap",
        "spread_floor",
        "min_surprise",
        "score_decades",
        "ln10",
        "bonferroni",
        "use_max",
        "recalibrate",
        "grace_period",
        "refractory",
        "onset_margin",
        "recent_block_size",
        "gap_steps",
        "threshold",
        "exit_threshold",
        "min_duration",
        "cooldown",
        "range_break",
        "return_is_surprise",
        "range_block_size",
    ],
)

#: State arrays; all but the pools have one row per slot.
State = collections.namedtuple(
    "State",
    [
        "floats",
        "ints",
        "first_times",  # (capacity, n_lags): timestamps of the first points
        "lags",  # (capacity, n_lags): ring of the last values (the first values before the fit)
        "z_window",  # (capacity, window_size): ring of the z-score window
        "shape_window",  # (capacity, max(window_size - 1, 1)): ring of the shape window
        "recent_blocks",  # (capacity, n_blocks): BlockedMax of the last combined scores
        "gram",  # (capacity, size * (size + 1) / 2): the forecaster's A, upper triangle packed
        "moment",  # (capacity, size): b
        "weights",  # (capacity, size)
        "masses",  # (capacity, 2, n_trees, n_inner): the two HST windows (see _walk_forest)
        "counts",  # (capacity, sum of cal_bins), float32: the TailProbability histograms
        "cal_total",  # (capacity, n_calibrators)
        "cal_weight",
        "cal_n",
        "cal_top",
        "range_bounds",  # (capacity, 2, n_blocks): BlockedRange's negated lows, then highs
        "season_floats",  # pool, float32: [history (L + 1) | mean (L) | abs_dev (L)] per slot
        "season_counts",  # pool: count (L) per slot, uint16
        "pool_room",  # [floats used, counts used, floats usable, counts usable] of the pools
    ],
)

#: Per-point results, one array each.
Outputs = collections.namedtuple(
    "Outputs",
    [
        "anomaly_score",
        "combined",
        "alert",
        "transition",
        "alert_start",
        "alert_end",
        "peak_score",
        "peak_at",
        "zscore",
        "hst_score",
        "forecast_score",
        "expected",
        "lower",
        "upper",
        "agreeing",
    ],
)

_jit = njit(cache=True, nogil=True, error_model="numpy")
# The parts of the stack take the whole state and the parameters (two tuples of dozens of
# fields); a call passes them field by field, which costs more than most parts' work. They
# are inlined into the loop instead, when numba builds it.
_part = njit(cache=True, nogil=True, error_model="numpy", inline="always")


@_jit
def _py_max(a, b):
    """Python's ``max(a, b)``: ``a`` unless ``b`` is greater (so a NaN ``a`` is kept)."""
    return b if b > a else a


@_jit
def _py_min(a, b):
    """Python's ``min(a, b)``: ``a`` unless ``b`` is smaller."""
    return b if b < a else a


@_jit
def _py_mod(a, b):
    """Python's float ``a % b`` (the sign of ``b``), as CPython's ``float_rem``."""
    mod = np.fmod(a, b)
    if mod != 0.0:
        if (b < 0.0) != (mod < 0.0):
            mod += b
    else:
        mod = math.copysign(0.0, b)
    return mod


@_jit
def _py_round(x):
    """Python's ``round(x)`` of a float: to the nearest integer, ties to even."""
    low = math.floor(x)
    fraction = x - low
    if fraction > 0.5 or (fraction == 0.5 and low % 2.0 != 0.0):
        return low + 1.0
    return low


@_jit
def _fsum(values, n, partials):
    """``math.fsum(values[:n])``: the correctly rounded sum (CPython's ``math_fsum``).

    ``partials`` is scratch space of at least ``n`` floats. Where CPython raises (``inf - inf``,
    an intermediate overflow) this returns NaN or the infinite sum.
    """
    m = 0
    special_sum = 0.0
    for k in range(n):
        x = values[k]
        x_saved = x
        i = 0
        for j in range(m):
            y = partials[j]
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                partials[i] = lo
                i += 1
            x = hi
        m = i
        if x != 0.0:
            if not math.isfinite(x):
                special_sum += x_saved
                m = 0
            else:
                partials[m] = x
                m += 1
    if special_sum != 0.0:
        return special_sum
    hi = 0.0
    if m > 0:
        m -= 1
        hi = partials[m]
        lo = 0.0
        while m > 0:
            x = hi
            m -= 1
            y = partials[m]
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                break
        # Half-even rounding across several partials, as CPython does.
        if m > 0 and ((lo < 0.0 and partials[m - 1] < 0.0) or (lo > 0.0 and partials[m - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            if y == x - hi:
                hi = x
    return hi


@_jit
def _pairwise_block(values, start, n):
    """numpy's pairwise sum of at most 128 values: eight running sums, then the rest."""
    if n < 8:
        total = 0.0
        for k in range(n):
            total += values[start + k]
        return total
    r0, r1, r2, r3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    r4, r5, r6, r7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    k = 8
    while k < n - n % 8:
        r0 += values[start + k]
        r1 += values[start + k + 1]
        r2 += values[start + k + 2]
        r3 += values[start + k + 3]
        r4 += values[start + k + 4]
        r5 += values[start + k + 5]
        r6 += values[start + k + 6]
        r7 += values[start + k + 7]
        k += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while k < n:
        total += values[start + k]
        k += 1
    return total


@_jit
def _numpy_pairwise_sum(values, start, n):
    """``np.add.reduce(values[start:start + n])`` for float64: numpy's pairwise summation.

    Longer runs are halved (at a multiple of 8) until blocks of at most 128 values; the halving
    runs on an explicit stack, as numba cannot load a recursive function from its cache.
    """
    if n <= 128:
        return _pairwise_block(values, start, n)
    starts = np.empty(64, dtype=np.int64)
    lengths = np.empty(64, dtype=np.int64)
    stages = np.zeros(64, dtype=np.int64)  # 0: sum the left half, 1: the right, 2: add them
    lefts = np.empty(64)
    top = 0
    starts[0], lengths[0] = start, n
    returned = 0.0
    while top >= 0:
        at, length = starts[top], lengths[top]
        if length <= 128:
            returned = _pairwise_block(values, at, length)
            top -= 1
            continue
        half = length // 2
        half -= half % 8
        if stages[top] == 0:
            stages[top] = 1
            top += 1
            starts[top], lengths[top], stages[top] = at, half, 0
        elif stages[top] == 1:
            lefts[top] = returned
            stages[top] = 2
            top += 1
            starts[top], lengths[top], stages[top] = at + half, length - half, 0
        else:
            returned = lefts[top] + returned
            top -= 1
    return returned


@_jit
def _decades(tail_probability, score_decades):
    """``DetectorStack._decades``: decades of improbability over ``score_decades``, in [0, 1]."""
    decades = -math.log10(_py_max(tail_probability, 1e-300)) / score_decades
    return _py_max(0.0, _py_min(1.0, decades))


# --- TailProbability -------------------------------------------------------------------------


@_part
def _tail_position(raw, which, p):
    if not raw > 0.0:  # also NaN
        return 0.0
    return _py_min(math.log1p(raw) / p.bin_width, p.cal_bins[which] - 1e-9)


@_part
def _histogram(st, slot, which, p):
    """Calibrator ``which``'s histogram in ``slot``'s row of counts."""
    start = p.cal_starts[which]
    return st.counts[slot, start : start + p.cal_bins[which]]


@_part
def _tail_score(st, slot, which, raw, grace, p):
    """``TailProbability.score_one`` of calibrator ``which`` of ``slot``."""
    n = st.cal_n[slot, which]
    total = st.cal_total[slot, which]
    if n < grace or total <= 0:
        return 1.0
    position = _tail_position(raw, which, p)
    index = int(position)
    top = st.cal_top[slot, which]
    floor = 1.0 / (min(n, p.memory) + 1)
    if index > top:
        top_edge = (top + 1) * p.bin_width
        return floor * math.exp(p.record_gain * (top_edge - position * p.bin_width))
    counts = _histogram(st, slot, which, p)
    above = 0.0  # left to right, as Python's sum of a list
    for b in range(index + 1, top + 1):
        above += counts[b]
    above += counts[index] * ((index + 1) - position)
    return _py_max(above / total, floor)


@_part
def _tail_learn(st, slot, which, raw, p):
    """``TailProbability.learn_one`` of calibrator ``which`` of ``slot``."""
    index = int(_tail_position(raw, which, p))
    counts = _histogram(st, slot, which, p)
    weight = st.cal_weight[slot, which]
    counts[index] = counts[index] + weight  # float32 counts, added in float64
    st.cal_total[slot, which] += weight
    if index > st.cal_top[slot, which]:
        st.cal_top[slot, which] = index
    st.cal_n[slot, which] += 1
    weight *= p.growth
    if weight > RESCALE_AT:
        scale = 1.0 / weight
        for b in range(counts.shape[0]):
            counts[b] = counts[b] * scale
        st.cal_total[slot, which] *= scale
        weight = 1.0
    st.cal_weight[slot, which] = weight


# --- SeasonalProfile (pool segment: history | mean | abs_dev, and counts) -------------------


@_jit
def _to_float32(x):
    """``compact.to_float32``: ``x`` clamped to float32's finite range (NaN stays NaN)."""
    if x > FLOAT32_MAX:
        return FLOAT32_MAX
    if x < -FLOAT32_MAX:
        return -FLOAT32_MAX
    return x


@_part
def _load(st, slot, anchor_column, at):
    """``Float32Offsets[i]``: the pool's float32 offset at ``at`` plus its anchor."""
    return st.floats[slot, anchor_column] + np.float64(st.season_floats[at])


@_part
def _store(st, slot, anchor_column, at, x):
    """``Float32Offsets[i] = x``: the first value stored becomes the anchor."""
    anchor = st.floats[slot, anchor_column]
    if math.isnan(anchor):
        anchor = x
        st.floats[slot, anchor_column] = x
    st.season_floats[at] = _to_float32(x - anchor)


@_jit
def _bucket(timestamp, period, n_buckets):
    return int(_py_mod(timestamp, period) / period * n_buckets) % n_buckets


@_part
def _seasonal_predict(st, slot, timestamp, p):
    """``SeasonalProfile.predict_one``."""
    length = st.ints[slot, I_SEASON_LENGTH]
    b = _bucket(timestamp, p.season, length)
    if st.season_counts[st.ints[slot, I_COUNT_OFFSET] + b] >= p.min_cycles:
        return _load(st, slot, F_SEASON_ANCHOR, st.ints[slot, I_FLOAT_OFFSET] + length + 1 + b)
    return math.nan


@_part
def _seasonal_scores(st, slot, timestamp, x, min_std, p):
    """``SeasonalProfile.score_one`` with and without ``neighbours``: the best of the bucket and
    its two neighbours, and the bucket's own score (the first one looked at)."""
    length = st.ints[slot, I_SEASON_LENGTH]
    means = st.ints[slot, I_FLOAT_OFFSET] + length + 1
    abs_devs = means + length
    counts = st.ints[slot, I_COUNT_OFFSET]
    bucket = _bucket(timestamp, p.season, length)
    best = own = math.nan
    for offset in (0, -1, 1):
        b = (bucket + offset + length) % length
        if st.season_counts[counts + b] < p.min_cycles:
            continue
        mean = _load(st, slot, F_SEASON_ANCHOR, means + b)
        std = _py_max(np.float64(st.season_floats[abs_devs + b]) * MAD_TO_SIGMA, min_std)
        if std <= 0:
            score = 0.0 if x == mean else math.inf
        else:
            score = abs(x - mean) / std
        if offset == 0:
            own = score
        if not score >= best:
            best = score
    return best, own


@_part
def _seasonal_learn(st, slot, timestamp, x, p):
    """``SeasonalProfile.learn_one``."""
    length = st.ints[slot, I_SEASON_LENGTH]
    b = _bucket(timestamp, p.season, length)
    mean_at = st.ints[slot, I_FLOAT_OFFSET] + length + 1 + b
    abs_dev_at = mean_at + length
    count_at = st.ints[slot, I_COUNT_OFFSET] + b
    count = st.season_counts[count_at]
    if count == 0:
        _store(st, slot, F_SEASON_ANCHOR, mean_at, x)
    else:
        mean = _load(st, slot, F_SEASON_ANCHOR, mean_at)
        abs_dev = np.float64(st.season_floats[abs_dev_at])
        deviation = x - mean
        st.season_floats[abs_dev_at] = _to_float32(
            abs_dev + p.seasonal_alpha * (abs(deviation) - abs_dev)
        )
        _store(st, slot, F_SEASON_ANCHOR, mean_at, mean + p.seasonal_alpha * deviation)
    if count < UINT16_MAX:
        st.season_counts[count_at] = count + 1


# --- LagForecaster ---------------------------------------------------------------------------


@_part
def _forecaster_size(st, slot, p):
    return p.n_lags + 1 + (3 if st.ints[slot, I_SEASON_LENGTH] else 0)


@_part
def _forecaster_features(st, slot, features, p):
    """``LagForecaster._features`` of the next point, into ``features``."""
    n = p.n_lags
    scale = st.floats[slot, F_SCALE]
    lags = st.lags[slot]
    head = st.ints[slot, I_LAG_HEAD]
    features[0] = 1.0
    for k in range(n):
        features[1 + k] = lags[(head + k) % n] / scale
    length = st.ints[slot, I_SEASON_LENGTH]
    if length:
        if st.ints[slot, I_N_LEARNED] >= length + 1:
            # The oldest three of the last season + 1 values: a season ago and its neighbours.
            history = st.ints[slot, I_FLOAT_OFFSET]
            history_head = st.ints[slot, I_HISTORY_HEAD]
            for j in range(3):
                at = history + (history_head + j) % (length + 1)
                features[n + 1 + j] = _load(st, slot, F_HISTORY_ANCHOR, at) / scale
        else:
            newest = lags[(head + n - 1) % n] / scale
            for j in range(3):
                features[n + 1 + j] = newest
    else:
        # No season: the three season features are 0, and stay out of the fit (see _solve_spd)
        for j in range(3):
            features[n + 1 + j] = 0.0


@_part
def _forecaster_remember(st, slot, x, p):
    """``LagForecaster._remember``: push ``x`` into the lags and the season history."""
    head = st.ints[slot, I_LAG_HEAD]
    st.lags[slot, head] = x
    st.ints[slot, I_LAG_HEAD] = (head + 1) % p.n_lags
    length = st.ints[slot, I_SEASON_LENGTH]
    if length:
        history_head = st.ints[slot, I_HISTORY_HEAD]
        _store(st, slot, F_HISTORY_ANCHOR, st.ints[slot, I_FLOAT_OFFSET] + history_head, x)
        st.ints[slot, I_HISTORY_HEAD] = (history_head + 1) % (length + 1)
    st.ints[slot, I_N_LEARNED] += 1


@_part
def _residual_std(st, slot):
    """``LagForecaster.residual_std``."""
    mad = st.floats[slot, F_ABS_RESIDUAL]
    if math.isnan(mad):
        return math.nan
    return _py_max(mad * MAD_TO_SIGMA, 1e-9 * _py_max(1.0, abs(st.floats[slot, F_SCALE])))


@_part
def _solve_spd(gram, moment, weights, size, factor, work):
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


@_part
def _forecaster_learn(st, slot, x, expected, ready, features, size, factor, work, p):
    """``LagForecaster.learn_one`` once the scale is known; ``features`` are the point's
    (``size`` of them, the last three 0 without a season)."""
    if st.ints[slot, I_N_LEARNED] < p.n_lags:  # refilling the lags after a restart
        _forecaster_remember(st, slot, x, p)
        return
    if ready:
        residual = abs(x - expected)
        mean = st.floats[slot, F_ABS_RESIDUAL]
        if math.isnan(mean):
            st.floats[slot, F_ABS_RESIDUAL] = residual
        else:
            st.floats[slot, F_ABS_RESIDUAL] = mean + p.residual_alpha * (residual - mean)
    target = x / st.floats[slot, F_SCALE]
    lam = p.forgetting_factor
    gram = st.gram[slot]
    moment = st.moment[slot]
    # A = lam * A + f f' (+ (1 - lam) * alpha on the diagonal), in the reference's order.
    packed = 0
    ridge_counts = finite = True
    for i in range(size):
        fi = features[i]
        diagonal = packed
        for j in range(i, size):
            gram[packed] = gram[packed] * lam + fi * features[j]
            packed += 1
        if lam != 1.0:  # the padding too: it keeps its ridge
            gram[diagonal] = gram[diagonal] + p.ridge_refill
        ridge_counts = ridge_counts and (p.ridge == 0.0 or gram[diagonal] <= p.ridge_limit)
        moment[i] = moment[i] * lam + fi * target
        finite = finite and math.isfinite(moment[i])
    solvable = ridge_counts and finite
    if not (solvable and _solve_spd(gram, moment, st.weights[slot], size, factor, work)):
        # The scale is wrong by orders of magnitude (see LagForecaster), or a NaN came in
        _forecaster_remember(st, slot, x, p)
        _forecaster_restart_fit(st, slot, p, work)
        return
    st.ints[slot, I_FITTED] += 1
    _forecaster_remember(st, slot, x, p)


@_part
def _forecaster_restart_fit(st, slot, p, scratch):
    """``LagForecaster._restart_fit``: a new scale from the lags, a fresh fit."""
    _learn_scale(st, slot, p, scratch)
    _reset_fit(st, slot, p)


@_part
def _learn_scale(st, slot, p, scratch):
    """The scale: the mean absolute value of the lags (oldest first, numpy's pairwise sum),
    1 if it is about 0. ``scratch`` holds at least ``n_lags`` floats."""
    n = p.n_lags
    lags = st.lags[slot]
    head = st.ints[slot, I_LAG_HEAD]  # the oldest lag
    for k in range(n):
        scratch[k] = abs(lags[(head + k) % n])
    scale = _numpy_pairwise_sum(scratch, 0, n) / n
    st.floats[slot, F_SCALE] = scale if scale > 1e-9 else 1.0


@_part
def _reset_fit(st, slot, p):
    """A fit that learned nothing: the ridge alone on the diagonal, no weights."""
    gram = st.gram[slot]
    gram[:] = 0.0
    size = st.moment.shape[1]
    diagonal = 0
    for i in range(size):  # the padding too, see _solve_spd
        gram[diagonal] = p.ridge
        diagonal += size - i
    st.moment[slot, :] = 0.0
    st.weights[slot, :] = 0.0
    st.ints[slot, I_FITTED] = 0


@_jit
def _season_length_of(step, p):
    """``DetectorStack._season_length``: points per season at ``step``, 0 if it does not fit."""
    if p.season <= 0 or step <= 0:
        return 0
    ratio = p.season / step
    if not math.isfinite(ratio):
        return 0
    length = _py_round(ratio)
    if 2 <= length <= p.max_season_length:
        return int(length)
    return 0


@_jit
def _median_step(st, slot, last_timestamp, n_first, sorted_steps):
    """``DetectorStack._median_step`` of the first points (``last_timestamp`` being the
    newest), by insertion sort into ``sorted_steps``."""
    times = st.first_times[slot]
    n_steps = n_first  # the first n_first timestamps and last_timestamp
    for k in range(n_steps):
        step = (last_timestamp if k + 1 == n_first else times[k + 1]) - times[k]
        j = k
        while j > 0 and sorted_steps[j - 1] > step:
            sorted_steps[j] = sorted_steps[j - 1]
            j -= 1
        sorted_steps[j] = step
    return sorted_steps[n_steps // 2] if n_steps else 0.0


@_jit
def _create_forecaster(st, slot, p, sorted_steps):
    """The end of ``DetectorStack._learn_expectations`` warm-up: learn the step, size the
    season, and feed the first points to a new forecaster and seasonal profile. The values
    are already in the lags ring, in order (``_remember`` of a fresh forecaster gives the same)."""
    n = p.n_lags
    times = st.first_times[slot]
    step = _median_step(st, slot, times[n - 1], n - 1, sorted_steps)
    length = _season_length_of(step, p)
    st.floats[slot, F_STEP] = step
    st.ints[slot, I_SEASON_LENGTH] = length
    _reset_fit(st, slot, p)
    st.ints[slot, I_N_LEARNED] = n
    st.floats[slot, F_ABS_RESIDUAL] = math.nan
    _learn_scale(st, slot, p, sorted_steps)
    lags = st.lags[slot]
    head = st.ints[slot, I_LAG_HEAD]  # back at 0 after n pushes
    if length:
        floats_at = st.pool_room[0]
        counts_at = st.pool_room[1]
        st.pool_room[0] = floats_at + 3 * length + 1
        st.pool_room[1] = counts_at + length
        st.season_floats[floats_at : floats_at + 3 * length + 1] = 0.0
        st.season_counts[counts_at : counts_at + length] = 0
        st.ints[slot, I_FLOAT_OFFSET] = floats_at
        st.ints[slot, I_COUNT_OFFSET] = counts_at
        st.floats[slot, F_SEASON_ANCHOR] = st.floats[slot, F_HISTORY_ANCHOR] = math.nan
        history_head = 0
        for k in range(n):
            value = lags[(head + k) % n]
            _store(st, slot, F_HISTORY_ANCHOR, floats_at + history_head, value)
            history_head = (history_head + 1) % (length + 1)
            _seasonal_learn(st, slot, times[k], value, p)
        st.ints[slot, I_HISTORY_HEAD] = history_head
    st.ints[slot, I_HAS_FORECASTER] = 1
    st.ints[slot, I_N_FIRST] = 0


@_part
def _pool_needed(st, slot, timestamp, p, sorted_steps):
    """Pool floats the slot allocates at this point (0 unless it learns its step now)."""
    n_first = st.ints[slot, I_N_FIRST]
    if st.ints[slot, I_HAS_FORECASTER] or n_first + 1 < p.n_lags:
        return 0
    length = _season_length_of(_median_step(st, slot, timestamp, n_first, sorted_steps), p)
    return length


# --- ZScore (RollingStats mean and variance) ---------------------------------------------------


@_part
def _zscore_learn(st, slot, x, p):
    """``RollingStats.update`` (mean and M2 only: the z-score needs no min or max)."""
    w = p.window_size
    window = st.z_window[slot]
    n = st.ints[slot, I_Z_N]
    head = st.ints[slot, I_Z_HEAD]
    mean = st.floats[slot, F_Z_MEAN]
    m2 = st.floats[slot, F_Z_M2]
    if n == w:
        old = window[head]
        head = (head + 1) % w
        n -= 1
        if n == 0:
            mean = 0.0
            m2 = 0.0
        else:
            mean_after = ((n + 1) * mean - old) / n
            m2 -= (old - mean) * (old - mean_after)
            mean = mean_after
    window[(head + n) % w] = x
    n += 1
    delta = x - mean
    mean += delta / n
    m2 += delta * (x - mean)
    st.ints[slot, I_Z_N] = n
    st.ints[slot, I_Z_HEAD] = head
    st.floats[slot, F_Z_MEAN] = mean
    st.floats[slot, F_Z_M2] = m2


@_part
def _zscore_std(st, slot):
    """``RollingStats.std`` (NaN under two values)."""
    n = st.ints[slot, I_Z_N]
    if n - 1 <= 0:
        return math.nan
    return math.sqrt(_py_max(st.floats[slot, F_Z_M2], 0.0) / (n - 1))


# --- ShapeFeatures and Half-Space-Trees ------------------------------------------------------


@_jit
def _walk_forest(
    v, split_features, thresholds, l_left, l_root, r_left, r_root, height, size_limit, score
):
    """``detectors.hst._walk_forest`` (score, then learn ``v``) on half the masses.

    Every point a window learns is counted at every node down to a leaf, so a node's mass is
    the sum of its children's: storing, for each inner node, only its left child's mass
    (``l_left`` / ``r_left``, ``(n_trees, 2 ** height - 1)``) and the root's (``l_root``:
    points learned in the current window; ``r_root``: a full window) keeps every mass, in half
    the memory. The walk carries the current node's masses down: the right child's is the
    node's minus the left child's. Scores and routing are then those of the full arrays.
    """
    total = 0.0
    for tree in range(split_features.shape[0]):
        node = 0
        depth_pow = 1
        tree_score = 0.0
        scoring = score
        r_mass = r_root  # the current node's masses (l_mass before this point is counted)
        l_mass = l_root
        for _ in range(height):
            if scoring:
                tree_score += r_mass * depth_pow
                depth_pow *= 2
                if r_mass < size_limit:
                    scoring = False
            left_mass = np.int64(l_left[tree, node])
            value = v[split_features[tree, node]]
            # Below the split goes left; a missing value (NaN) follows the busier child, like river
            if value < thresholds[tree, node] or (
                value != value and not left_mass < l_mass - left_mass
            ):
                l_left[tree, node] = left_mass + 1
                l_mass = left_mass
                r_mass = np.int64(r_left[tree, node])
                node = 2 * node + 1
            else:
                l_mass -= left_mass
                r_mass -= np.int64(r_left[tree, node])
                node = 2 * node + 2
        if scoring:
            tree_score += r_mass * depth_pow
        total += tree_score
    return total


@_part
def _hst_score_then_learn(st, slot, x, p, split_features, thresholds, window, partials, v):
    """``HalfSpaceTreesDetector.score_then_learn``: shape features, then one walk."""
    shape = st.shape_window[slot]
    max_length = p.window_size - 1
    n = st.ints[slot, I_SHAPE_N]
    head = st.ints[slot, I_SHAPE_HEAD]
    last = st.floats[slot, F_SHAPE_LAST]
    diff = 0.0 if math.isnan(last) else x - last
    for k in range(n):
        window[k] = shape[(head + k) % shape.shape[0]]
    window[n] = x
    size = n + 1
    mean = _fsum(window, size, partials) / size
    if size > 1:
        for k in range(size):
            deviation = window[k] - mean
            window[k] = deviation * deviation
        std = math.sqrt(_fsum(window, size, partials) / (size - 1))
    else:
        std = 0.0
    v[0], v[1], v[2], v[3] = x, diff, mean, std
    for k in range(4):
        raw = v[k]
        low = st.floats[slot, F_SHAPE_LOW + k]
        high = st.floats[slot, F_SHAPE_HIGH + k]
        v[k] = (raw - low) / (high - low) if high - low > 0 else 0.5
        if raw < low:
            st.floats[slot, F_SHAPE_LOW + k] = raw
        if raw > high:
            st.floats[slot, F_SHAPE_HIGH + k] = raw
    if max_length > 0:
        if n == max_length:
            shape[head] = x
            st.ints[slot, I_SHAPE_HEAD] = (head + 1) % max_length
        else:
            shape[(head + n) % max_length] = x
            st.ints[slot, I_SHAPE_N] = n + 1
    st.floats[slot, F_SHAPE_LAST] = x

    latest = st.ints[slot, I_HST_LATEST]
    first_window = st.ints[slot, I_HST_FIRST_WINDOW] != 0
    counter = st.ints[slot, I_HST_COUNTER]
    total = _walk_forest(
        v,
        split_features,
        thresholds,
        st.masses[slot, latest],
        counter,
        st.masses[slot, 1 - latest],
        p.hst_window_size,
        p.height,
        p.hst_size_limit,
        not first_window,
    )
    counter += 1
    if counter == p.hst_window_size:
        # The latest window becomes the reference; the old reference is emptied and reused.
        latest = 1 - latest
        st.masses[slot, latest] = 0
        st.ints[slot, I_HST_LATEST] = latest
        st.ints[slot, I_HST_FIRST_WINDOW] = 0
        counter = 0
    st.ints[slot, I_HST_COUNTER] = counter
    return 0.0 if first_window else 1 - total / p.hst_max_score


@_part
def _blocked_max(highs, n):
    """``BlockedMax.max`` of the block maxima ``highs`` after ``n`` values."""
    return highs.max() if n > 0 else -math.inf


@_part
def _blocked_update(highs, n, block_size, x):
    """``BlockedMax.update`` of the block maxima ``highs`` after ``n`` values (x not NaN)."""
    at = n // block_size % highs.shape[0]
    if n % block_size == 0:  # a new block replaces the oldest
        highs[at] = x
    else:
        highs[at] = _py_max(highs[at], x)


@_part
def _range_score(st, slot, x, which, grace, p):
    """``DetectorStack._range_score``: the calibrated range break of ``x``, then the range
    (``BlockedRange.update``: a BlockedMax of the values and one of their negatives) and the
    calibrator ``which`` learn it."""
    negated_lows = st.range_bounds[slot, 0]
    highs = st.range_bounds[slot, 1]
    n = st.ints[slot, I_RANGE_N]
    raw = 0.0
    if n > 0:
        low = -_blocked_max(negated_lows, n)
        high = _blocked_max(highs, n)
        if high > low:
            raw = _py_max(_py_max(0.0, x - high), low - x) / (high - low)
    if not math.isnan(x):
        _blocked_update(highs, n, p.range_block_size, x)
        _blocked_update(negated_lows, n, p.range_block_size, -x)
        st.ints[slot, I_RANGE_N] = n + 1
    score = _decades(_tail_score(st, slot, which, raw, grace, p), p.score_decades)
    _tail_learn(st, slot, which, raw, p)
    return score


# --- BlockedMax of the onset and HysteresisAlert -----------------------------------------------


@_part
def _alert_update(st, slot, score, timestamp, p):
    """``HysteresisAlert.update``; returns the transition code (the fields are in the state)."""
    f = st.floats[slot]
    if st.ints[slot, I_FIRING]:
        if score > f[F_PEAK]:
            f[F_PEAK] = score
            f[F_PEAK_AT] = timestamp
        if score >= p.exit_threshold:
            st.ints[slot, I_RUN] = 0
            f[F_LAST_ACTIVE] = timestamp
            return NO_TRANSITION
        st.ints[slot, I_RUN] += 1
        if st.ints[slot, I_RUN] < p.min_duration:
            return NO_TRANSITION
        st.ints[slot, I_FIRING] = 0
        st.ints[slot, I_RUN] = 0
        st.ints[slot, I_COOLDOWN_LEFT] = p.cooldown
        return RESOLVED
    if st.ints[slot, I_COOLDOWN_LEFT] > 0:
        st.ints[slot, I_COOLDOWN_LEFT] -= 1
        return NO_TRANSITION
    if score < p.threshold:
        st.ints[slot, I_RUN] = 0
        return NO_TRANSITION
    if st.ints[slot, I_RUN] == 0:
        f[F_RUN_START] = timestamp
        f[F_PEAK] = score
        f[F_PEAK_AT] = timestamp
    elif score > f[F_PEAK]:
        f[F_PEAK] = score
        f[F_PEAK_AT] = timestamp
    st.ints[slot, I_RUN] += 1
    if st.ints[slot, I_RUN] < p.min_duration:
        return NO_TRANSITION
    st.ints[slot, I_FIRING] = 1
    st.ints[slot, I_RUN] = 0
    f[F_ALERT_START] = f[F_RUN_START]
    f[F_LAST_ACTIVE] = timestamp
    return OPENED


# --- The stack ---------------------------------------------------------------------------------


@_jit
def process_points(
    start,
    slots,
    timestamps,
    values,
    p,
    detectors,
    graces,
    split_features,
    thresholds,
    st,
    out,
    size_marker,
):
    """``DetectorStack.process`` for points ``start:`` in order; returns how many were done.

    ``size_marker`` is a tuple of ``n_lags + 4`` zeros: its length, the size of the
    forecaster's system, is then a compile-time constant.

    Stops early (returning the index of the first point not processed, with no state touched
    for it) when that point makes its slot learn its sampling step and the season pool lacks
    room for the slot's season: the caller grows the pool and calls again from there. Seasons
    are allocated from ``st.pool_room[0:2]`` up to ``st.pool_room[2:4]``, so that calls on
    disjoint slots may run at once, each in its own part of the pools.
    """
    n_points = len(slots)
    n_detectors = len(detectors)
    recalibrator = n_detectors  # the calibrator after the detectors'
    range_calibrator = n_detectors + 1
    max_size = len(size_marker)
    features = np.zeros(max_size)
    factor = np.zeros(max_size * max_size)
    work = np.zeros(max_size)
    window = np.zeros(p.window_size + 1)
    partials = np.zeros(p.window_size + 2)
    v = np.zeros(4)
    sorted_steps = np.zeros(max(p.n_lags, 1))
    raws = np.zeros(n_detectors)
    for i in range(start, n_points):
        slot = slots[i]
        t = timestamps[i]
        x = values[i]
        length = _pool_needed(st, slot, t, p, sorted_steps)
        if length and (
            st.pool_room[0] + 3 * length + 1 > st.pool_room[2]
            or st.pool_room[1] + length > st.pool_room[3]
        ):
            return i

        f = st.floats[slot]
        # A silence: lag-based models restart their windows (DetectorStack._restart_after_gap).
        if f[F_STEP] > 0 and t - f[F_LAST_TIMESTAMP] > p.gap_steps * f[F_STEP]:
            st.ints[slot, I_N_LEARNED] = 0
            st.ints[slot, I_SHAPE_N] = 0
            st.ints[slot, I_SHAPE_HEAD] = 0
            f[F_SHAPE_LAST] = math.nan
            st.ints[slot, I_Z_N] = 0
            st.ints[slot, I_Z_HEAD] = 0
            f[F_Z_MEAN] = 0.0
            f[F_Z_M2] = 0.0
            f[F_PREVIOUS_DEVIATION] = 0.0
        f[F_LAST_TIMESTAMP] = t

        # Expectation
        has_forecaster = st.ints[slot, I_HAS_FORECASTER] != 0
        season_length = st.ints[slot, I_SEASON_LENGTH]
        has_features = has_forecaster and st.ints[slot, I_N_LEARNED] >= p.n_lags
        ready = has_features and st.ints[slot, I_FITTED] >= p.n_lags
        expected = lower = upper = residual_std = math.nan
        if has_features:
            _forecaster_features(st, slot, features, p)
        if has_forecaster:
            residual_std = _residual_std(st, slot)
            if ready:
                size = _forecaster_size(st, slot, p)
                weights = st.weights[slot]
                total = 0.0
                for k in range(size):
                    total += features[k] * weights[k]
                expected = total * f[F_SCALE]
            half_width = p.band_width * residual_std
            lower = expected - half_width
            upper = expected + half_width
        spread = f[F_SPREAD_VAR] if not math.isnan(f[F_SPREAD_MEAN]) else math.nan
        floor = p.spread_floor * math.sqrt(_py_max(spread, 0.0))

        # Surprise (DetectorStack._surprise)
        surprise = 0.0
        if ready and not math.isnan(expected):
            std = _py_max(residual_std, floor)
            surprise = abs(x - expected) / std
            if season_length:
                seasonal, own = _seasonal_scores(st, slot, t, x, std, p)
                returning = False
                if p.return_is_surprise:  # see DetectorStack._surprise
                    usual = _seasonal_predict(st, slot, t, p)
                    unusual = own > p.min_surprise
                    returning = not unusual and (
                        abs(usual - f[F_PREVIOUS_USUAL]) < abs(f[F_PREVIOUS_DEVIATION])
                    )
                    f[F_PREVIOUS_USUAL] = usual
                    f[F_PREVIOUS_DEVIATION] = x - usual if unusual else 0.0
                if not math.isnan(seasonal) and not returning:
                    surprise = _py_min(surprise, seasonal)
        capped = _py_min(surprise, p.surprise_cap)
        if math.isnan(f[F_VOLATILITY]):
            f[F_VOLATILITY] = capped
        else:
            f[F_VOLATILITY] += p.volatility_alpha * (capped - f[F_VOLATILITY])

        # Rolling z-score, plain and floored
        z_n = st.ints[slot, I_Z_N]
        z_mean = f[F_Z_MEAN] if z_n > 0 else math.nan
        z_std = _zscore_std(st, slot)
        if z_n < 2:
            zscore = 0.0
        else:
            zscore = (x - z_mean) / _py_max(z_std, p.zscore_min_std * _py_max(1.0, abs(z_mean)))
        z_std = 0.0 if math.isnan(z_std) else z_std
        if z_std == 0.0 and floor == 0.0 or math.isnan(z_mean):
            floored_zscore = 0.0
        else:
            floored_std = _py_max(z_std, floor)
            floored_zscore = abs(x - z_mean) / floored_std if floored_std > 0 else 0.0

        # Raw detector scores
        raw_hst = math.nan
        if p.uses_hst:
            deseasonalized = x
            if season_length and spread != 0.0:  # see DetectorStack._deseasonalized
                usual = _seasonal_predict(st, slot, t, p)
                if not math.isnan(usual):
                    deseasonalized = x - usual
            score = _hst_score_then_learn(
                st, slot, deseasonalized, p, split_features, thresholds, window, partials, v
            )
            raw_hst = 1.0 / _py_max(1.0 - score, 1e-9) - 1.0

        # Calibration, agreement, recalibration
        best = 0.0
        evidence = 0.0
        agreeing = 0
        for d in range(n_detectors):
            code = detectors[d]
            if code == FORECAST:
                raw = _py_max(0.0, surprise - p.min_surprise)
            elif code == VOLATILITY:
                raw = f[F_VOLATILITY]
            elif code == HST:
                raw = raw_hst
            else:
                raw = _py_max(0.0, floored_zscore - p.min_surprise)
            raws[d] = raw
            score = _decades(_tail_score(st, slot, d, raw, graces[d], p), p.score_decades)
            if score >= p.threshold:
                agreeing |= 1 << d  # bit d: the bank's d-th detector
            best = score if d == 0 else _py_max(best, score)
            evidence += score
        if p.use_max:
            combined = _py_max(0.0, best - p.bonferroni)
        else:
            # Fisher: the tail of Gamma(k, 1) at -ln of the product of the k p-values.
            evidence = evidence * p.score_decades * p.ln10
            term = tail = 1.0
            for k in range(1, n_detectors):
                term *= evidence / k
                tail += term
            combined = _decades(math.exp(-evidence) * tail, p.score_decades)
        st.ints[slot, I_N_SEEN] += 1
        if p.recalibrate and st.ints[slot, I_N_SEEN] > p.grace_period:
            unusual = _decades(
                _tail_score(st, slot, recalibrator, combined, graces[recalibrator], p),
                p.score_decades,
            )
            _tail_learn(st, slot, recalibrator, combined, p)
            combined = _py_min(combined, unusual)
        if p.range_break:
            range_score = _range_score(st, slot, x, range_calibrator, graces[range_calibrator], p)
            if range_score >= p.threshold:
                agreeing |= 1 << n_detectors  # the bit after the detectors'
            combined = _py_max(combined, range_score)

        # Onset and alert
        recent_n = st.ints[slot, I_RECENT_COUNT]
        recent = st.recent_blocks[slot]
        is_onset = not (
            p.refractory != 0
            and recent_n != 0
            and combined <= _blocked_max(recent, recent_n) + p.onset_margin
        )
        anomaly_score = combined if is_onset else 0.0
        firing = st.ints[slot, I_FIRING] != 0
        transition = _alert_update(st, slot, combined if firing else anomaly_score, t, p)

        # Learn
        _blocked_update(recent, recent_n, p.recent_block_size, combined)
        st.ints[slot, I_RECENT_COUNT] = recent_n + 1
        for d in range(n_detectors):
            _tail_learn(st, slot, d, raws[d], p)
        _zscore_learn(st, slot, x, p)
        st.ints[slot, I_SPREAD_N] += 1
        if math.isnan(f[F_SPREAD_MEAN]):
            f[F_SPREAD_MEAN] = x
        else:
            alpha = _py_max(p.spread_alpha, 1.0 / st.ints[slot, I_SPREAD_N])
            delta = x - f[F_SPREAD_MEAN]
            f[F_SPREAD_MEAN] += alpha * delta
            f[F_SPREAD_VAR] = (1 - alpha) * (f[F_SPREAD_VAR] + alpha * delta * delta)
        if has_forecaster:
            _forecaster_learn(st, slot, x, expected, ready, features, max_size, factor, work, p)
            if season_length:
                _seasonal_learn(st, slot, t, x, p)
        else:
            # Warm-up: keep the point; the values go straight into the lags ring, in order.
            n_first = st.ints[slot, I_N_FIRST]
            st.first_times[slot, n_first] = t
            st.lags[slot, n_first] = x
            st.ints[slot, I_N_FIRST] = n_first + 1
            if n_first + 1 >= p.n_lags:
                _create_forecaster(st, slot, p, sorted_steps)

        out.anomaly_score[i] = anomaly_score
        out.combined[i] = combined
        out.alert[i] = st.ints[slot, I_FIRING] != 0
        out.transition[i] = transition
        if transition != NO_TRANSITION:
            out.alert_start[i] = f[F_ALERT_START]
            out.alert_end[i] = f[F_LAST_ACTIVE] if transition == RESOLVED else math.nan
            out.peak_score[i] = f[F_PEAK]
            out.peak_at[i] = f[F_PEAK_AT]
        else:
            out.alert_start[i] = math.nan
            out.alert_end[i] = math.nan
            out.peak_score[i] = math.nan
            out.peak_at[i] = math.nan
        out.zscore[i] = zscore
        out.hst_score[i] = raw_hst
        out.forecast_score[i] = surprise
        out.expected[i] = expected
        out.lower[i] = lower
        out.upper[i] = upper
        out.agreeing[i] = agreeing
    return n_points
