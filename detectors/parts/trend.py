"""How unusual the series' recent slope is: a fading least-squares line through the values in
the series' time, and the slope's usual value and spread on the series' own history (the
shared machinery of the slow incident kinds, :mod:`~detectors.parts.leak` and
:mod:`~detectors.parts.fill`).

The line is fitted with weights ``exp(-age / window)``, ``age`` in seconds of the series'
time (sums kept relative to the newest point, so that they never grow with the timestamps);
the window is at least :data:`MIN_FIT_STEPS` sampling intervals, so that an hourly series'
line has points to stand on. The slope's usual value and variance fade over ``memory``
seconds and learn each slope clipped at :data:`CLIP` standard deviations once the series is
past its warm-up: a leak that lasts two days does not teach the series that leaking is usual.
A slope is measured against the larger of its usual spread and the standard error of a line
through the series' usual noise (the values' usual variance about the line), and scores the
decades of a Gaussian tail beyond :data:`MARGIN` standard deviations: a series' slopes are not
Gaussian (cycles, level shifts, a trend that changes), only far beyond anything usual is it a
climb.

Examples
--------
>>> import math
>>> from detectors.layout import allocate, state_type
>>> S = state_type("S", FIELDS, __name__)
>>> st = allocate(S, FIELDS, None, capacity=1)
>>> for k in range(200):  # a line of slope 2 per second, no noise
...     fit(st, 0, float(k), 2.0 * k, 50.0)
>>> round(slope(st, 0), 6)
2.0
>>> round(tail_decades(MARGIN + 3.0, 6.0), 3), tail_decades(MARGIN - 1.0, 6.0)
(0.478, 0.0)
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import part, py_max, py_min
from detectors.layout import Field

#: The constants of a slow kind (:mod:`~detectors.parts.leak`, :mod:`~detectors.parts.fill`).
Constants = collections.namedtuple("Constants", ["score_decades"])


def constants(params) -> Constants:
    return Constants(score_decades=float(params["score_decades"]))


#: A fit spans at least this many sampling intervals.
MIN_FIT_STEPS = 4.0
#: Standard deviations of the usual slope a slope is clipped at when the series learns it.
CLIP = 3.0
#: Standard deviations beyond the usual slope before a slope scores anything.
MARGIN = 6.0

FIELDS = (
    Field("time", "f8", initial=math.nan, doc="timestamp of the newest point fitted (s)"),
    Field("since", "f8", initial=math.nan, doc="timestamp of the first point fitted (s)"),
    Field("w", "f8", doc="the points' fading weight"),
    Field("t", "f8", doc="weighted sum of the points' times before the newest (s, <= 0)"),
    Field("tt", "f8", doc="weighted sum of the squared times"),
    Field("x", "f8", doc="weighted sum of the values"),
    Field("tx", "f8", doc="weighted sum of time times value"),
    Field("xx", "f8", doc="weighted sum of the squared values"),
    Field("mean", "f8", doc="the slope's usual value (per second, fading)"),
    Field("var", "f8", doc="the slope's usual variance (fading)"),
    Field("noise", "f8", doc="the values' usual variance about the line (fading)"),
)


@part
def fit_window(window, step):
    """The fit's time constant for a series sampled every ``step`` seconds."""
    return py_max(window, MIN_FIT_STEPS * step)


@part
def fit(st, slot, t, x, window):
    """Add the point ``(t, x)`` to the line fading over ``window`` seconds."""
    last = st.time[slot]
    if math.isnan(last):
        st.since[slot] = t
    else:
        dt = py_max(t - last, 0.0)
        fade = math.exp(-dt / window)
        w, s_t = st.w[slot], st.t[slot]
        # Times move dt back (relative to the new point), then everything fades.
        st.tt[slot] = fade * (st.tt[slot] - 2.0 * dt * s_t + dt * dt * w)
        st.tx[slot] = fade * (st.tx[slot] - dt * st.x[slot])
        st.t[slot] = fade * (s_t - dt * w)
        st.w[slot] = fade * w
        st.x[slot] = fade * st.x[slot]
        st.xx[slot] = fade * st.xx[slot]
    st.time[slot] = t
    st.w[slot] += 1.0
    st.x[slot] += x
    st.xx[slot] += x * x


@part
def slope(st, slot):
    """The fitted line's slope (per second); NaN before two distinct times."""
    w, s_t = st.w[slot], st.t[slot]
    spread = w * st.tt[slot] - s_t * s_t
    if not spread > 0.0:
        return math.nan
    return (w * st.tx[slot] - s_t * st.x[slot]) / spread


@part
def residual_variance(st, slot, b):
    """The values' variance about the line of slope ``b``."""
    w = st.w[slot]
    if w <= 0.0:
        return 0.0
    mean_t, mean_x = st.t[slot] / w, st.x[slot] / w
    var_t = py_max(st.tt[slot] / w - mean_t * mean_t, 0.0)
    var_x = py_max(st.xx[slot] / w - mean_x * mean_x, 0.0)
    return py_max(var_x - b * b * var_t, 0.0)


@part
def standard_error(st, slot, variance):
    """The standard error of the line's slope for values of ``variance`` about it: over the
    spread of the points' times, for the points' weight."""
    w = st.w[slot]
    if w <= 0.0:
        return 0.0
    mean_t = st.t[slot] / w
    var_t = st.tt[slot] / w - mean_t * mean_t
    if not var_t > 0.0:
        return 0.0
    return math.sqrt(py_max(variance, 0.0) / (w * var_t))


@part
def deviation(st, slot, b):
    """The slope ``b`` less its usual value, in standard deviations of the usual slope or in
    the standard errors of a line through the usual noise, the larger (a line through noise
    is no climb; a climb's own bend away from the line is no noise)."""
    spread = py_max(math.sqrt(py_max(st.var[slot], 0.0)), standard_error(st, slot, st.noise[slot]))
    if not spread > 0.0:
        return 0.0
    return (b - st.mean[slot]) / spread


@part
def learn_slope(st, slot, b, dt, memory, clip):
    """The usual slope learns ``b`` after ``dt`` seconds, fading over ``memory`` seconds;
    ``clip``: whether ``b`` is first clipped at :data:`CLIP` standard deviations."""
    if math.isnan(b):
        return
    alpha = 1.0 - math.exp(-py_max(dt, 0.0) / memory)
    delta = b - st.mean[slot]
    if clip:
        limit = CLIP * math.sqrt(py_max(st.var[slot], 0.0))
        delta = py_max(-limit, py_min(limit, delta))
    st.mean[slot] += alpha * delta
    st.var[slot] = (1.0 - alpha) * (st.var[slot] + alpha * delta * delta)
    noise = residual_variance(st, slot, b)
    if clip:
        noise = py_min(noise, CLIP * CLIP * st.noise[slot])
    st.noise[slot] += alpha * (noise - st.noise[slot])


@part
def tail_decades(z, score_decades):
    """Decades (over ``score_decades``, in [0, 1]) of a Gaussian tail beyond ``z - MARGIN``."""
    excess = z - MARGIN
    if not excess > 0.0:
        return 0.0
    p = 0.5 * math.erfc(excess / math.sqrt(2.0))
    if p <= 0.0:
        return 1.0
    return py_min(1.0, -math.log10(p) / score_decades)


@part
def score(st, slot, t, x, step, window, memory, warm_up, upward, score_decades):
    """The score of the point ``(t, x)`` of a series sampled every ``step`` seconds, in decades
    over ``score_decades``: its slope over ``window`` seconds against the usual slope, learned
    over ``memory`` seconds; 0 until the usual slope has been learned over ``warm_up``
    seconds (from two windows on: the line's first slopes stand on too few points to be
    learned). ``upward``:
    only a climb scores (else either direction). Then the slope is learned (a missing value
    changes nothing)."""
    if math.isnan(x):
        return 0.0
    window = fit_window(window, step)
    last = st.time[slot]
    fit(st, slot, t, x, window)
    b = slope(st, slot)
    if math.isnan(b) or math.isnan(last):
        return 0.0
    age = t - st.since[slot]
    if age < 2.0 * window:  # the line's first slopes stand on too few points to be learned
        return 0.0
    warm = age >= 2.0 * window + warm_up  # the usual slope learned over warm_up seconds
    result = 0.0
    if warm:
        z = deviation(st, slot, b)
        result = tail_decades(z if upward else abs(z), score_decades)
    learn_slope(st, slot, b, t - last, memory, warm)
    return result
