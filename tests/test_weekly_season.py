"""The weekly season (:mod:`detectors.parts.weekly`): a series with quiet weekends stops paging
at their edges once a week has taught it, and a series without a weekly rhythm scores exactly
as with the daily profile alone."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.bank import StackBank

MONDAY = 1704067200.0  # 2024-01-01 00:00 UTC


def cycle_with_weekends(weekend: float, tz_hours: float, weeks: int = 4, step: float = 300.0):
    """A daily cycle (lowest at 03:00, highest at 15:00 local time) whose amplitude is times
    ``weekend`` on Saturdays and Sundays in the series' own time zone, with Gaussian noise."""
    rng = np.random.default_rng(1)
    t = MONDAY + step * np.arange(int(weeks * 604800 / step))
    local = t + tz_hours * 3600.0
    hour = (local % 86400.0) / 3600.0
    cycle = 0.5 - 0.5 * np.cos(2 * np.pi * (hour - 3.0) / 24.0)
    weekday = ((local - MONDAY) // 86400.0) % 7
    amplitude = np.where(weekday >= 5, weekend, 1.0)
    return t, 20.0 + 20.0 * cycle * amplitude + rng.normal(0.0, 1.5, len(t))


def run(t, v, weekly_season: bool):
    bank = StackBank(weekly_season=weekly_season)
    slot = bank.add_series()
    return bank.process(np.full(len(t), slot), t, v), bank, slot


@pytest.mark.parametrize("tz_hours", [0.0, 5.5])
def test_quiet_weekends_stop_paging_once_learned(tz_hours):
    t, v = cycle_with_weekends(0.5, tz_hours)
    daily, _, _ = run(t, v, weekly_season=False)
    weekly, bank, slot = run(t, v, weekly_season=True)
    after_two_weeks = t >= MONDAY + 14 * 86400.0
    assert (daily.transition[after_two_weeks] == 1).sum() >= 2  # the daily profile pages
    assert (weekly.transition[after_two_weeks] == 1).sum() == 0
    st = bank._state["weekly"]
    assert st.weekly_error[slot] < 0.9 * st.daily_error[slot]  # chosen, from the data


def test_a_series_without_weekly_rhythm_scores_as_with_the_daily_profile_alone():
    t, v = cycle_with_weekends(1.0, 0.0)
    daily, _, _ = run(t, v, weekly_season=False)
    weekly, _, _ = run(t, v, weekly_season=True)
    for name in ("anomaly_score", "expected", "hst_score", "forecast_score", "alert"):
        np.testing.assert_array_equal(getattr(weekly, name), getattr(daily, name), err_msg=name)
