"""The online lag forecaster equals batch ridge least squares on the same lags."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.reference.forecaster import LagForecaster


def ridge_weights(values: np.ndarray, n_lags: int, alpha: float, scale: float) -> np.ndarray:
    scaled = values / scale
    rows = [np.concatenate(([1.0], scaled[i - n_lags : i])) for i in range(n_lags, len(values))]
    x = np.array(rows)
    y = scaled[n_lags:]
    return np.linalg.solve(x.T @ x + alpha * np.eye(n_lags + 1), x.T @ y)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(-100, 100, allow_nan=False), min_size=12, max_size=60),
    n_lags=st.integers(1, 6),
    alpha=st.sampled_from([0.1, 1.0, 10.0]),
)
def test_weights_equal_batch_ridge_without_forgetting(values, n_lags, alpha):
    values = np.array(values)
    model = LagForecaster(n_lags=n_lags, forgetting_factor=1.0, alpha=alpha)
    for x in values:
        model.learn_one(float(x))
    # Far beyond the warm-up scale (a few 1e-7 then 1.0) the fit starts over instead, with a
    # scale learnt again: see
    # test_a_scale_wrong_by_orders_of_magnitude_restarts_the_fit_instead_of_raising
    warm_up_scale = float(np.mean(np.abs(values[:n_lags])))
    warm_up_scale = warm_up_scale if warm_up_scale > 1e-9 else 1.0
    assume(np.max(np.abs(values)) <= 300 * warm_up_scale)
    assert model.scale == warm_up_scale
    expected = ridge_weights(values, n_lags, alpha, model.scale)
    # P is kept in float32 (format 14): the weights are batch ridge's to its rounding
    np.testing.assert_allclose(model.weights, expected, rtol=1e-5, atol=1e-6)


def test_forgetting_equals_weighted_ridge_with_the_refilled_ridge():
    """With forgetting, the weights are those of the weighted least squares whose ridge is
    the initial one, forgotten, plus each point's refill of one diagonal entry in turn."""
    values = np.random.default_rng(0).normal(10, 2, size=80)
    n_lags, alpha, lam = 3, 1.0, 0.95
    model = LagForecaster(n_lags=n_lags, forgetting_factor=lam, alpha=alpha)
    for x in values:
        model.learn_one(float(x))
    scaled = values / model.scale
    rows = np.array([np.concatenate(([1.0], scaled[i - n_lags : i])) for i in range(n_lags, 80)])
    n = len(rows)
    weights = lam ** np.arange(n)[::-1]
    ridge = alpha * lam**n * np.ones(n_lags + 1)
    cycle = n_lags + 4  # the compiled stack's system size, padded (see the reference)
    for point in range(n):
        k = point % cycle
        if k <= n_lags:
            ridge[k] += cycle * (1 - lam) * alpha * lam ** (n - 1 - point)
    a = (rows * weights[:, None]).T @ rows + np.diag(ridge)
    b = (rows * weights[:, None]).T @ scaled[n_lags:]
    # P in float32 (format 14): equal to its rounding, where float64 agreed to 1e-8
    np.testing.assert_allclose(model.weights, np.linalg.solve(a, b), rtol=1e-5)
    # The refilled ridge stays near alpha on every entry, as a refill of the whole diagonal
    # at every point would keep it (here within 16 %, in coarse turns; 1.5 % at the defaults)
    assert np.all(np.abs(ridge / alpha - 1) < 0.16)


def test_prediction_is_made_before_learning():
    model = LagForecaster(n_lags=2, forgetting_factor=1.0)
    for x in [1.0, 2.0, 3.0, 4.0, 5.0]:
        model.learn_one(x)
    before = model.predict_one()
    score = model.score_one(1000.0)
    assert model.predict_one() == before
    assert score > 10


def test_warm_up_gives_nan_expectation_and_zero_score():
    model = LagForecaster(n_lags=5)
    for x in [1.0, 2.0, 3.0]:
        assert np.isnan(model.predict_one())
        assert model.score_one(x) == 0.0
        model.learn_one(x)


def test_multi_step_forecast_continues_a_trend():
    model = LagForecaster(n_lags=3, forgetting_factor=1.0, alpha=1e-6)
    for i in range(100):
        model.learn_one(float(i))
    # A ridge of 1e-6 (the default is 0.1) makes P's entries large: kept in float32 (format 14),
    # the third step is off by about 1.3e-3 (1e-3 held in float64)
    np.testing.assert_allclose(model.forecast(3), [100.0, 101.0, 102.0], atol=2e-3)


NAB_FILE = (
    Path(__file__).resolve().parents[1]
    / "sim/data/demo/data/realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv"
)


def test_prequential_error_matches_batch_ridge_on_cloudwatch_cpu():
    """The seed's batch Ridge(alpha=1, 24 lags) gets test MAE 0.0449 on the last 20%; the online
    forecaster, predicting each point before learning it, must be no more than 5% worse."""
    from sklearn.linear_model import Ridge

    y = pd.read_csv(NAB_FILE)["value"].to_numpy(float)
    n_lags = 24
    x = np.column_stack([y[i : len(y) - n_lags + i] for i in range(n_lags)])
    target = y[n_lags:]
    split = int(len(target) * 0.8)
    batch = Ridge(alpha=1).fit(x[:split], target[:split]).predict(x[split:])
    batch_mae = np.mean(np.abs(batch - target[split:]))
    assert abs(batch_mae - 0.0449) < 5e-4

    model = LagForecaster(n_lags=n_lags)
    predictions = []
    for value in y:
        predictions.append(model.predict_one())
        model.learn_one(float(value))
    online = np.array(predictions[n_lags:])[split:]
    online_mae = np.mean(np.abs(online - target[split:]))
    assert online_mae <= 1.05 * batch_mae


def test_a_scale_wrong_by_orders_of_magnitude_restarts_the_fit_instead_of_raising():
    """A gauge at 0 until its service starts, then a constant 8 GiB: the warm-up scale (1)
    makes the system singular in floating point; the forecaster learns the scale again and
    forecasts the new level."""
    model = LagForecaster(n_lags=24, season_length=12)
    level = 8.0 * 2**30
    for x in [0.0] * 30 + [level] * 300:
        model.score_one(x)
        model.learn_one(x)
    assert model.scale > 1e8  # learnt again, from lags that still held some zeros
    assert model.ready
    assert model.predict_one() == pytest.approx(level, rel=1e-6)


def test_a_nan_value_leaves_the_fit_once_it_left_the_lags():
    values = [10 + np.sin(i / 10) for i in range(300)]
    healthy, poisoned = LagForecaster(n_lags=4), LagForecaster(n_lags=4)
    for i, x in enumerate(values):
        healthy.learn_one(x)
        poisoned.learn_one(math.nan if i == 100 else x)
    assert poisoned.ready
    assert poisoned.predict_one() == pytest.approx(healthy.predict_one(), abs=0.05)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")  # values near 1e300 overflow
@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300),
        min_size=30,
        max_size=80,
    )
)
def test_any_finite_series_is_scored_and_learned_without_raising(values):
    # e.g. 24 zeros, 3.8e14, zeros: numpy's LU called this system singular
    model = LagForecaster(n_lags=4, season_length=3)
    for x in values:
        model.score_one(x)
        model.learn_one(x)
        model.band()
