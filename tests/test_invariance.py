"""The compiled stack does not depend on where a metric's zero is or on its unit.

Adding a constant (up to 1e9 times the series' spread) or scaling the values (by 1e-6 to
1e12) leaves every score within ``SCORE_TOLERANCE`` of the original series' and every alert
decision the same (see :mod:`detectors.parts.origin`). The tolerance is rounding: at an offset
of 1e9 spreads the values themselves carry only about 7 significant digits of their variation,
and the forecaster keeps ``P`` in float32 (format 14), where a last-bit difference of the values
can round an entry the other way; where a score has a step (a calibrator's highest bin, the
seasonal excuse's choice) that tiny difference can move it by a few thousandths (2.3e-3 seen):
a hundredth of the score's range, while the decisions asserted below do not move.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.bank import StackBank
from detectors.stack import DetectorStack

#: Largest difference of the anomaly score (and of ``forecast_score``) allowed.
SCORE_TOLERANCE = 1e-2
N_POINTS = 1200
STEP = 300.0


def _series(seed: int) -> np.ndarray:
    """A daily cycle with noise, a spike and a +5 sigma shift."""
    rng = np.random.default_rng(seed)
    t = np.arange(N_POINTS) * STEP
    x = 3.0 * np.sin(2 * np.pi * t / 86400.0) + rng.normal(0.0, 1.0, N_POINTS)
    x[700] += 8.0
    x[900:] += 5.0
    return x


def _run_both(x: np.ndarray, transformed: np.ndarray):
    bank = StackBank()
    a, b = bank.add_series(), bank.add_series()
    t = np.arange(N_POINTS) * STEP
    results = bank.process(
        np.concatenate([np.full(N_POINTS, a), np.full(N_POINTS, b)]),
        np.concatenate([t, t]),
        np.concatenate([x, transformed]),
    )
    return results, slice(0, N_POINTS), slice(N_POINTS, 2 * N_POINTS)


def _assert_same_decisions(results, original, transformed):
    np.testing.assert_allclose(
        results.anomaly_score[transformed],
        results.anomaly_score[original],
        rtol=0,
        atol=SCORE_TOLERANCE,
    )
    np.testing.assert_allclose(
        results.forecast_score[transformed],
        results.forecast_score[original],
        rtol=0,
        atol=SCORE_TOLERANCE,
    )
    assert (results.alert[transformed] == results.alert[original]).all()
    assert (results.transition[transformed] == results.transition[original]).all()


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**16), spreads=st.floats(-1e9, 1e9))
def test_an_added_constant_changes_nothing(seed, spreads):
    x = _series(seed)
    results, original, shifted = _run_both(x, x + spreads * float(np.std(x)))
    _assert_same_decisions(results, original, shifted)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**16), decades=st.floats(-6.0, 12.0))
def test_a_unit_changes_nothing(seed, decades):
    x = _series(seed)
    factor = 10.0**decades
    results, original, scaled = _run_both(x, x * factor)
    _assert_same_decisions(results, original, scaled)
    # The band is reported in the metric's unit.
    np.testing.assert_allclose(
        results.expected[scaled], results.expected[original] * factor, rtol=1e-6, equal_nan=True
    )


def test_a_shift_far_from_zero_is_found_as_near_it():
    """The issue's cases: a gauge at 1e9 +- 1 is forecast (not scored 0 everywhere), and a
    +5 sigma shift on a daily cycle is found at level 1,000 as at level 0."""
    x = _series(7)
    for level in (1e3, 1e9):
        results, original, shifted = _run_both(x, x + level)
        assert np.nanmax(results.forecast_score[shifted]) > 5.0
        assert results.alert[shifted][900:960].any() == results.alert[original][900:960].any()
        assert results.alert[original][900:960].any()


def test_the_stack_reports_the_metric_in_its_own_unit():
    stack = DetectorStack()
    values = 1e9 + _series(3)
    assessed = [stack.process(i * STEP, v) for i, v in enumerate(values[:400])]
    last = assessed[-1]
    assert last.value == values[399]
    assert math.isfinite(last.expected) and abs(last.expected - values[399]) < 20.0
    assert last.lower < last.expected < last.upper
