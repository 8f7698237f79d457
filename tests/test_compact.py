"""Float32 storage of the season: a property against float64, and the gauges it must not break."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference.compact import FLOAT32_MAX, Float32Offsets
from tests.reference.seasonal import SeasonalProfile

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(finite, min_size=1, max_size=50))
def test_offsets_read_back_within_float32_precision_of_the_offset(values):
    stored = Float32Offsets(len(values))
    for i, x in enumerate(values):
        stored[i] = x
    assert stored.anchor == values[0]
    for i, x in enumerate(values):
        offset = x - stored.anchor
        if abs(offset) <= FLOAT32_MAX:
            # float32 rounding of the offset (or its subnormal step), float64 of the sum
            bound = abs(offset) * 2**-24 + 2**-149 + abs(x) * 2**-52
            assert abs(stored[i] - x) <= bound
        else:  # kept as the largest float32: finite, not on the wrong side of the anchor
            assert math.isfinite(stored[i])
            assert (stored[i] - stored.anchor) * math.copysign(1.0, offset) >= 0


def test_a_boot_time_gauge_is_its_own_usual_value_exactly():
    """1.7e9 + 1 is not a float32: stored as such, the profile would call the constant gauge
    unusual forever (its deviation is 0, so any difference is infinitely many deviations)."""
    profile = SeasonalProfile(period=86400, n_buckets=288)
    boot_time = 1_700_000_001.0
    for t in np.arange(0, 3 * 86400, 300.0):
        profile.learn_one(t, boot_time)
    assert float(np.float32(boot_time)) != boot_time
    assert profile.predict_one(3 * 86400.0) == boot_time
    assert profile.score_one(3 * 86400.0, boot_time) == 0.0


def test_values_beyond_float32_stay_finite():
    profile = SeasonalProfile(period=86400, n_buckets=4)
    for t, x in enumerate([1.0, 1e300, -1e300, 1e300, 5.0] * 4):
        profile.learn_one(t * 21600.0, x)
    assert all(math.isfinite(profile.predict_one(b * 21600.0)) for b in range(4))
