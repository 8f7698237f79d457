"""The alert's incident state: one alert per incident, firing while the metric is away from what
was expected before the incident began.

**Opening.** An alert opens when ``min_duration`` scores in a row reach ``threshold`` (the stack
feeds it onsets only while quiet). It then freezes the *expectation*: the forecaster's expected
value at the opening point (made from the points before it) and its standard deviation (the
band's, floored as the surprise's is), and, when the seasonal profile knows the hour, that
value's offset from the usual value of the hour. The expected value at a later time is the
usual value of that time plus the offset (a daily cycle goes on; the incident does not move it:
a bucket of the profile learns a point after it was used, a season later), or the frozen value
itself without a season. The detectors keep learning (their scores fall within a few points of
a lasting change, which no longer matters to the alert); with ``freeze_while_firing`` the
forecaster keeps its weights and band and the seasonal profile does not learn while the alert
fires (:mod:`detectors.kernel`). That costs the NAB sample 7 (profile) to 12 (both) points of
its standard score, so it is off by default.

**Staying open.** A point is *away* when it lies at least ``resolve_threshold`` frozen standard
deviations from the frozen expectation (the forecaster's band; without a season, at least the
values' own spread over the z-score's window, since one frozen value cannot follow a cycle);
while no expectation is known yet (an alert that opened during warm-up), when its combined
score is at least ``exit_threshold``.

**Resolving.** The alert resolves as ``RECOVERED`` at the first point at least the *quiet time*
after the last away point: ``max(quiet_time, 2 * step)`` of the series' own time (5 minutes or
2 samples by default, so an hourly series is not held for 5 points, nor a 15-second one
resolved after 2; the resolve is then within ``max(10 minutes, 2 samples)`` of the incident's
end, with room for a straggler). It resolves as ``ACCEPTED`` (a lasting level shift, e.g. a
deploy that changed the baseline, is the new normal) once it has fired for ``accept_after``
seconds (0: never); the detectors learn from the new level from there on. After a
resolution ``cooldown`` scores are ignored. After a recovery the detectors, which learned the
incident's level while it lasted, see the return to normal as a change: for as long as the
incident lasted, a point back within the band of the old expectation opens no new alert
(``settle_until``); a point away from it still does. The transition's start, end (the last
away point), peak and reason are in the state, which a checkpoint carries: a restored series
keeps firing.

Examples
--------
A shift of 10 at 60-second steps, opened by one score, back after 5 points: it resolves 10
minutes after its last away point.

>>> from detectors.layout import allocate
>>> c = constants({"threshold": 0.5, "exit_threshold": None, "min_duration": 1, "cooldown": 0,
...                "resolve_threshold": 3.0, "quiet_time": 600.0, "accept_after": 0.0,
...                "freeze_while_firing": False})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> values = [0.0, 10.0, 10.0, 10.0, 10.0, 10.0] + [0.0] * 12
>>> scores = [0.0, 0.9] + [0.0] * 16
>>> codes = [int(update(st, 0, s, 60.0 * t, x, 0.0, 1.0, float("nan"), 60.0, c))
...          for t, (s, x) in enumerate(zip(scores, values))]
>>> codes.index(OPENED), codes.index(RESOLVED), int(st.reason[0]) == RECOVERED
(1, 15, True)
>>> float(st.start[0]), float(st.last_active[0]), float(st.expected[0])
(60.0, 300.0, 0.0)
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import part, py_max
from detectors.layout import Field, state_type

#: Alert transitions.
NO_TRANSITION, OPENED, RESOLVED = 0, 1, 2
#: Why an alert resolved (``reason``): the metric came back, or its new level was accepted.
NO_REASON, RECOVERED, ACCEPTED = 0, 1, 2
REASONS = {RECOVERED: "recovered", ACCEPTED: "accepted new level"}

#: Defaults of the incident state (see the module docs).
RESOLVE_THRESHOLD = 3.0  # frozen standard deviations: the band's half-width
QUIET_TIME = 300.0  # seconds back near the expectation before resolving...
QUIET_SAMPLES = 2  # ...and at least this many sampling intervals
ACCEPT_AFTER = 6 * 3600.0  # seconds of firing after which a lasting level is the new normal

FIELDS = (
    Field("firing", "i8"),
    Field("run", "i8", doc="scores in a row past the threshold (opening)"),
    Field("cooldown_left", "i8"),
    Field("run_start", "f8"),
    Field("last_active", "f8", doc="the last away point"),
    Field("start", "f8"),
    Field("peak", "f8"),
    Field("peak_at", "f8"),
    Field("expected", "f8", initial=math.nan, doc="the expectation frozen at the opening"),
    Field("usual_offset", "f8", initial=math.nan, doc="expected less the usual value then"),
    Field("std", "f8", initial=math.nan, doc="the frozen standard deviation"),
    Field("reason", "i8", doc="why the last alert resolved (RECOVERED, ACCEPTED)"),
    Field("settle_until", "f8", initial=math.nan, doc="no alert back at the old expectation"),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple(
    "Constants",
    [
        "threshold",
        "exit_threshold",
        "min_duration",
        "cooldown",
        "resolve_threshold",
        "quiet_time",
        "accept_after",
        "freeze_while_firing",
    ],
)


def constants(params) -> Constants:
    threshold = params["threshold"]
    exit_threshold = params["exit_threshold"]
    return Constants(
        threshold=float(threshold),
        exit_threshold=float(threshold if exit_threshold is None else exit_threshold),
        min_duration=params["min_duration"],
        cooldown=params["cooldown"],
        resolve_threshold=float(params["resolve_threshold"]),
        quiet_time=float(params["quiet_time"]),
        accept_after=float(params["accept_after"]),
        freeze_while_firing=bool(params["freeze_while_firing"]),
    )


@part
def expectation(st, slot, usual):
    """The frozen expectation at a point whose usual value is ``usual`` (NaN: unknown); NaN
    while none is frozen."""
    offset = st.usual_offset[slot]
    if not math.isnan(offset) and not math.isnan(usual):
        return usual + offset
    return st.expected[slot]


@part
def _freeze(st, slot, expected, std, usual):
    st.expected[slot] = expected
    st.std[slot] = std
    st.usual_offset[slot] = expected - usual  # NaN without a usual value


@part
def _resolve(st, slot, reason, timestamp, c):
    st.firing[slot] = 0
    st.run[slot] = 0
    st.cooldown_left[slot] = c.cooldown
    st.reason[slot] = reason
    # The detectors learned the incident while it lasted: for as long again, coming back to
    # the old expectation is the recovery they have not relearned yet, not a new incident.
    recovered = reason == RECOVERED
    st.settle_until[slot] = timestamp + (timestamp - st.start[slot]) if recovered else math.nan
    return RESOLVED


@part
def _settling_back(st, slot, timestamp, x, usual, c):
    """Whether ``x`` is back at the last incident's expectation while the detectors relearn."""
    if not timestamp < st.settle_until[slot] or math.isnan(x):
        return False
    return abs(x - expectation(st, slot, usual)) < c.resolve_threshold * st.std[slot]


@part
def update(st, slot, score, timestamp, x, expected, std, usual, step, c):
    """The policy sees ``score`` and the value ``x``; ``expected`` and ``std`` are the
    forecaster's at this point (NaN while it warms up), ``usual`` the seasonal profile's usual
    value (NaN: unknown) and ``step`` the series' sampling interval. Returns the transition
    (its fields are in the state)."""
    if st.firing[slot]:
        if score > st.peak[slot]:
            st.peak[slot] = score
            st.peak_at[slot] = timestamp
        if math.isnan(st.expected[slot]) and not math.isnan(expected):
            _freeze(st, slot, expected, std, usual)  # opened before the forecaster was ready
        frozen = expectation(st, slot, usual)
        if math.isnan(frozen) or math.isnan(x) or math.isnan(st.std[slot]):
            away = score >= c.exit_threshold
        else:
            away = abs(x - frozen) >= c.resolve_threshold * st.std[slot]
        if away:
            st.last_active[slot] = timestamp
        elif timestamp - st.last_active[slot] >= py_max(c.quiet_time, QUIET_SAMPLES * step):
            return _resolve(st, slot, RECOVERED, timestamp, c)
        if c.accept_after > 0 and timestamp - st.start[slot] >= c.accept_after:
            return _resolve(st, slot, ACCEPTED, timestamp, c)
        return NO_TRANSITION
    if st.cooldown_left[slot] > 0:
        st.cooldown_left[slot] -= 1
        return NO_TRANSITION
    if score < c.threshold or _settling_back(st, slot, timestamp, x, usual, c):
        st.run[slot] = 0
        return NO_TRANSITION
    if st.run[slot] == 0:
        st.run_start[slot] = timestamp
        st.peak[slot] = score
        st.peak_at[slot] = timestamp
    elif score > st.peak[slot]:
        st.peak[slot] = score
        st.peak_at[slot] = timestamp
    st.run[slot] += 1
    if st.run[slot] < c.min_duration:
        return NO_TRANSITION
    st.firing[slot] = 1
    st.run[slot] = 0
    st.start[slot] = st.run_start[slot]
    st.last_active[slot] = timestamp
    st.reason[slot] = NO_REASON
    _freeze(st, slot, expected, std, usual)
    return OPENED
