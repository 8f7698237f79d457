"""The anomaly score is continuous (how abnormal a point is now); onsets are kept apart.

``anomaly_score`` is the calibrated combined score of every point; ``onset_score`` is the same
where it sets a new recent high, else 0 (what opens alerts and what NAB's scorer rewards). The
continuous score is what ranks points for ROC and PR, and what the Prometheus gauge shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from detectors.bank import StackBank
from sim.fleet import fleet
from sim.nab_corpus import labels_from_windows

STEP = 300.0
N_POINTS = 1200
#: Beyond ``NOISE`` standard deviations, a deviation ``GAP`` larger scores at most ``SLACK``
#: lower (see the property).
NOISE, GAP, SLACK = 3.0, 2.0, 0.02


def _series(seed: int, daily: bool) -> tuple[np.ndarray, np.ndarray]:
    """Noise of standard deviation 1 every 5 minutes, on a daily cycle or a flat level."""
    rng = np.random.default_rng(seed)
    t = 1.7e9 + STEP * np.arange(N_POINTS)
    cycle = 10 * np.sin(2 * np.pi * t / 86400) if daily else 0.0
    return t, 50 + cycle + rng.normal(0, 1, N_POINTS)


T, X = _series(3, daily=True)


def _scores_at(t, x, at: int, deviations) -> np.ndarray:
    """The anomaly score of point ``at`` of ``x`` set ``deviations[k]`` away from what the
    stack expects there (one series per deviation, all in one bank: the points before ``at``
    are the same)."""
    bank = StackBank()
    expected = bank.process(np.full(at + 1, bank.add_series()), t[: at + 1], x[: at + 1]).expected
    bank = StackBank()
    slots = [bank.add_series() for _ in deviations]
    values = np.tile(x[: at + 1], (len(deviations), 1))
    values[:, at] = expected[at] + np.asarray(deviations)
    results = bank.process(
        np.repeat(slots, at + 1), np.tile(t[: at + 1], len(deviations)), values.ravel()
    )
    return results.anomaly_score[at :: at + 1]


def test_the_score_is_not_zero_between_onsets():
    bank = StackBank()
    results = bank.process(np.full(N_POINTS, bank.add_series()), T, X)
    live = slice(400, None)  # after warm-up
    onsets = results.onset_score[live] > 0
    scored = results.anomaly_score[live] > 0
    assert onsets.sum() < 0.05 * onsets.size  # onsets are rare on noise
    assert (scored & ~onsets).mean() > 0.5  # the score goes on between them
    assert np.array_equal(results.onset_score[live][onsets], results.anomaly_score[live][onsets])
    assert ((results.anomaly_score >= 0) & (results.anomaly_score <= 1)).all()


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    seed=st.integers(1, 3),
    daily=st.booleans(),
    at=st.integers(600, N_POINTS - 1),
    sign=st.sampled_from([1.0, -1.0]),
    small=st.floats(NOISE, 20.0),
    more=st.floats(GAP, 20.0),
)
def test_the_score_rises_with_the_size_of_a_deviation(seed, daily, at, sign, small, more):
    """Past noise, a deviation ``GAP`` standard deviations larger never scores lower (but for
    ``SLACK``).

    Not strictly, and not within the noise: the seasonal profile may explain a value a little
    further away (the surprise is excused where the profile has seen such values), and
    Half-Space-Trees score the point's shape features, not its distance (a value right at the
    expectation can be a rare shape), so nearby sizes may swap."""
    t, x = _series(seed, daily)
    low, high = _scores_at(t, x, at, [sign * small, sign * (small + more)])
    assert high >= low - SLACK


def test_the_score_grows_from_noise_to_an_incident():
    scores = _scores_at(T, X, 1000, [0.0, 3.0, 6.0, 12.0, 50.0])
    assert np.all(np.diff(scores) >= 0)
    assert scores[0] < 0.2 and scores[-1] > 0.36  # from noise to past the paging threshold


@pytest.mark.parametrize("index", [2, 6])  # 5-minute series: an outage, a level shift
def test_the_score_ranks_incident_points_above_the_rest(index):
    """On a seeded simulated series with an incident, ROC-AUC of the continuous score is far
    above chance; the onsets alone (one point per incident) rank barely better than chance."""
    series = fleet(index + 1, 2.0, seed=0, incidents=True)[index]
    assert series.spec.step == STEP and series.windows
    frame = series.frame
    seconds = (pd.to_datetime(frame["timestamp"]) - pd.Timestamp(0)).dt.total_seconds()
    bank = StackBank()
    results = bank.process(
        np.full(len(frame), bank.add_series()), seconds.to_numpy(), frame["value"].to_numpy()
    )
    labels = labels_from_windows(frame["timestamp"], series.windows)
    continuous = roc_auc_score(labels, np.nan_to_num(results.anomaly_score))
    onsets = roc_auc_score(labels, np.nan_to_num(results.onset_score))
    assert continuous > 0.9
    assert continuous > onsets + 0.2
