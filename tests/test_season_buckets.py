"""A regular series' points fill the daily season's buckets one each: a point on a bucket's
boundary belongs to that bucket. Dividing before multiplying put 83 of a day's 1,440 minutes
into the bucket before theirs, which then held two minutes while the other stayed empty."""

from __future__ import annotations

import pytest

from detectors.parts.seasonal import bucket
from tests.reference.seasonal import SeasonalProfile

DAY = 86400.0


@pytest.mark.parametrize("step", [60.0, 120.0, 300.0, 600.0, 900.0, 3600.0])
def test_each_point_of_a_day_has_its_own_bucket(step):
    n_buckets = int(DAY / step)
    reference = SeasonalProfile(period=DAY, n_buckets=n_buckets)
    for day in (0, 1, 19_700):  # 1970 and a recent epoch day
        times = [day * DAY + k * step for k in range(n_buckets)]
        assert [bucket(t, DAY, n_buckets) for t in times] == list(range(n_buckets))
        assert [reference._bucket(t) for t in times] == list(range(n_buckets))
