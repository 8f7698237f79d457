"""detectors.bank.StackBank against tests.reference.stack.DetectorStack, its reference, point by
point."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math

import numpy as np
import pytest

from detectors.alerting import AlertStatus
from detectors.bank import OPENED, RESOLVED, BankResults, StackBank
from detectors.kernel import INCIDENT_NAMES
from tests.reference.stack import DetectorStack

# Scores may differ in the last bits: the bank's forecaster factorises in another order
RTOL, ATOL = 1e-7, 1e-9
SCORES = (
    "anomaly_score",
    "onset_score",
    "zscore",
    "hst_score",
    "forecast_score",
    "expected",
    "lower",
    "upper",
)

# Parameter sets besides the defaults, each on a shorter prefix of every series
VARIANTS = {
    "max": dict(combination="max", refractory=5, range_break=False),
    "no_recalibration": dict(recalibration_grace=0),
    "forecast_zscore": dict(detectors=("forecast", "zscore")),
    "hst_only": dict(detectors=("hst",), grace_period=100),
    "no_season": dict(season=0, refractory=0, min_duration=2, cooldown=5, exit_threshold=0.2),
    "frozen_while_firing": dict(freeze_while_firing=True, accept_after=7200.0, quiet_time=900.0),
    "in_time": dict(long_window=1000, memory_time=3e6, refractory_time=1.2e5),
}
VARIANT_POINTS = 1300


def _daily(rng):
    """Noisy daily cycle at 5-minute steps, with a spike and a level shift."""
    t = 1.6e9 + 300.0 * np.arange(2500)
    v = 50 + 20 * np.sin(2 * np.pi * t / 86400) + rng.normal(0, 2, len(t))
    v[1800] += 90
    v[2200:] += 35
    return t, v


def _gap(rng):
    """5-minute points with two hours missing (a gap of 24 steps), then a jump."""
    t = 1.6e9 + 300.0 * np.arange(1400)
    t[700:] += 7200
    v = 20 + np.cumsum(rng.normal(0, 0.5, len(t)))
    v[700:] += 15
    return t, v


def _flatline(rng):
    """Zeros, then a jump to another constant, then noise: zero spreads and a zero scale."""
    t = 1.6e9 + 60.0 * np.arange(1200)
    v = np.zeros(len(t))
    v[500:] = 3.0
    v[900:] += rng.normal(0, 0.1, 300)
    return t, v


def _random_walk(rng):
    """A random walk at 1-minute steps (a season of 1440 points)."""
    t = 1.7e9 + 60.0 * np.arange(2000)
    return t, 100 + np.cumsum(rng.normal(0, 1, len(t)))


def _byte_counts(rng):
    """Spiky byte counts around 1e9, at 10-minute steps."""
    t = 1.65e9 + 600.0 * np.arange(1500)
    v = 1e9 * (1 + 0.3 * np.sin(2 * np.pi * t / 86400)) + rng.normal(0, 2e7, len(t))
    v[rng.integers(300, 1500, 12)] *= 3
    return t, v


def _short(rng):
    t = 1.6e9 + 300.0 * np.arange(30)
    return t, rng.normal(10, 1, 30)


SERIES = {
    f.__name__.strip("_"): f(np.random.default_rng(seed))
    for seed, f in enumerate([_daily, _gap, _flatline, _random_walk, _byte_counts, _short])
}


@functools.cache
def reference(name: str, variant: str | None) -> dict[str, np.ndarray]:
    """``DetectorStack.process`` point by point, as arrays."""
    t, v = _points(name, variant)
    stack = DetectorStack(**VARIANTS.get(variant, {}))
    assessed = [stack.process(a, b) for a, b in zip(t.tolist(), v.tolist(), strict=True)]
    arrays = {field: np.array([getattr(a, field) for a in assessed]) for field in SCORES}
    arrays["alert"] = np.array([a.alert for a in assessed])
    arrays["transition"] = [a.transition for a in assessed]
    arrays["agreeing"] = [a.agreeing for a in assessed]
    # The names of the bank's agreeing bits: the detectors', the range break's, the kinds'
    arrays["detectors"] = (
        tuple(dict.fromkeys(stack.detectors)) + ("range",) * stack.range_break + INCIDENT_NAMES
    )
    return arrays


def _points(name: str, variant: str | None):
    t, v = SERIES[name]
    limit = VARIANT_POINTS if variant else len(t)
    return t[:limit], v[:limit]


def interleaved(names, variant, rng):
    """All the series' points in one random order that keeps each series' own order."""
    labels = np.concatenate([np.full(len(_points(n, variant)[0]), i) for i, n in enumerate(names)])
    rng.shuffle(labels)
    order = np.empty(len(labels), dtype=np.int64)
    for i in range(len(names)):
        starts = sum(len(_points(n, variant)[0]) for n in names[:i])
        order[labels == i] = starts + np.arange(np.sum(labels == i))
    t = np.concatenate([_points(n, variant)[0] for n in names])[order]
    v = np.concatenate([_points(n, variant)[1] for n in names])[order]
    return labels, t, v


def assert_matches(results, mask, expected, context=""):
    for field in SCORES:
        got = getattr(results, field)[mask]
        np.testing.assert_allclose(
            got, expected[field], rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=f"{context}{field}"
        )
    np.testing.assert_array_equal(results.alert[mask], expected["alert"], err_msg=context)
    if "agreeing" in expected:
        names = expected["detectors"]
        agreeing = [
            tuple(name for d, name in enumerate(names) if mask_bits >> d & 1)
            for mask_bits in results.agreeing[mask].tolist()
        ]
        assert agreeing == expected["agreeing"], f"{context}agreeing detectors"
    codes = results.transition[mask]
    for i, transition in enumerate(expected["transition"]):
        if transition is None:
            assert codes[i] == 0, f"{context}unexpected transition at {i}"
            continue
        opened = transition.status is AlertStatus.FIRING
        assert codes[i] == (OPENED if opened else RESOLVED), f"{context}transition at {i}"
        row = np.flatnonzero(mask)[i]
        assert results.alert_start[row] == transition.start
        assert results.peak_score[row] == pytest.approx(transition.peak_score, rel=RTOL)
        assert results.peak_at[row] == transition.peak_at
        if opened:
            assert math.isnan(results.alert_end[row])
        else:
            assert results.alert_end[row] == transition.end


def run_bank(names, variant, n_calls, seed):
    rng = np.random.default_rng(seed)
    labels, t, v = interleaved(names, variant, rng)
    bank = StackBank(**VARIANTS.get(variant, {}))
    slots = np.array([bank.add_series() for _ in names])
    bounds = np.sort(rng.choice(np.arange(1, len(t)), n_calls - 1, replace=False))
    parts = [
        bank.process(slots[labels[a:b]], t[a:b], v[a:b])
        for a, b in zip([0, *bounds], [*bounds, len(t)], strict=True)
    ]
    results = type(parts[0])(
        **{f: np.concatenate([getattr(p, f) for p in parts]) for f in parts[0].__dataclass_fields__}
    )
    return labels, results


@pytest.mark.parametrize("n_calls", [1, 7])
def test_interleaved_series_match_the_reference(n_calls):
    names = list(SERIES)
    labels, results = run_bank(names, None, n_calls, seed=n_calls)
    for i, name in enumerate(names):
        assert_matches(results, labels == i, reference(name, None), context=f"{name}: ")
    # the test series do raise alerts, so the comparison covers the alert path
    assert results.alert.any() and (results.transition == RESOLVED).any()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_other_parameters_match_the_reference(variant):
    names = ["daily", "gap", "flatline", "byte_counts"]
    labels, results = run_bank(names, variant, n_calls=3, seed=11)
    for i, name in enumerate(names):
        assert_matches(results, labels == i, reference(name, variant), context=f"{name}: ")


def one_series_matches_the_reference(t: np.ndarray, v: np.ndarray) -> BankResults:
    """The bank's results for one series, checked against a DetectorStack's."""
    stack = DetectorStack()
    assessed = [stack.process(a, b) for a, b in zip(t.tolist(), v.tolist(), strict=True)]
    expected = {field: np.array([getattr(a, field) for a in assessed]) for field in SCORES}
    expected["alert"] = np.array([a.alert for a in assessed])
    expected["transition"] = [a.transition for a in assessed]
    bank = StackBank()
    results = bank.process(np.full(len(t), bank.add_series()), t, v)
    assert_matches(results, np.ones(len(t), dtype=bool), expected)
    return results


def test_missing_values_match_the_reference():
    """A NaN value (a failed scrape) reaches the same models in both."""
    rng = np.random.default_rng(5)
    t = 1.6e9 + 300.0 * np.arange(1200)
    v = 50 + rng.normal(0, 2, len(t))
    v[[5, 400, 900]] = np.nan
    one_series_matches_the_reference(t, v)


# Series on which the forecaster's system stops being numerically positive definite (the
# warm-up scale is wrong by orders of magnitude): both used to raise LinAlgError
WRONG_SCALE = {
    "idle then 8 GiB": np.r_[np.zeros(30), np.full(1500, 8.0 * 2**30)],
    "idle then 1e12 noisy": np.r_[np.zeros(30), np.random.default_rng(0).normal(1e12, 1e9, 1500)],
    "1e-6 then 1e9": np.r_[np.full(30, 1e-6), np.full(1500, 1e9)],
}


@pytest.mark.parametrize("name", list(WRONG_SCALE))
def test_a_wrong_scale_restarts_the_fit_as_in_the_reference(name):
    v = WRONG_SCALE[name]
    results = one_series_matches_the_reference(1.6e9 + 300.0 * np.arange(len(v)), v)
    # the forecaster is back: it expects the new level
    assert results.expected[-1] == pytest.approx(v[-1], rel=1e-3)


@pytest.mark.parametrize("level", [1.0, 8.0 * 2**30, 1_700_000_001.0])
def test_a_constant_gauge_never_pages_and_its_first_change_does(level):
    """``up`` or a memory limit: constant for days (the season's profile is known from the
    third day on), then a step."""
    t = 1.6e9 + 300.0 * np.arange(4000)
    v = np.full(len(t), level)
    v[3000:] = 1.5 * level
    stack = DetectorStack()
    transitions = [
        stack.process(a, b).transition for a, b in zip(t.tolist(), v.tolist(), strict=True)
    ]
    opened = [i for i, x in enumerate(transitions) if x and x.status == AlertStatus.FIRING]
    bank = StackBank()
    results = bank.process(np.full(len(t), bank.add_series()), t, v)
    assert opened == np.flatnonzero(results.transition == OPENED).tolist() == [3000]


def test_the_onset_score_is_the_anomaly_score_at_onsets_only():
    labels, results = run_bank(["daily"], None, n_calls=1, seed=0)
    onsets = results.onset_score > 0
    assert np.array_equal(results.onset_score[onsets], results.anomaly_score[onsets])
    assert np.all(results.anomaly_score >= results.onset_score)
    # the anomaly score goes on between onsets: most points with a score are no onset
    assert np.count_nonzero(results.anomaly_score > 0) > 5 * np.count_nonzero(onsets)


@pytest.mark.parametrize("at", [10, 1000])
def test_export_import_round_trip_continues_as_uninterrupted(at):
    t, v = SERIES["daily"]
    bank = StackBank()
    slot = bank.add_series()
    other = bank.add_series()  # a neighbour, so that offsets into the pools are not trivial
    walk_t, walk_v = SERIES["random_walk"]
    bank.process(np.full(300, other), walk_t[:300], walk_v[:300])
    uninterrupted = bank.process(np.full(len(t), slot), t, v)

    first = StackBank()
    s = first.add_series()
    first.process(np.full(at, s), t[:at], v[:at])
    state = first.export_slot(s)
    state_copy = {k: np.copy(a) for k, a in state.items()}
    restored = StackBank()
    restored.add_series()
    restored_slot = restored.import_slot(state)
    rest = restored.process(np.full(len(t) - at, restored_slot), t[at:], v[at:])
    for field in ("anomaly_score", "onset_score", "expected", "lower", "hst_score", "alert"):
        np.testing.assert_array_equal(getattr(rest, field), getattr(uninterrupted, field)[at:])
    # export copies: processing more did not change the exported state
    assert all(np.array_equal(state[k], state_copy[k], equal_nan=True) for k in state)


def test_import_rejects_a_state_of_other_parameters():
    bank = StackBank()
    slot = bank.add_series()
    state = bank.export_slot(slot)
    with pytest.raises(ValueError, match="other parameters"):
        StackBank(n_lags=12).import_slot(state)


def test_removed_slot_is_reused_fresh():
    t, v = SERIES["daily"]
    walk_t, walk_v = SERIES["random_walk"]
    bank = StackBank()
    slots = [bank.add_series() for _ in range(3)]
    for slot in slots:  # every slot learns its season, filling the pool
        bank.process(np.full(1000, slot), walk_t[:1000], walk_v[:1000])
    bank.remove_series(slots[1])
    assert len(bank) == 2
    reused = bank.add_series()
    assert reused == slots[1]
    # the pool grows (compacting the live segments) while the reused slot runs
    more = [bank.add_series() for _ in range(4)]
    slots_all = np.concatenate([np.full(len(t), reused), np.repeat(more, 100)])
    times = np.concatenate([t, np.tile(walk_t[:100], 4)])
    values = np.concatenate([v, np.tile(walk_v[:100], 4)])
    results = bank.process(slots_all, times, values)
    assert_matches(results, slots_all == reused, reference("daily", None), context="reused: ")
    # the survivors kept their state through the compaction
    rest = bank.process(np.full(1000, slots[0]), walk_t[1000:], walk_v[1000:])
    np.testing.assert_allclose(
        rest.expected, reference("random_walk", None)["expected"][1000:], rtol=RTOL, atol=ATOL
    )


def test_memory_grows_with_the_season_only():
    bank = StackBank()
    empty = bank.memory_bytes_per_series()
    slot = bank.add_series()
    t, v = SERIES["daily"]
    bank.process(np.full(100, slot), t[:100], v[:100])
    per_series = bank.memory_bytes_per_series()
    season = 288
    assert per_series - empty == (3 * season + 2) * 4 + season * 2  # float32, uint16 counts
    assert per_series <= 16 * 1024  # issue 6's bound for a 5-minute series


@pytest.mark.parametrize("step", [15.0, 60.0, 300.0, 3600.0])
def test_a_series_takes_at_most_16_kib_at_any_sampling_interval(step):
    """The season is kept in buckets of time, at most 288 a day: a 15-second and a 1-minute
    series keep the 5-minute series' profile (a 1-minute one took 31.5 KiB when the season
    was kept at the sampling resolution)."""
    bank = StackBank()
    slot = bank.add_series()
    t = 1.7e9 + step * np.arange(200)
    bank.process(np.full(200, slot), t, np.sin(t / 3600.0))
    assert int(bank._state["seasonal"].length[slot]) == min(288, round(86400 / step))
    assert bank.memory_bytes_per_series() <= 16 * 1024


def test_invalid_use_is_rejected():
    with pytest.raises(ValueError, match="seed"):
        StackBank(seed=None)
    with pytest.raises(ValueError, match="detectors"):
        StackBank(detectors=("nope",))
    bank = StackBank()
    slot = bank.add_series()
    with pytest.raises(ValueError, match="slot"):
        bank.process(np.array([slot + 1]), np.array([0.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="same length"):
        bank.process(np.array([slot]), np.array([0.0, 1.0]), np.array([1.0]))
    bank.remove_series(slot)
    with pytest.raises(ValueError, match="slot"):
        bank.export_slot(slot)


def test_the_bank_takes_the_stacks_parameters_with_the_same_defaults():
    # Two signatures, one contract: a default changed in one place only would make the bank
    # (what runs) differ from the reference (what is documented and tested).
    assert inspect.signature(StackBank).parameters == inspect.signature(DetectorStack).parameters


def test_two_threads_score_and_learn_as_one():
    """Series split over two threads (seasons allocated mid-batch, in both halves of the pool,
    the pool growing on the way) give the results and states of one thread."""
    rng = np.random.default_rng(3)
    n_series, n_points = 60, 400
    steps = rng.choice([60.0, 300.0, 3600.0], n_series)  # seasons of 1440, 288 and 24 points
    times = np.arange(n_points)[:, None] * steps[None, :]
    values = 50 + 10 * np.sin(2 * np.pi * times / 86400) + rng.normal(0, 1, times.shape)
    values[300, 5] += 80
    one, two = StackBank(), StackBank()
    slots = np.array([one.add_series() for _ in range(n_series)])
    assert [two.add_series() for _ in range(n_series)] == slots.tolist()
    all_slots, all_times, all_values = np.tile(slots, n_points), times.ravel(), values.ravel()
    for first, last in [(0, 9000), (9000, 9100), (9100, len(all_slots))]:
        rows = slice(first, last)
        expected = one.process(all_slots[rows], all_times[rows], all_values[rows])
        got = two.process(all_slots[rows], all_times[rows], all_values[rows], threads=2)
        for field in dataclasses.fields(BankResults):
            np.testing.assert_array_equal(
                getattr(got, field.name), getattr(expected, field.name), err_msg=field.name
            )
    assert expected.alert.any()
    for slot in slots.tolist():
        exported_one, exported_two = one.export_slot(slot), two.export_slot(slot)
        for name, array in exported_one.items():
            np.testing.assert_array_equal(exported_two[name], array, err_msg=f"{slot} {name}")
    assert two.memory_bytes_per_series() == one.memory_bytes_per_series()


def _extreme_series(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Finite values across the float range (zeros, constants, sign flips, an idle gauge that
    starts, magnitudes spliced 1e-200 to 1e200 apart), at 5-minute steps or steps from 0.01 s to
    months, with gaps and repeated times."""
    magnitude = 10.0 ** rng.uniform(-300, 300)
    shapes = [
        np.zeros(n),
        np.full(n, magnitude),
        rng.normal(0, 1, n) * magnitude,
        np.where(rng.random(n) < 0.01, magnitude, 0.0),
        rng.choice([-magnitude, 0.0, magnitude], n),
        10.0 ** rng.uniform(-300, 300, n) * rng.choice([-1, 1], n),
        np.where(np.arange(n) < rng.integers(n), 0.0, magnitude),  # idle, then a level
    ]
    values = shapes[rng.integers(len(shapes))]
    values[rng.integers(n) :] *= 10.0 ** rng.uniform(-200, 200)
    values = np.clip(values, -1.7e308, 1.7e308)
    step = 300.0 if rng.random() < 0.5 else 10.0 ** rng.uniform(-2, 7)
    gaps = np.where(rng.random(n) < 0.05, step * rng.uniform(0, 100, n), step)
    timestamps = np.maximum.accumulate(1.6e9 + np.cumsum(gaps) * (rng.random(n) > 0.02))
    return timestamps, values


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_any_finite_series_is_scored_without_raising():
    rng = np.random.default_rng(2026)
    for _ in range(60):
        timestamps, values = _extreme_series(rng, int(rng.integers(50, 2000)))
        bank = StackBank()
        results = bank.process(np.full(len(values), bank.add_series()), timestamps, values)
        assert ((results.anomaly_score >= 0) & (results.anomaly_score <= 1)).all()
