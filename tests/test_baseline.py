"""The weekly z-score rule (sim.baseline): PromQL's statistics, no look-ahead, ``for: 5m`` in
wall time, a 10-sigma level shift caught, offsets harmless."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.baseline import WEEK, WeeklyZScore
from sim.fleet import fleet


def naive_z(seconds: np.ndarray, values: np.ndarray, window: float = WEEK) -> np.ndarray:
    """avg_over_time and stddev_over_time at each sample, one window at a time."""
    z = np.empty(len(values))
    for i, now in enumerate(seconds):
        inside = values[(seconds > now - window) & (seconds <= now)]
        std = inside.std()
        z[i] = np.nan if std == 0 else (values[i] - inside.mean()) / std
    return z


@settings(max_examples=40, deadline=None)
@given(
    gaps=st.lists(st.sampled_from([15.0, 60.0, 3600.0, 86400.0]), min_size=2, max_size=80),
    seed=st.integers(0, 1000),
    offset=st.sampled_from([0.0, 8e9, 1.7e9]),
)
def test_z_equals_the_window_statistics_at_every_sample(gaps, seed, offset):
    seconds = np.cumsum(gaps)
    values = offset + np.random.default_rng(seed).normal(0, 5, len(seconds)).round(2)
    got = WeeklyZScore(window=2 * 86400).zscores(seconds, values)
    want = naive_z(seconds, values - offset, window=2 * 86400)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_no_look_ahead():
    rng = np.random.default_rng(1)
    seconds = np.arange(5000) * 60.0
    values = rng.normal(10, 1, 5000)
    rule = WeeklyZScore()
    z = rule.zscores(seconds, values)
    alert = rule.decide(seconds, z, step=60)
    changed = values.copy()
    changed[3000:] = rng.normal(50, 20, 2000)  # whatever comes later
    z_changed = rule.zscores(seconds, changed)
    np.testing.assert_array_equal(z[:3000], z_changed[:3000])
    np.testing.assert_array_equal(alert[:3000], rule.decide(seconds, z_changed, step=60)[:3000])


@pytest.mark.parametrize(("step", "samples"), [(15, 20), (60, 5), (300, 1), (3600, 1)])
def test_for_5m_is_five_minutes_of_wall_time(step, samples):
    seconds = np.arange(60) * float(step)
    z = np.zeros(60)
    z[30:] = 4.0
    alert = WeeklyZScore().decide(seconds, z, step=step)
    assert np.flatnonzero(alert)[0] == 30 + samples - 1
    assert alert[30 + samples - 1 :].all()


def test_a_silence_longer_than_the_hold_restarts_the_wait():
    seconds = np.array([0, 60, 120, 180, 600, 660, 720, 780, 840.0])
    alert = WeeklyZScore().decide(seconds, np.full(9, 5.0), step=60)
    assert alert.astype(int).tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 1]


def _week_of_minutes(seed: int, level: float = 0.0):
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2026-01-05", periods=3 * 7 * 1440, freq="min")
    return stamps, level + rng.normal(0, 1, len(stamps))


@pytest.mark.parametrize("level", [0.0, 1e3, 8e9, 1.7e9])
def test_a_ten_sigma_level_shift_is_caught_within_five_minutes_at_any_offset(level):
    stamps, values = _week_of_minutes(2, level)
    start = 2 * 7 * 1440
    values[start : start + 120] += 10.0
    frame = WeeklyZScore().score_frame(pd.DataFrame({"timestamp": stamps, "value": values}))
    opens = np.flatnonzero(np.diff(frame["alert"].to_numpy(), prepend=0) == 1)
    assert start + 4 in opens  # fires at the 5th minute of the shift
    assert not (opens < start).any()  # and not on the two weeks of noise before


def test_constant_series_never_page_and_a_change_on_them_does():
    stamps = pd.date_range("2026-01-05", periods=2000, freq="5min")
    values = np.full(2000, 1.7e9 + 12345)
    rule = WeeklyZScore()
    assert (
        rule.score_frame(pd.DataFrame({"timestamp": stamps, "value": values}))["alert"].sum() == 0
    )
    values[1500:] = 1.7e9 + 99999
    alert = rule.score_frame(pd.DataFrame({"timestamp": stamps, "value": values}))["alert"]
    assert alert.iloc[1500] == 1


def test_quiet_fleet_pages_rarely_at_one_minute_and_above():
    quiet = fleet(40, 2, seed=0, incidents=False)
    rule = WeeklyZScore()
    pages, weeks = 0, 0.0
    for series in quiet:
        if series.spec.step < 60 or series.spec.shape in ("latency", "queue", "request_rate"):
            continue
        alert = rule.score_frame(series.frame, step=series.spec.step)["alert"].to_numpy()
        pages += int((alert & ~np.r_[0, alert[:-1]]).sum())
        weeks += 2
    assert pages / weeks < 3
