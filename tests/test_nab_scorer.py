"""NAB scorer: reproduce NAB's official scores and check the scoring rules on small examples.

The reference data lives outside the repository (``LOOKOUT_NAB_DIR``, default
``<repo>/../shared/data/nab``); without it these tests skip locally and fail on CI.
"""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.nab import (
    CorpusSweep,
    CostProfile,
    FileGeometry,
    NabCorpus,
    detection_scores,
    labels_from_windows,
    load_profiles,
    load_results,
    load_windows,
    match_result_files,
    nab_scores,
    normalized_score,
    optimize_threshold,
    probation_length,
    score_corpus,
)

NAB_DIR = Path(
    os.environ.get(
        "LOOKOUT_NAB_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nab"
    )
)
STANDARD = CostProfile(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)


# --- reproduction of the official scores ----------------------------------------------------


@pytest.fixture(scope="module")
def nab_dir() -> Path:
    if not (NAB_DIR / "reference" / "expected_scores.json").is_file():
        reason = f"NAB reference data not found at {NAB_DIR} (set LOOKOUT_NAB_DIR)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return NAB_DIR


def _expected_cases() -> list[tuple[str, str]]:
    path = NAB_DIR / "reference" / "expected_scores.json"
    if not path.is_file():
        # Collected anyway so that the fixture reports the missing data (skip or CI failure).
        return [("<missing>", "<missing>")]
    scores = json.loads(path.read_text())["scores"]
    return [
        (detector, profile) for detector, by_profile in scores.items() for profile in by_profile
    ]


@functools.cache
def _reference(nab_dir: Path):
    corpus = NabCorpus.from_nab_dir(nab_dir)
    profiles = load_profiles(nab_dir / "profiles.json")
    expected = json.loads((nab_dir / "reference" / "expected_scores.json").read_text())["scores"]
    return corpus, profiles, expected


@functools.cache
def _detector_sweep(nab_dir: Path, detector: str) -> CorpusSweep:
    corpus, _, _ = _reference(nab_dir)
    results = load_results(nab_dir / "reference" / detector, corpus.relpaths)
    assert sorted(results) == corpus.relpaths, "every data file needs a result file"
    return CorpusSweep.from_results(results, corpus.windows)


def test_every_reference_detector_has_expected_scores(nab_dir):
    _, profiles, expected = _reference(nab_dir)
    folders = {path.name for path in (nab_dir / "reference").iterdir() if path.is_dir()}
    assert folders == set(expected)
    for by_profile in expected.values():
        assert set(by_profile) == set(profiles)


@pytest.mark.parametrize(("detector", "profile_name"), _expected_cases())
def test_optimized_threshold_reproduces_nab(nab_dir, detector, profile_name):
    _, profiles, expected = _reference(nab_dir)
    official = expected[detector][profile_name]
    sweep = _detector_sweep(nab_dir, detector)
    profile = profiles[profile_name]

    threshold, raw = sweep.optimize(profile)

    assert sweep.normalize(raw, profile) == pytest.approx(
        official["optimized_threshold_score"], abs=0.01
    )
    assert threshold == pytest.approx(official["optimized_threshold"], abs=1e-9)


@pytest.mark.parametrize(("detector", "profile_name"), _expected_cases())
def test_nab_config_threshold_reproduces_nab(nab_dir, detector, profile_name):
    _, profiles, expected = _reference(nab_dir)
    official = expected[detector][profile_name]
    sweep = _detector_sweep(nab_dir, detector)
    profile = profiles[profile_name]

    raw = sweep.raw_score(profile, official["nab_config_threshold"])

    assert sweep.normalize(raw, profile) == pytest.approx(
        official["nab_config_threshold_score"], abs=0.01
    )


def test_nab_scores_reports_the_threshold_it_used(nab_dir):
    corpus, profiles, expected = _reference(nab_dir)
    results = load_results(nab_dir / "reference" / "numenta", corpus.relpaths)
    config = {name: entry["nab_config_threshold"] for name, entry in expected["numenta"].items()}

    optimized = nab_scores(results, corpus.windows, profiles)
    fixed = nab_scores(results, corpus.windows, profiles, threshold=config)

    for name in profiles:
        assert fixed[name]["threshold"] == config[name]
        assert optimized[name]["score"] >= fixed[name]["score"] - 1e-9
        assert optimized[name]["score"] == pytest.approx(
            expected["numenta"][name]["optimized_threshold_score"], abs=0.01
        )


def test_corpus_labels_match_windows(nab_dir):
    corpus, _, _ = _reference(nab_dir)
    relpath = "realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv"
    labels = corpus.label_series(relpath)
    stamps = corpus.frame(relpath)["timestamp"]

    assert len(labels) == len(stamps)
    assert labels.sum() > 0
    for start, end in corpus.windows_of(relpath):
        assert labels[stamps.searchsorted(start)] == 1
        assert labels[stamps.searchsorted(end)] == 1
    assert labels[0] == 0


# --- hand-made examples -----------------------------------------------------------------------


def _frame(scores, start="2024-01-01", freq="5min") -> pd.DataFrame:
    stamps = pd.date_range(start, periods=len(scores), freq=freq)
    return pd.DataFrame({"timestamp": stamps, "anomaly_score": np.asarray(scores, dtype=float)})


def _one_file(n_rows: int, detections: list[int], window: tuple[int, int] | None):
    """One file of ``n_rows`` rows, alerts at ``detections``, one window given by row numbers."""
    scores = np.zeros(n_rows)
    scores[detections] = 1.0
    frame = _frame(scores)
    stamps = frame["timestamp"]
    windows = [] if window is None else [(stamps[window[0]], stamps[window[1]])]
    return {"f.csv": frame}, {"f.csv": windows}


def _raw(n_rows, detections, window, profile=STANDARD, probation_percent=0.0) -> float:
    results, windows = _one_file(n_rows, detections, window)
    sweep = CorpusSweep.from_results(results, windows, probation_percent=probation_percent)
    return sweep.raw_score(profile, 0.5)


def test_early_detection_scores_more_than_late():
    first, middle, last = (_raw(100, [row], (40, 59)) for row in (40, 50, 59))
    assert first == pytest.approx(STANDARD.tp_weight)
    assert first > middle > last > 0


def test_only_the_earliest_detection_in_a_window_counts():
    assert _raw(100, [45, 50, 55], (40, 59)) == pytest.approx(_raw(100, [45], (40, 59)))


def test_false_positive_far_from_a_window_costs_more_than_one_right_after():
    right_after = _raw(200, [45, 60], (40, 59)) - _raw(200, [45], (40, 59))
    far_after = _raw(200, [45, 150], (40, 59)) - _raw(200, [45], (40, 59))
    before_any = _raw(200, [45, 10], (40, 59)) - _raw(200, [45], (40, 59))

    assert 0 > right_after > far_after
    assert far_after == pytest.approx(-STANDARD.fp_weight)
    assert before_any == pytest.approx(-STANDARD.fp_weight)


def test_missed_window_costs_fn_weight():
    profile = CostProfile(tp_weight=1.0, fp_weight=0.11, fn_weight=2.0)
    assert _raw(100, [], (40, 59), profile) == pytest.approx(-2.0)
    assert _raw(100, [10], None, profile) == pytest.approx(-0.11)


def test_probation_rows_are_not_scored():
    # 15% of 100 rows: rows 0-14 are probationary.
    assert probation_length(100) == 15
    assert probation_length(6000) == 750  # capped at 15% of 5000 rows
    assert _raw(100, [5, 14], (40, 59), probation_percent=0.15) == pytest.approx(-1.0)
    # Row 15 is the first scored row: a false positive before the (missed) window.
    assert _raw(100, [15], (40, 59), probation_percent=0.15) == pytest.approx(-1.11)


def test_window_inside_probation_does_not_count():
    results, windows = _one_file(100, [], (2, 8))
    sweep = CorpusSweep.from_results(results, windows)  # default 15% probation

    assert sweep.raw_score(STANDARD, 0.5) == 0.0
    assert sweep.null_score(STANDARD) == 0.0
    assert sweep.perfect_score(STANDARD) == STANDARD.tp_weight  # NAB still counts it


def test_normalization_puts_nothing_at_0_and_perfect_at_100():
    nothing = _one_file(100, [], (40, 59))
    perfect = _one_file(100, [40], (40, 59))

    assert normalized_score(*nothing, STANDARD, 0.5) == pytest.approx(0.0)
    assert normalized_score(*perfect, STANDARD, 0.5) == pytest.approx(100.0)
    assert score_corpus(*perfect, STANDARD, 0.5) == pytest.approx(1.0)


def test_repeated_end_timestamp_ends_window_at_first_occurrence():
    stamps = list(pd.date_range("2024-01-01", periods=10, freq="5min"))
    stamps.insert(6, stamps[5])  # row 6 repeats row 5's timestamp
    geometry = FileGeometry.from_timestamps(stamps, [(stamps[3], stamps[5])], 0.0)

    assert geometry.windows == ((3, 5),)
    assert geometry.window_of_row[6] == -1


def test_window_not_covering_any_row_is_rejected():
    stamps = pd.date_range("2024-01-01", periods=10, freq="5min")
    gap = (stamps[2] + pd.Timedelta("1min"), stamps[2] + pd.Timedelta("2min"))
    with pytest.raises(ValueError, match="covers no row"):
        FileGeometry.from_timestamps(stamps, [gap])


def test_optimize_threshold_picks_the_best_sweep_row():
    results, windows = _one_file(100, [], (40, 59))
    scores = np.zeros(100)
    scores[[30, 45]] = [0.9, 0.7]  # a false positive above the true positive
    results["f.csv"]["anomaly_score"] = scores

    threshold, score = optimize_threshold(results, windows, STANDARD)

    assert threshold == 0.7
    expected = _raw(100, [30, 45], (40, 59))
    assert score == pytest.approx(100.0 * (expected + 1.0) / 2.0)


def test_detection_scores_equal_threshold_half_on_alert_column():
    results, windows = _one_file(100, [20, 47, 70], (40, 59))
    alerts = {"f.csv": results["f.csv"].assign(alert=lambda f: (f.anomaly_score > 0).astype(int))}
    profiles = {"standard": STANDARD, "low_fn": CostProfile(1.0, 0.11, 2.0)}

    by_alert = detection_scores(alerts, windows, profiles)
    by_score = nab_scores(results, windows, profiles, threshold=0.5)

    assert by_alert == by_score


def test_lookout_results_are_scored_on_their_onsets():
    """Lookout's ``anomaly_score`` is continuous; NAB scores ``onset_score`` where results have
    it, as if it were the only score: the same numbers as before the continuous score."""
    results, windows = _one_file(100, [40, 80], (40, 59))
    onsets = results["f.csv"]["anomaly_score"].to_numpy()
    continuous = np.where((np.arange(100) >= 40) & (np.arange(100) < 75), 0.8, 0.1)
    continuous[[40, 80]] = 1.0
    both = {"f.csv": results["f.csv"].assign(anomaly_score=continuous, onset_score=onsets)}
    profiles = {"standard": STANDARD}

    assert nab_scores(both, windows, profiles) == nab_scores(results, windows, profiles)
    assert nab_scores(both, windows, profiles, threshold=0.5) == nab_scores(
        results, windows, profiles, threshold=0.5
    )
    # the continuous score, asked for, pays for its rows after the window
    continuous_nab = nab_scores(
        both, windows, profiles, threshold=0.5, score_column="anomaly_score"
    )
    assert (
        continuous_nab["standard"]["score"]
        < nab_scores(both, windows, profiles, threshold=0.5)["standard"]["score"]
    )


# --- the vectorized scorer against a plain loop over rows ---------------------------------------


def _loop_score(scores, window_rows, profile, threshold, probation_percent) -> float:
    """NAB's rules row by row, for one file: the oracle for the numpy implementation."""

    def curve(x):
        return -1.0 if x >= 3.0 else 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0

    n = len(scores)
    probation = min(math.floor(probation_percent * n), probation_percent * 5000)
    total = 0.0
    for first, last in window_rows:
        rows = [i for i in range(first, last + 1) if i >= probation]
        if not rows:
            continue
        hits = [i for i in rows if scores[i] >= threshold]
        if hits:
            width = last - first + 1
            total += profile.tp_weight * curve(-(last - hits[0] + 1) / width) / curve(-1.0)
        else:
            total -= profile.fn_weight
    for i in range(n):
        inside = any(first <= i <= last for first, last in window_rows)
        if i < probation or inside or scores[i] < threshold:
            continue
        before = [(first, last) for first, last in window_rows if last < i]
        if before:
            first, last = before[-1]
            total += profile.fp_weight * curve((i - last) / (last - first))
        else:
            total -= profile.fp_weight
    return total


@st.composite
def _files(draw):
    n_files = draw(st.integers(1, 3))
    files = []
    for _ in range(n_files):
        n_rows = draw(st.integers(4, 40))
        cuts = sorted(draw(st.sets(st.integers(0, n_rows - 1), max_size=6)))
        # Pairs of cut points become windows of at least two rows.
        window_rows = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if b > a]
        scores = draw(
            st.lists(st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0]), min_size=n_rows, max_size=n_rows)
        )
        files.append((scores, window_rows))
    return files


_profiles = st.builds(
    CostProfile,
    tp_weight=st.floats(0.5, 2.0),
    fp_weight=st.floats(0.0, 1.0),
    fn_weight=st.floats(0.0, 3.0),
)


@settings(max_examples=60, deadline=None)
@given(files=_files(), profile=_profiles, probation_percent=st.sampled_from([0.0, 0.15, 0.3]))
def test_sweep_matches_row_by_row_scoring(files, profile, probation_percent):
    results, windows = {}, {}
    for k, (scores, window_rows) in enumerate(files):
        frame = _frame(scores, start=f"2024-01-0{k + 1}")
        stamps = frame["timestamp"]
        results[f"f{k}.csv"] = frame
        windows[f"f{k}.csv"] = [(stamps[a], stamps[b]) for a, b in window_rows]
    sweep = CorpusSweep.from_results(results, windows, probation_percent=probation_percent)

    def loop_total(threshold):
        return sum(
            _loop_score(scores, rows, profile, threshold, probation_percent)
            for scores, rows in files
        )

    thresholds, raw_scores = sweep.sweep(profile)
    assert thresholds[0] == 1.1
    assert np.all(np.diff(thresholds) < 0)
    for threshold, raw in zip(thresholds, raw_scores, strict=True):
        assert raw == pytest.approx(loop_total(threshold), abs=1e-9)
        assert sweep.raw_score(profile, threshold) == pytest.approx(raw, abs=1e-9)
    for threshold in (0.1, 0.6, 0.99):
        assert sweep.raw_score(profile, threshold) == pytest.approx(loop_total(threshold), abs=1e-9)
    best_threshold, best_raw = sweep.optimize(profile)
    assert best_raw == pytest.approx(max(loop_total(t) for t in thresholds), abs=1e-9)
    assert best_raw == pytest.approx(loop_total(best_threshold), abs=1e-9)


# --- files on disk --------------------------------------------------------------------------------


def test_corpus_files_windows_profiles_and_results_round_trip(tmp_path):
    data = tmp_path / "data" / "cat"
    data.mkdir(parents=True)
    frame = _frame(np.zeros(12))
    frame[["timestamp"]].assign(value=1.0).to_csv(data / "a.csv", index=False)
    frame[["timestamp"]].assign(value=2.0).to_csv(data / "b.csv", index=False)
    stamps = frame["timestamp"]
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "combined_windows.json").write_text(
        json.dumps({"cat/a.csv": [[str(stamps[4]), str(stamps[6])]], "cat/b.csv": []})
    )
    (tmp_path / "profiles.json").write_text(
        json.dumps({"p": {"CostMatrix": {"tpWeight": 1, "fnWeight": 2, "fpWeight": 0.5}}})
    )
    results = tmp_path / "results" / "mydet" / "cat"
    results.mkdir(parents=True)
    scored = frame.assign(anomaly_score=np.where(np.arange(12) == 4, 1.0, 0.0))
    scored.to_csv(results / "mydet_a.csv", index=False)
    frame.to_csv(results / "mydet_b.csv", index=False)

    corpus = NabCorpus.from_nab_dir(tmp_path)
    profiles = load_profiles(tmp_path / "profiles.json")
    loaded = load_results(tmp_path / "results" / "mydet", corpus.relpaths)

    assert corpus.relpaths == ["cat/a.csv", "cat/b.csv"]
    assert corpus.label_series("cat/a.csv").tolist() == [0] * 4 + [1] * 3 + [0] * 5
    assert corpus.label_series("cat/b.csv").sum() == 0
    assert corpus.frame("cat/b.csv")["value"].eq(2.0).all()
    assert profiles == {"p": CostProfile(tp_weight=1.0, fp_weight=0.5, fn_weight=2.0)}
    assert load_windows(tmp_path / "labels" / "combined_windows.json") == corpus.windows
    assert sorted(loaded) == corpus.relpaths
    scores = nab_scores(loaded, corpus.windows, profiles, threshold=0.5)
    assert scores["p"]["score"] == pytest.approx(100.0)


def test_match_result_files_by_same_name_or_detector_prefix(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.csv").touch()
    (tmp_path / "cat" / "det_b.csv").touch()
    (tmp_path / "cat" / "other_c.csv").touch()

    found = match_result_files(tmp_path, ["cat/a.csv", "cat/b.csv", "cat/c.csv", "cat/d.csv"])
    named = match_result_files(tmp_path, ["cat/b.csv", "cat/c.csv"], detector_prefix="other")

    assert {k: v.name for k, v in found.items()} == {"cat/a.csv": "a.csv", "cat/b.csv": "det_b.csv"}
    assert {k: v.name for k, v in named.items()} == {"cat/c.csv": "other_c.csv"}


def test_match_result_files_refuses_to_guess_between_prefixes(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "one_a.csv").touch()
    (tmp_path / "cat" / "two_a.csv").touch()
    with pytest.raises(ValueError, match="detector_prefix"):
        match_result_files(tmp_path, ["cat/a.csv"])


def test_labels_from_windows_includes_both_ends():
    stamps = pd.date_range("2024-01-01", periods=5, freq="1h")
    labels = labels_from_windows(stamps, [(stamps[1], stamps[3])])
    assert labels.tolist() == [0, 1, 1, 1, 0]


def test_normalizing_without_any_window_is_an_error():
    sweep = CorpusSweep.from_results(*_one_file(50, [10], None))
    assert sweep.raw_score(STANDARD, 0.5) == pytest.approx(-STANDARD.fp_weight)
    with pytest.raises(ValueError, match="no windows"):
        sweep.normalize(0.0, STANDARD)
