"""tests.reference.hst.HalfSpaceTrees against river.anomaly.HalfSpaceTrees, its oracle."""

from __future__ import annotations

import copy
import itertools
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from river import anomaly
from river.checks import common as river_checks

from tests.reference.hst import HalfSpaceTrees


def as_dict(values):
    """A point as river sees it: feature ``i`` -> value, missing values (None) left out."""
    return {i: value for i, value in enumerate(values) if value is not None}


def as_array(values):
    return np.array([math.nan if value is None else value for value in values])


def assert_equal_to_river(params, points):
    """Score then learn every point with river and with each of our three paths; scores match."""
    river_model = anomaly.HalfSpaceTrees(**params)
    by_dict = HalfSpaceTrees(**params)
    by_array = HalfSpaceTrees(**params)
    in_one_walk = HalfSpaceTrees(**params)
    for step, values in enumerate(points):
        x, v = as_dict(values), as_array(values)
        expected = river_model.score_one(x)
        river_model.learn_one(x)
        got = by_dict.score_one(x), by_array.score_array(v), in_one_walk.score_then_learn(v)
        by_dict.learn_one(x)
        by_array.learn_array(v)
        assert got == (expected,) * 3, f"step {step}"
    return river_model


def random_points(seed, n, n_features, missing_rate=0.0, low=0.0, high=1.0):
    rng = np.random.default_rng(seed)
    values = rng.uniform(low, high, size=(n, n_features))
    missing = rng.uniform(size=values.shape) < missing_rate
    missing[0] = False  # the first point fixes the feature set, for river as for arrays
    return [
        [None if m else float(x) for x, m in zip(row, mask, strict=True)]
        for row, mask in zip(values, missing, strict=True)
    ]


@st.composite
def params_and_points(draw):
    n_features = draw(st.integers(2, 3))
    window_size = draw(st.integers(1, 20))
    # A value is missing one time in ten; values stray a little outside the [0, 1] limits
    value = st.tuples(st.floats(-0.2, 1.2), st.integers(0, 9)).map(
        lambda pair: None if pair[1] == 0 else pair[0]
    )
    points = draw(st.lists(st.tuples(*[value] * n_features), min_size=3 * window_size + 1))
    points = [list(point) for point in points]
    points[0] = [0.5 if x is None else x for x in points[0]]

    limits = None
    if draw(st.booleans()):
        # Custom (possibly integer) limits on feature 0, its values mapped into them
        low = draw(st.integers(-100, 100) | st.floats(-100, 100))
        width = draw(st.integers(1, 1000) | st.floats(0.5, 1000))
        limits = {0: (low, low + width)}
        for point in points:
            if point[0] is not None:
                point[0] = low + point[0] * width
    params = dict(
        n_trees=draw(st.integers(1, 5)),
        height=draw(st.integers(0, 5)),
        window_size=window_size,
        limits=limits,
        seed=draw(st.integers(0, 2**32)),
    )
    return params, points


@settings(max_examples=40, deadline=None)
@given(params_and_points())
def test_scores_equal_river_on_generated_streams(case):
    params, points = case
    assert_equal_to_river(params, points)


def test_scores_equal_river_on_a_long_stream_with_default_trees():
    points = random_points(seed=1, n=3000, n_features=4, missing_rate=0.03)
    for point in points:  # feature 3 ranges over [-50, 50]
        if point[3] is not None:
            point[3] = 100 * point[3] - 50
    params = dict(window_size=64, limits={3: (-50.0, 50.0)}, seed=7)
    river_model = assert_equal_to_river(params, points)
    assert not river_model._first_window  # dozens of window pivots were crossed


def test_trees_equal_river_trees():
    river_model = anomaly.HalfSpaceTrees(n_trees=3, height=4, limits={"b": (-2, 2)}, seed=5)
    model = HalfSpaceTrees(n_trees=3, height=4, limits={"b": (-2, 2)}, seed=5)
    x = {"c": 0.1, "a": 0.2, "b": 0.3}
    river_model.learn_one(x)
    model.learn_one(x)

    assert model.feature_names == ("a", "b", "c")
    for tree, features, thresholds in zip(
        river_model.trees, model.split_features, model.thresholds, strict=True
    ):
        level, heap = [tree], []
        while level and hasattr(level[0], "threshold"):
            heap.extend(level)
            level = [child for node in level for child in node.children]
        assert [node.feature for node in heap] == [model.feature_names[i] for i in features]
        assert [node.threshold for node in heap] == thresholds.tolist()


def test_values_on_a_split_point_go_right_like_river():
    params = dict(n_trees=3, height=4, window_size=8, seed=9)
    model = HalfSpaceTrees(**params)
    model.learn_array([0.5, 0.5])
    # Points sitting exactly on split points, as only a quantised metric would produce
    points = [
        [model.thresholds[tree, node] if i == feature else 0.5 for i in range(2)]
        for tree in range(3)
        for node, feature in enumerate(model.split_features[tree])
    ]
    assert_equal_to_river(params, [[0.5, 0.5]] + points * 2)


def test_first_window_scores_zero_then_pivots():
    model = HalfSpaceTrees(n_trees=3, height=3, window_size=5, seed=1)
    assert model.score_one({"a": 0.5}) == 0.0  # before any learn
    scores = [model.score_then_learn(np.array([0.5])) for _ in range(5)]
    assert scores == [0.0] * 5
    # The point that filled the reference window fills every node on its path: score 0
    assert model.score_array(np.array([0.5])) == 0.0
    assert model.score_array(np.array([0.01])) > 0.0
    assert model.r_mass[:, 0].tolist() == [5, 5, 5]  # each root saw the whole first window


def test_isolated_point_scores_higher_than_dense_region():
    model = HalfSpaceTrees(n_trees=10, height=6, window_size=100, seed=3)
    for v in np.random.default_rng(0).normal(0.5, 0.03, size=(300, 2)):
        model.learn_array(v)
    assert model.score_array(np.array([0.5, 0.5])) < model.score_array(np.array([0.05, 0.95]))


def test_nan_values_are_treated_as_missing_features():
    river_model = anomaly.HalfSpaceTrees(n_trees=4, height=4, window_size=10, seed=2)
    model = HalfSpaceTrees(n_trees=4, height=4, window_size=10, seed=2)
    for x in random_points(seed=3, n=60, n_features=2):
        river_model.learn_one(as_dict(x))
        model.learn_one(as_dict(x))
        assert model.score_one({0: x[0], 1: math.nan}) == river_model.score_one({0: x[0]})


@pytest.mark.parametrize("n_learned", [0, 1, 30, 50, 130])
def test_pickle_round_trip_gives_identical_next_scores(n_learned):
    points = random_points(seed=4, n=n_learned + 150, n_features=3, missing_rate=0.05)
    model = HalfSpaceTrees(n_trees=5, height=5, window_size=50, seed=11)
    for values in points[:n_learned]:
        model.learn_one(as_dict(values))

    restored = pickle.loads(pickle.dumps(model))

    for values in points[n_learned:]:
        x = as_dict(values)
        assert restored.score_one(x) == model.score_one(x)
        restored.learn_one(x)
        model.learn_one(x)


def test_pickle_holds_little_beyond_the_arrays():
    model = HalfSpaceTrees(n_trees=5, height=6, seed=1)
    model.learn_array(np.array([0.2, 0.4]))
    arrays = model.split_features, model.thresholds, model.l_mass, model.r_mass
    assert len(pickle.dumps(model)) < sum(a.nbytes for a in arrays) + 2_000


def test_same_seed_same_scores_and_other_seeds_differ():
    points = random_points(seed=5, n=200, n_features=2)

    def scores(seed):
        model = HalfSpaceTrees(n_trees=3, height=4, window_size=20, seed=seed)
        return [model.score_then_learn(np.array(v)) for v in points]

    assert scores(1) == scores(1)
    assert scores(1) != scores(2)


def test_input_dict_is_not_mutated():
    model = HalfSpaceTrees(n_trees=2, height=3, window_size=2, seed=1)
    points = [{"a": 0.1, "b": 0.9}, {"a": 0.3}, {"b": 0.2, "extra": 7.0}, {"a": math.nan}]
    for x in points * 2:
        before = copy.deepcopy(x)
        model.score_one(x)
        model.learn_one(x)
        assert x.keys() == before.keys()
        assert all(x[k] == before[k] or math.isnan(x[k]) and math.isnan(before[k]) for k in x)


def test_array_of_the_wrong_length_is_rejected():
    model = HalfSpaceTrees(n_trees=2, height=2, window_size=1, seed=1)
    model.learn_one({"a": 0.1, "b": 0.2})
    with pytest.raises(ValueError, match="2 values"):
        model.score_array(np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="2 values"):
        model.learn_array(np.array([0.1]))


def test_a_2d_array_is_rejected_before_the_trees_are_grown():
    model = HalfSpaceTrees(n_trees=2, height=2, window_size=1, seed=1)
    with pytest.raises(ValueError, match="1-D"):
        model.score_then_learn(np.zeros((3, 2)))
    assert model.feature_names is None
    model.learn_array(np.zeros(2))
    assert model.feature_names == (0, 1)


def test_large_windows_count_in_wider_integers():
    model = HalfSpaceTrees(n_trees=1, height=1, window_size=70_000, seed=1)
    for _ in range(66_000):  # more than uint16 holds, in one window
        model.learn_array(np.array([0.5]))
    assert model.l_mass[0, 0] == 66_000


RIVER_DATASET_CHECKS = [
    river_checks.check_learn_one,
    river_checks.check_pickling,
    river_checks.check_shuffle_features_no_impact,
    river_checks.check_emerging_features,
    river_checks.check_disappearing_features,
    river_checks.check_radically_disappearing_features,
    river_checks.check_predict_one_pure,
    river_checks.check_predict_one_before_any_learn,
    river_checks.check_no_state_aliasing_with_input,
    river_checks.check_clone_is_independent,
    river_checks.check_seeding_is_idempotent,
]
RIVER_MODEL_CHECKS = [
    river_checks.check_repr,
    river_checks.check_clone_is_idempotent,
    river_checks.check_clone_changes_memory_addresses,
    river_checks.check_repr_roundtrips_clone,
    river_checks.check_clone_with_new_params_applies,
    river_checks.check_get_params_matches_signature,
    river_checks.check_init_default_params_are_not_mutable,
]


@pytest.mark.parametrize("check", RIVER_DATASET_CHECKS, ids=lambda check: check.__name__)
def test_river_estimator_checks_on_data(check):
    rng = np.random.default_rng(6)
    dataset = [
        (dict(zip("abcde", row.tolist(), strict=True)), False) for row in rng.uniform(size=(80, 5))
    ]
    check(HalfSpaceTrees(n_trees=3, height=4, window_size=10, seed=1), dataset=dataset)


@pytest.mark.parametrize("check", RIVER_MODEL_CHECKS, ids=lambda check: check.__name__)
def test_river_estimator_checks_on_the_model(check):
    check(HalfSpaceTrees(n_trees=3, height=4, window_size=10, seed=1))


def test_river_pipeline_accepts_the_detector():
    from river import preprocessing

    pipeline = preprocessing.MinMaxScaler() | HalfSpaceTrees(n_trees=3, height=3, window_size=5)
    for x in itertools.islice(({"latency": float(i % 7)} for i in range(20)), 20):
        pipeline.score_one(x)
        pipeline.learn_one(x)
    assert 0.0 <= pipeline.score_one({"latency": 50.0}) <= 1.0
