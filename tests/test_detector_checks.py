"""Generic checks run over every detector (river's ``check_estimator`` spirit): the reference
parts (``tests/reference``) and the compiled stack (:class:`detectors.DetectorStack`).

Every detector must: give the same scores for the same seed and inputs, survive a pickle
round trip with identical next scores (what makes checkpoints safe), behave sensibly during
warm-up, never look ahead (future points never change past scores), and not mutate its input.
"""

import copy
import math
import pickle
import random

import pytest

from detectors import DetectorStack
from tests.reference.forecaster import LagForecaster
from tests.reference.isolation import HalfSpaceTreesDetector
from tests.reference.likelihood import AnomalyLikelihood
from tests.reference.zscore import ZScore


def stream(n: int = 700, seed: int = 0, spikes: bool = True) -> list[float]:
    rng = random.Random(seed)
    values = [20 + 5 * math.sin(i / 15) + rng.gauss(0, 0.5) for i in range(n)]
    for i in range(400, n, 97 if spikes else n):
        values[i] += 15
    return values


DETECTORS = {
    "zscore": lambda: ZScore(window_size=12),
    "hst": lambda: HalfSpaceTreesDetector(n_trees=5, height=6, window_size=50, seed=3),
    "forecast": lambda: LagForecaster(n_lags=8),
    "likelihood": lambda: AnomalyLikelihood(short_window=3, grace_period=50),
}


def run(detector, values):
    scores = []
    for x in values:
        scores.append(detector.score_one(x))
        detector.learn_one(x)
    return scores


@pytest.mark.parametrize("name", DETECTORS)
def test_same_seed_same_scores(name):
    values = stream()
    assert run(DETECTORS[name](), values) == run(DETECTORS[name](), values)


@pytest.mark.parametrize("name", DETECTORS)
def test_pickle_round_trip_gives_identical_next_scores(name):
    values = stream()
    detector = DETECTORS[name]()
    run(detector, values[:450])
    restored = pickle.loads(pickle.dumps(detector))
    assert run(restored, values[450:]) == run(detector, values[450:])


@pytest.mark.parametrize("name", DETECTORS)
def test_scores_are_finite_and_non_negative(name):
    scores = run(DETECTORS[name](), stream() + [0.0, 1e9, -1e9, 20.0])
    assert all(math.isfinite(s) and s >= 0 for s in scores)


@pytest.mark.parametrize("name", DETECTORS)
def test_first_score_is_zero_during_warm_up(name):
    assert run(DETECTORS[name](), [123.0])[0] == 0.0


@pytest.mark.parametrize("name", DETECTORS)
def test_no_look_ahead(name):
    values = stream()
    changed = values[:500] + [v * 3 + 7 for v in values[500:]]
    assert run(DETECTORS[name](), values)[:500] == run(DETECTORS[name](), changed)[:500]


@pytest.mark.parametrize("name", DETECTORS)
def test_scoring_does_not_change_state(name):
    values = stream()
    detector = DETECTORS[name]()
    run(detector, values[:450])
    twin = copy.deepcopy(detector)
    for x in [1e6, -3.0, 20.0]:
        detector.score_one(x)
    assert run(detector, values[450:]) == run(twin, values[450:])


def test_stack_pickle_round_trip_and_no_look_ahead():
    values = stream(900)
    stack = DetectorStack(grace_period=100, long_window=500)
    first = [stack.process(float(t), v) for t, v in enumerate(values[:600])]
    restored = pickle.loads(pickle.dumps(stack))
    rest = [stack.process(float(t), v) for t, v in enumerate(values[600:], start=600)]
    rest_restored = [restored.process(float(t), v) for t, v in enumerate(values[600:], start=600)]
    assert [a.anomaly_score for a in rest] == [a.anomaly_score for a in rest_restored]
    assert [a.alert for a in rest] == [a.alert for a in rest_restored]

    other = DetectorStack(grace_period=100, long_window=500)
    altered = values[:600] + [0.0] * 300
    replayed = [other.process(float(t), v) for t, v in enumerate(altered)]
    assert [a.anomaly_score for a in replayed[:600]] == [a.anomaly_score for a in first]


def test_stack_is_silent_during_grace_period_and_alerts_on_a_level_shift():
    values = stream(1500, spikes=False)
    for i in range(1200, 1500):
        values[i] += 40
    # One point a second counts per point (paging_interval 0): 300 s would ask a 300 times rarer
    # score of each point (see tests/test_time_not_counts.py)
    stack = DetectorStack(grace_period=300, paging_interval=0.0)
    assessed = [stack.process(float(t), v) for t, v in enumerate(values)]
    assert all(a.anomaly_score == 0 for a in assessed[:300])
    assert any(a.alert for a in assessed[1200:1210])
    shift = [a for a in assessed[1200:] if a.transition and a.transition.status.value == "firing"]
    # one incident, one alert (at one point a second, an alert already open when the shift
    # comes stays open through it: the value is away from what was expected before)
    assert len(shift) <= 1 and all(a.alert for a in assessed[1210:])


def test_hst_detector_does_not_mutate_feature_dict():
    detector = HalfSpaceTreesDetector(n_trees=3, height=4, window_size=20, seed=1)
    run(detector, stream(100))
    features = detector._features.transform_one(3.0)
    snapshot = dict(features)
    detector._trees.score_one(features)
    detector._trees.learn_one(features)
    assert features == snapshot


def gapped_stream(gap_points: int = 36) -> list[tuple[float, float]]:
    """A daily cycle at 5-minute steps for 6 days with one 3-hour hole in the data."""
    rng = random.Random(5)
    points = []
    for i in range(6 * 288):
        if 4 * 288 <= i < 4 * 288 + gap_points:
            continue
        value = 50 + 30 * math.sin(2 * math.pi * i / 288) + rng.gauss(0, 1)
        points.append((300.0 * i, value))
    return points


def pages_after_gap(**params) -> int:
    stack = DetectorStack(**params)
    opened = 0
    for t, v in gapped_stream():
        assessment = stack.process(t, v)
        after_gap = 4 * 288 * 300.0 <= t < (4 * 288 + 36 + 60) * 300.0
        transition = assessment.transition
        opened += after_gap and transition is not None and transition.status.value == "firing"
    return opened


def test_a_gap_in_the_data_does_not_page():
    assert pages_after_gap() == 0
    assert pages_after_gap(season=0) == 0  # not even without the daily profile to explain it


def test_without_gap_handling_the_jump_across_a_gap_pages():
    # The same stream, with the gap rule and seasonality off: stale lags read the jump across
    # the gap as an incident. This is what the gap rule prevents.
    assert pages_after_gap(season=0, gap_steps=float("inf")) >= 1
