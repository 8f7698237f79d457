"""The alert policy: hysteresis, so that one incident is one alert.

An alert opens when ``min_duration`` scores in a row reach ``threshold`` (the stack feeds it
onsets only while quiet), stays open while the score is at least ``exit_threshold`` and
resolves after ``min_duration`` scores below it; then ``cooldown`` scores are ignored. The
transition's start, end (the last active point) and peak are in the state.

Examples
--------
>>> from detectors.layout import allocate
>>> c = constants({"threshold": 0.5, "exit_threshold": 0.3, "min_duration": 1, "cooldown": 0})
>>> st = allocate(State, FIELDS, c, capacity=1)
>>> [int(update(st, 0, s, float(t), c)) for t, s in enumerate((0.1, 0.6, 0.4, 0.2, 0.4))]
[0, 1, 0, 2, 0]
>>> float(st.start[0]), float(st.last_active[0]), float(st.peak[0])
(1.0, 2.0, 0.6)
"""

from __future__ import annotations

import collections

from detectors.compiled import part
from detectors.layout import Field, state_type

#: Alert transitions.
NO_TRANSITION, OPENED, RESOLVED = 0, 1, 2

FIELDS = (
    Field("firing", "i8"),
    Field("run", "i8", doc="scores in a row past the threshold being crossed"),
    Field("cooldown_left", "i8"),
    Field("run_start", "f8"),
    Field("last_active", "f8"),
    Field("start", "f8"),
    Field("peak", "f8"),
    Field("peak_at", "f8"),
)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple(
    "Constants", ["threshold", "exit_threshold", "min_duration", "cooldown"]
)


def constants(params) -> Constants:
    threshold = params["threshold"]
    exit_threshold = params["exit_threshold"]
    return Constants(
        threshold=float(threshold),
        exit_threshold=float(threshold if exit_threshold is None else exit_threshold),
        min_duration=params["min_duration"],
        cooldown=params["cooldown"],
    )


@part
def update(st, slot, score, timestamp, c):
    """The policy sees ``score``; returns the transition (its fields are in the state)."""
    if st.firing[slot]:
        if score > st.peak[slot]:
            st.peak[slot] = score
            st.peak_at[slot] = timestamp
        if score >= c.exit_threshold:
            st.run[slot] = 0
            st.last_active[slot] = timestamp
            return NO_TRANSITION
        st.run[slot] += 1
        if st.run[slot] < c.min_duration:
            return NO_TRANSITION
        st.firing[slot] = 0
        st.run[slot] = 0
        st.cooldown_left[slot] = c.cooldown
        return RESOLVED
    if st.cooldown_left[slot] > 0:
        st.cooldown_left[slot] -= 1
        return NO_TRANSITION
    if score < c.threshold:
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
    return OPENED
