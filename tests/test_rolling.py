"""Streaming statistics equal their batch (pandas) counterparts after every update."""

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference.rolling import BlockedRange, EWMean, EWVar, RollingStats

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def close(a: float, b: float, scale: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= 1e-7 * max(1.0, scale)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(finite, min_size=1, max_size=80), window_size=st.integers(1, 15))
def test_rolling_stats_equal_pandas_rolling(values, window_size):
    series = pd.Series(values)
    rolling = series.rolling(window_size, min_periods=1)
    expected = pd.DataFrame(
        {"mean": rolling.mean(), "var": rolling.var(), "min": rolling.min(), "max": rolling.max()}
    )
    scale = max(abs(v) for v in values) ** 2
    stats = RollingStats(window_size)
    for i, x in enumerate(values):
        stats.update(x)
        row = expected.iloc[i]
        assert close(stats.mean, row["mean"], scale**0.5)
        assert close(stats.var, row["var"], scale)
        assert stats.min == row["min"]
        assert stats.max == row["max"]


@settings(max_examples=60, deadline=None)
@given(values=st.lists(finite, min_size=1, max_size=80), alpha=st.floats(0.01, 1.0))
def test_ew_stats_equal_pandas_ewm(values, alpha):
    series = pd.Series(values)
    ewm = series.ewm(alpha=alpha, adjust=False)
    expected_mean, expected_var = ewm.mean().to_numpy(), ewm.var(bias=True).to_numpy()
    scale = max(abs(v) for v in values) ** 2
    mean, var = EWMean(alpha), EWVar(alpha)
    for i, x in enumerate(values):
        mean.update(x)
        var.update(x)
        assert close(mean.get(), expected_mean[i], scale**0.5)
        assert close(var.mean, expected_mean[i], scale**0.5)
        assert close(var.get(), expected_var[i], scale)


def test_ew_var_warm_up_starts_as_running_mean_and_variance():
    values = np.random.default_rng(3).normal(5, 2, size=50)
    var = EWVar(alpha=0.001, warm_up=True)
    for x in values:
        var.update(x)
    assert abs(var.mean - values.mean()) < 1e-9
    assert abs(var.get() - values.var()) < 1e-9


def test_rolling_rejects_empty_window():
    try:
        RollingStats(0)
    except ValueError as error:
        assert "window_size" in str(error)
    else:
        raise AssertionError("window_size=0 accepted")


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(finite, min_size=1, max_size=120),
    window_size=st.integers(1, 40),
    n_blocks=st.integers(1, 6),
)
def test_blocked_range_equals_pandas_over_the_blocks_it_remembers(values, window_size, n_blocks):
    """After n values the range covers the oldest remembered block's start to now: the
    current block's values plus n_blocks - 1 complete blocks before it."""
    rolling = BlockedRange(window_size, n_blocks)
    block = rolling.block_size
    series = pd.Series(values, dtype=float)
    for n, x in enumerate(values, start=1):
        rolling.update(x)
        covered = min(n, (n_blocks - 1) * block + (n - 1) % block + 1)
        assert covered <= max(window_size, n_blocks)
        window = series.iloc[n - covered : n]
        assert rolling.low == window.min()
        assert rolling.high == window.max()


def test_blocked_range_ignores_nan():
    rolling = BlockedRange(10, n_blocks=2)
    for x in [1.0, math.nan, 3.0]:
        rolling.update(x)
    assert (rolling.n, rolling.low, rolling.high) == (2, 1.0, 3.0)
