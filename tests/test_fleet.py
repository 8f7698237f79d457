"""The realistic fleet (sim.fleet): determinism, quiet vs incidents, incidents in time, shapes."""

from __future__ import annotations

import collections

import numpy as np
import pandas as pd
import pytest

from sim.fleet import INTERVALS, KINDS, SHAPES, fleet, render, series_spec


def _same(a, b) -> bool:
    return a.frame.equals(b.frame) and a.incidents == b.incidents


def test_same_seed_same_fleet_other_seed_other_fleet():
    first, again, other = fleet(12, 1, seed=5), fleet(12, 1, seed=5), fleet(12, 1, seed=6)
    assert all(_same(a, b) for a, b in zip(first, again, strict=True))
    assert not any(_same(a, b) for a, b in zip(first, other, strict=True))


def test_quiet_fleet_has_no_labels_and_the_same_data_outside_incidents():
    quiet, loud = fleet(20, 2, seed=1, incidents=False), fleet(20, 2, seed=1)
    assert all(s.windows == [] and s.incidents == () for s in quiet)
    assert sum(len(s.windows) for s in loud) >= 20  # at least one incident per series
    for q, s in zip(quiet, loud, strict=True):
        assert q.frame["timestamp"].equals(s.frame["timestamp"])
        if s.spec.shape == "boot_time":
            continue  # a reboot changes the gauge for good
        outside = ~s.labeled().labels()
        np.testing.assert_array_equal(
            q.frame["value"].to_numpy()[outside], s.frame["value"].to_numpy()[outside]
        )


def test_forty_series_hold_every_shape_at_every_interval():
    pairs = collections.Counter((s.spec.shape, s.spec.step) for s in fleet(40, 0.5, seed=0))
    assert set(pairs) == {(shape, step) for shape in SHAPES for step in INTERVALS}


@pytest.mark.parametrize("index", range(10))
def test_fast_and_hourly_sampling_of_one_process_have_incidents_at_the_same_times(index):
    fast = render(series_spec(index, seed=2, weeks=3, step=15))
    hourly = render(series_spec(index, seed=2, weeks=3, step=3600))
    starts = [(i.start, i.kind) for i in fast.incidents]
    assert starts == [(i.start, i.kind) for i in hourly.incidents]
    for quick, slow in zip(fast.incidents, hourly.incidents, strict=True):
        # Only incidents shorter than the kind's minimum number of samples are lengthened.
        if quick.end - quick.start >= pd.Timedelta(hours=3):
            assert quick.end == slow.end
    assert len(fast.frame) > 200 * len(hourly.frame)


def test_the_injected_incidents_look_like_their_kind():
    seen = set()
    quiet = fleet(80, 3, seed=4, incidents=False)
    for q, s in zip(quiet, fleet(80, 3, seed=4), strict=True):
        values = s.frame.set_index("timestamp")["value"]
        calm = q.frame.set_index("timestamp")["value"]
        for incident in s.incidents:
            seen.add(incident.kind)
            during = values[incident.start : incident.end]
            if incident.kind == "outage":
                assert (during == 0).all()
            if incident.kind == "stuck":
                assert during.nunique() == 1
            # Up to 1 minute the first differences measure the noise, not the cycle.
            fine = s.spec.step <= 60
            if incident.kind == "level_shift" and s.spec.shape in ("memory", "disk") and fine:
                shift = during - calm[incident.start : incident.end]
                noise = calm.diff().std() / np.sqrt(2)
                assert shift.max() - shift.min() < 1e-6 * abs(shift.mean())  # one constant shift
                assert abs(shift.mean()) > 5 * noise
    assert seen == set(KINDS)


def test_shapes_have_their_offsets_counts_and_missing_points():
    by_shape = {s.spec.shape: s for s in fleet(10, 1, seed=3, incidents=False)}
    assert 4e9 < by_shape["memory"].frame["value"].median() < 12.5e9
    boot = by_shape["boot_time"].frame["value"]
    assert boot.nunique() == 1 and 1.7e9 <= boot.iloc[0] < 1.73e9 and boot.iloc[0] % 1 == 0
    assert by_shape["constant"].frame["value"].nunique() == 1
    for shape in ("errors", "queue", "replicas"):
        values = by_shape[shape].frame["value"].to_numpy()
        assert (values == np.round(values)).all() and (values >= 0).all()
    errors = by_shape["errors"].frame["value"]
    assert (errors == 0).mean() > 0.5  # sparse counts
    for s in by_shape.values():
        gaps = s.frame["timestamp"].diff().dt.total_seconds().dropna()
        assert gaps.min() == s.spec.step
        assert (s.frame["value"] >= 0).all()


def test_weekly_series_are_lower_on_local_weekends():
    # cpu series with a weekly season: the cycle's peak on a local Saturday is lower.
    series = [
        s
        for s in fleet(200, 2, seed=9, incidents=False, shapes=["cpu"])
        if s.spec.season == "weekly" and s.spec.step == 300
    ][:5]
    assert series
    for s in series:
        local = s.frame["timestamp"] + pd.Timedelta(hours=s.spec.tz_offset_hours)
        peak = local.dt.hour.between(13, 16)
        weekend = local.dt.day_of_week >= 5
        values = s.frame["value"]
        assert values[peak & weekend].mean() < values[peak & ~weekend].mean()
