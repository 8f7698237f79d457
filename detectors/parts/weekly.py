"""The weekly season: what the daily profile misses, per hour of the week, used on a series
where it explains the values better than the daily profile alone.

The daily profile (:mod:`detectors.parts.seasonal`) knows the time of day; a weekend that is
quieter than the weekdays is, to it, a change of level every Saturday and Monday (and it
learns some of the weekend, which it carries into Monday and Tuesday). The weekly season is a
**correction** to it: for each of the 168 hours of the week, an exponentially weighted mean of
the daily profile's residual ``x - usual`` in that hour. The weekly usual value is then the
daily one plus the correction of its hour, in the daily profile's fine buckets and spread. No
time zone is needed: a weekend is learned where the series has it (in the series' own time
zone, whatever it is), and so is any other weekly rhythm (a Monday backlog, a Sunday batch).

Each hour is folded into its bucket once, when it ends, as the mean of its residuals (with
``alpha`` 0.3 a week, as a day in the daily profile), so a 15-second and an hourly series
learn it alike (in time, not points), and it costs 168 float32 a series. A bucket is known
once it has one hour folded in.

**Chosen per series, from the data, in time.** Before a point is learned, the absolute errors
of the daily usual value and of the weekly one are compared on the points where both are
known, each an exponentially weighted mean over ``error_time`` seconds of the series' time (3
days): the weekly season is used only while its error is below ``margin`` (0.9) times the
daily one. A series without a weekly rhythm keeps the daily profile alone (its weekly
correction is noise, which the comparison sees), so it scores as before; so does every series
in its first week, where no hour of the week is known yet.
Where it is used, the daily buckets' deviations (widened by the weekday/weekend alternation
they average) are narrowed by the square root of the errors' ratio (:func:`spread`), so that
the corrected usual value does not excuse what it does not explain (a variance burst on a
Saturday); the square root costs the quiet fleet least (bench/README.md, "The weekly
season").

Examples
--------
A daily profile that is always 10 where weekends (hours 120 to 167 of the week) are at 4:

>>> from detectors.layout import allocate
>>> c = constants({"weekly_season": True})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> def level(t):
...     return 4.0 if int(t // 3600) % 168 >= 120 else 10.0
>>> for t in range(0, 3 * 604800, 900):
...     learn(st, 0, float(t), level(t), 10.0, 900.0, c)
>>> saturday = 3 * 604800 + 130 * 3600.0
>>> correction(st, 0, saturday, c), correction(st, 0, saturday - 100 * 3600, c)
(-6.0, 0.0)
>>> bool(chosen(st, 0, c))
True
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import jit, part, to_float32
from detectors.layout import Field, state_type

HOUR = 3600.0
WEEK = 7 * 86400.0
N_BUCKETS = 168  # hours of the week
#: ``hour`` before any residual was kept.
NO_HOUR = -(2**62)

FIELDS = (
    Field("corrections", "f4", (N_BUCKETS,), initial=math.nan, doc="mean residual per hour"),
    Field("hour", "i8", initial=NO_HOUR, doc="the hour being accumulated, since the epoch"),
    Field("total", "f8", doc="the sum of its residuals"),
    Field("count", "i8", doc="how many"),
    Field("daily_error", "f8", initial=math.nan, doc="EWMean of |x - daily usual|"),
    Field("weekly_error", "f8", initial=math.nan, doc="EWMean of |x - weekly usual|"),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple(
    "Constants", ["enabled", "alpha", "error_time", "margin"], module=__name__
)


def constants(params) -> Constants:
    return Constants(
        enabled=bool(params.get("weekly_season", True)),
        alpha=0.3,
        error_time=3 * 86400.0,
        margin=0.9,
    )


@jit
def _bucket(hour):
    return int(hour % N_BUCKETS)


@part
def chosen(st, slot, c):
    """Whether the weekly season explains the series' recent values better than the daily
    profile alone (False until both errors are known)."""
    return c.enabled and st.weekly_error[slot] < c.margin * st.daily_error[slot]


@part
def spread(st, slot, c):
    """How much narrower the weekly season's errors are than the daily profile's (1 where it
    is not chosen): the daily buckets' deviations, which a weekly rhythm widens, narrowed so
    that the weekly usual value does not excuse what it would not explain."""
    return math.sqrt(st.weekly_error[slot] / st.daily_error[slot]) if chosen(st, slot, c) else 1.0


@part
def correction(st, slot, timestamp, c):
    """What to add to the daily usual value at ``timestamp``: its hour's correction where the
    weekly season is chosen and the hour known, else 0."""
    if not chosen(st, slot, c):
        return 0.0
    return known(st, slot, math.floor(timestamp / HOUR))


@part
def known(st, slot, hour):
    """The correction of ``hour`` (since the epoch), 0 while that hour of the week is unknown."""
    value = float(st.corrections[slot, _bucket(hour)])
    return 0.0 if math.isnan(value) else value


@part
def learn(st, slot, timestamp, x, usual, step, c):
    """Compare the two seasons' errors on ``x`` (the daily ``usual`` value known), then keep
    its residual in its hour; an hour is folded into its bucket when a later one starts."""
    if not c.enabled or math.isnan(usual):
        return
    hour = int(math.floor(timestamp / HOUR))
    kept = float(st.corrections[slot, _bucket(hour)])
    if not math.isnan(kept):
        weight = -math.expm1(-max(step, 0.0) / c.error_time)
        daily = abs(x - usual)
        weekly = abs(x - usual - kept)
        old = st.daily_error[slot]
        if math.isnan(old):
            st.daily_error[slot] = daily
            st.weekly_error[slot] = weekly
        else:
            st.daily_error[slot] = old + weight * (daily - old)
            old = st.weekly_error[slot]
            st.weekly_error[slot] = old + weight * (weekly - old)
    current = st.hour[slot]
    if hour > current:
        if st.count[slot] > 0:
            _fold(st, slot, current, st.total[slot] / st.count[slot], c)
        st.hour[slot] = hour
        st.total[slot] = 0.0
        st.count[slot] = 0
    st.total[slot] += x - usual
    st.count[slot] += 1


@part
def _fold(st, slot, hour, mean, c):
    b = _bucket(hour)
    old = float(st.corrections[slot, b])
    if math.isnan(old):
        st.corrections[slot, b] = to_float32(mean)
    else:
        st.corrections[slot, b] = to_float32(old + c.alpha * (mean - old))
