"""``lookout evaluate``, ``simulate`` and ``report``: modes, end to end runs and input errors.

The reference reproduction needs NAB's data outside the repository (``LOOKOUT_NAB_DIR``, default
``<repo>/../shared/data/nab``); without it that test skips locally and fails on CI.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.nab import labels_from_windows, load_windows
from stream.cli import main
from stream.cli.options import DEMO_DATA, DEMO_WINDOWS

NAB_DIR = Path(
    os.environ.get(
        "LOOKOUT_NAB_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nab"
    )
)
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def evaluate_json(capsys, *args) -> dict:
    code, out, err = run(capsys, "evaluate", *args, "--json")
    assert code == 0, err
    return json.loads(out)


# --- a tiny NAB-style corpus whose right answers are known ----------------------------------------

N_ROWS = 400
WINDOW_ROWS = (300, 319)  # in a.csv; b.csv holds no incident


def write_tiny_corpus(root: Path, scores: dict[str, np.ndarray], alerts: dict[str, np.ndarray]):
    """``root/data``, ``root/labels/combined_windows.json`` and replay-style ``root/results``."""
    stamps = pd.date_range("2024-01-01", periods=N_ROWS, freq="5min")
    text = stamps.strftime("%Y-%m-%d %H:%M:%S")
    for name in ("a.csv", "b.csv"):
        for folder in ("data/cat", "results/cat"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"timestamp": text, "value": np.ones(N_ROWS)}).to_csv(
            root / "data" / "cat" / name, index=False
        )
        pd.DataFrame(
            {
                "timestamp": text,
                "value": np.ones(N_ROWS),
                "anomaly_score": scores[name],
                "alert": alerts[name].astype(int),
            }
        ).to_csv(root / "results" / "cat" / name, index=False)
    first, last = (stamps[row].strftime("%Y-%m-%d %H:%M:%S.%f") for row in WINDOW_ROWS)
    (root / "labels").mkdir(exist_ok=True)
    (root / "labels" / "combined_windows.json").write_text(
        json.dumps({"cat/a.csv": [[first, last]], "cat/b.csv": []})
    )
    return root / "results", root / "data"


def spikes(rows_values: dict[int, float]) -> np.ndarray:
    values = np.zeros(N_ROWS)
    for row, value in rows_values.items():
        values[row] = value
    return values


@pytest.fixture
def tiny(tmp_path):
    """a.csv: 0.9 at the window's first row; b.csv: a false 0.6 spike. Alerts: the window only."""
    scores = {"a.csv": spikes({WINDOW_ROWS[0]: 0.9}), "b.csv": spikes({100: 0.6})}
    alerts = {"a.csv": spikes({WINDOW_ROWS[0]: 1}), "b.csv": spikes({})}
    return write_tiny_corpus(tmp_path, scores, alerts)


def test_optimize_finds_the_threshold_that_skips_the_false_spike(capsys, tiny):
    results, data = tiny
    document = evaluate_json(capsys, results, "--data", data, "--optimize")

    assert set(document["nab"]) == set(PROFILES)
    for entry in document["nab"].values():
        assert entry["mode"] == "optimized"
        assert entry["threshold"] == pytest.approx(0.9)
        assert entry["score"] == pytest.approx(100.0)
    score = document["classification"]["score"]
    assert score["threshold"] == pytest.approx(0.9)
    assert (score["tp"], score["fp"], score["n_false_alert_events"]) == (1, 0, 0)


def test_fixed_threshold_scores_the_false_spike_too(capsys, tiny):
    results, data = tiny
    low = evaluate_json(capsys, results, "--data", data, "--threshold", "0.5")
    high = evaluate_json(capsys, results, "--data", data, "--threshold", "0.7")

    assert {entry["mode"] for entry in low["nab"].values()} == {"fixed"}
    assert {entry["threshold"] for entry in low["nab"].values()} == {0.5}
    assert high["nab"]["standard"]["score"] == pytest.approx(100.0)
    # The spike far from any window costs fp_weight, twice as much in reward_low_FP_rate.
    for name in PROFILES:
        assert low["nab"][name]["score"] < high["nab"][name]["score"]
    assert low["classification"]["score"]["n_false_alert_events"] == 1
    assert low["classification"]["score"]["threshold"] == 0.5


def test_use_alerts_scores_the_alert_column_not_the_scores(capsys, tmp_path):
    scores = {"a.csv": np.zeros(N_ROWS), "b.csv": np.zeros(N_ROWS)}
    alerts = {"a.csv": spikes({WINDOW_ROWS[0]: 1}), "b.csv": spikes({})}
    results, data = write_tiny_corpus(tmp_path, scores, alerts)

    by_alerts = evaluate_json(capsys, results, "--data", data, "--use-alerts")
    by_scores = evaluate_json(capsys, results, "--data", data)

    assert {entry["mode"] for entry in by_alerts["nab"].values()} == {"alert"}
    assert by_alerts["nab"]["standard"]["score"] == pytest.approx(100.0)
    assert by_scores["nab"]["standard"]["score"] == pytest.approx(0.0)
    alert = by_alerts["classification"]["alert"]
    assert (alert["tp"], alert["fp"], alert["n_detected_windows"]) == (1, 0, 1)
    assert alert["confusion_matrix"] == [[alert["tn"], 0], [alert["fn"], 1]]


def test_objective_picks_the_score_threshold(capsys, tiny):
    results, data = tiny
    document = evaluate_json(capsys, results, "--data", data, "--objective", "fp-per-day:0")

    assert document["objective"] == {
        "name": "fp-per-day:0",
        "threshold": pytest.approx(0.9),
        "met": True,
    }
    assert document["classification"]["score"]["n_false_alert_events"] == 0
    assert document["classification"]["score"]["threshold_source"] == "objective fp-per-day:0"


def _lookout_layout(results: Path, old: bool) -> None:
    """Rewrite the tiny results as Lookout writes them: a continuous anomaly score that stays
    high through a.csv's window and past it, with the onset (its start) apart; ``old``: the
    layout before ``onset_score`` (onsets in ``anomaly_score``, continuous ``combined_score``)."""
    for name in ("a.csv", "b.csv"):
        path = results / "cat" / name
        frame = pd.read_csv(path)
        onsets = frame["anomaly_score"].to_numpy()
        continuous = np.full(N_ROWS, 0.05)
        if name == "a.csv":
            continuous[WINDOW_ROWS[0] : WINDOW_ROWS[1] + 30] = 0.8  # on past the window's end
            continuous[WINDOW_ROWS[0]] = 0.9
        else:
            continuous[100] = 0.6
        if old:
            frame = frame.assign(anomaly_score=onsets, combined_score=continuous)
        else:
            frame = frame.assign(anomaly_score=continuous, onset_score=onsets)
        frame.to_csv(path, index=False)


def test_nab_scores_the_onsets_and_the_curves_rank_the_continuous_score(capsys, tiny):
    results, data = tiny
    _lookout_layout(results, old=False)
    document = evaluate_json(capsys, results, "--data", data, "--optimize")

    # NAB: the onset at the window's start and nothing else (the continuous score, at 0.8 for
    # 30 rows after the window, would cost false positives at any threshold that detects it)
    for entry in document["nab"].values():
        assert entry["score"] == pytest.approx(100.0)
        assert entry["threshold"] == pytest.approx(0.9)
    # ROC and PR rank the continuous score: the window's rows above the rest (the onsets alone
    # rank one row of 20: ROC-AUC about 0.5, PR-AUC about 20 / 800)
    score = document["classification"]["score"]
    assert score["roc_auc"] > 0.95 and score["pr_auc"] > 0.3

    # the layout before onset_score (onsets in anomaly_score, combined_score) reads the same
    _lookout_layout(results, old=True)
    assert evaluate_json(capsys, results, "--data", data, "--optimize") == document


def test_text_output_shows_both_metric_views(capsys, tiny):
    results, data = tiny
    code, out, _ = run(capsys, "evaluate", results, "--data", data, "--threshold", "0.5")

    assert code == 0
    assert "reward_low_FN_rate" in out and "fixed" in out
    assert "Alerts (the alert column" in out
    assert "anomaly_score >= 0.5 (given threshold)" in out
    assert "always-healthy accuracy" in out and "detection delay" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objective", "cheap"], "unknown objective"),
        (["--objective", "recall:2"], "recall must be in [0, 1]"),
        (["--threshold", "0.5", "--objective", "max-f1"], "give one"),
        (["--profiles", "/nonexistent/profiles.json"], "not a NAB profiles file"),
        (["--windows", "/nonexistent/windows.json"], "No such file"),
    ],
)
def test_bad_options_give_a_clear_error(capsys, tiny, args, message):
    results, data = tiny
    code, out, err = run(capsys, "evaluate", results, "--data", data, *args)
    assert code == 2
    assert err.startswith("lookout evaluate: error:") and message in err
    assert "Traceback" not in err and not out


def test_threshold_modes_are_exclusive(capsys, tiny):
    results, _ = tiny
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(results), "--threshold", "0.5", "--use-alerts"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# --- results that do not match the data -----------------------------------------------------------


def test_results_of_other_data_give_a_clear_error(capsys, tiny):
    results, _ = tiny
    code, _, err = run(capsys, "evaluate", results, "--data", DEMO_DATA)
    assert code == 2
    assert "no result file under" in err and "matches a data file" in err
    demo_files = load_windows(DEMO_WINDOWS)
    assert any(f"expected e.g. {relpath}" in err for relpath in demo_files)
    assert "cat/a.csv" in err  # what was found


def test_data_files_without_results_are_listed_unless_allowed(capsys, tiny):
    results, data = tiny
    (results / "cat" / "b.csv").unlink()

    code, _, err = run(capsys, "evaluate", results, "--data", data)
    assert code == 2
    assert "1 of 2 data files" in err and "cat/b.csv" in err and "--allow-missing" in err

    code, out, err = run(capsys, "evaluate", results, "--data", data, "--allow-missing", "--json")
    assert code == 0
    assert "1 data files without results left out" in err
    document = json.loads(out)
    assert document["files"] == 1 and document["missing_files"] == ["cat/b.csv"]


def test_result_file_made_from_other_timestamps_is_rejected(capsys, tiny):
    results, data = tiny
    frame = pd.read_csv(results / "cat" / "a.csv")
    frame["timestamp"] = pd.date_range("2030-01-01", periods=N_ROWS, freq="5min")
    frame.to_csv(results / "cat" / "a.csv", index=False)

    code, _, err = run(capsys, "evaluate", results, "--data", data)
    assert code == 2
    assert "does not match its data file cat/a.csv" in err


def test_result_file_without_scores_is_rejected(capsys, tiny):
    results, data = tiny
    frame = pd.read_csv(results / "cat" / "a.csv").drop(columns=["anomaly_score"])
    frame.to_csv(results / "cat" / "a.csv", index=False)

    code, _, err = run(capsys, "evaluate", results, "--data", data)
    assert code == 2
    assert "no anomaly_score column" in err


def test_labels_for_other_files_give_a_clear_error(capsys, tiny):
    results, data = tiny
    code, _, err = run(capsys, "evaluate", results, "--data", data, "--windows", DEMO_WINDOWS)
    assert code == 2
    assert "labels none of the data files" in err


def test_missing_results_folder_gives_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, "evaluate", tmp_path / "nope")
    assert code == 2 and "results folder not found" in err


# --- the bundled demo, replayed -------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo_results")
    assert main(["replay", "--out", str(out), "--no-progress"]) == 0
    return out


def _demo_labels_and_columns(results: Path):
    windows = load_windows(DEMO_WINDOWS)
    labels, alert, score = [], [], []
    for relpath, spans in windows.items():
        frame = pd.read_csv(results / relpath, parse_dates=["timestamp"])
        labels.append(labels_from_windows(frame["timestamp"], spans).astype(bool))
        alert.append(frame["alert"].to_numpy() == 1)
        score.append(frame["anomaly_score"].to_numpy())
    return np.concatenate(labels), np.concatenate(alert), np.concatenate(score)


def test_demo_replay_evaluates_with_default_data_and_labels(capsys, demo_results):
    document = evaluate_json(capsys, demo_results)

    assert set(document["nab"]) == set(PROFILES)
    for entry in document["nab"].values():
        assert set(entry) >= {"score", "threshold", "mode"}
        assert entry["score"] <= 100.0
        assert entry["mode"] == "optimized"
    # Optimizing can always fall back to detecting nothing, which scores 0.
    assert document["nab"]["standard"]["score"] >= 0.0

    labels, alert, score = _demo_labels_and_columns(demo_results)
    by_alert = document["classification"]["alert"]
    assert by_alert["tp"] == int((alert & labels).sum())
    assert by_alert["fp"] == int((alert & ~labels).sum())
    assert by_alert["n_points"] == len(labels) and by_alert["n_positive"] == int(labels.sum())
    by_score = document["classification"]["score"]
    detected = score >= by_score["threshold"]
    assert by_score["tp"] + by_score["fp"] == int(detected.sum())
    assert by_score["threshold"] == document["nab"]["standard"]["threshold"]
    assert by_score["always_healthy_accuracy"] == pytest.approx(1 - labels.mean())


def test_demo_replay_use_alerts_and_threshold_modes(capsys, demo_results):
    alerts = evaluate_json(capsys, demo_results, "--use-alerts")
    fixed = evaluate_json(capsys, demo_results, "--threshold", "0.5")
    optimized = evaluate_json(capsys, demo_results)

    assert {e["mode"] for e in alerts["nab"].values()} == {"alert"}
    assert {e["threshold"] for e in alerts["nab"].values()} == {None}
    assert {e["mode"] for e in fixed["nab"].values()} == {"fixed"}
    for name in PROFILES:
        assert alerts["nab"][name]["score"] <= 100.0
        assert fixed["nab"][name]["score"] <= optimized["nab"][name]["score"] + 1e-9


def test_report_writes_the_page_plots_and_tables(capsys, demo_results, tmp_path):
    out = tmp_path / "report"
    code, stdout, err = run(capsys, "report", demo_results, "--out", out, "--threshold", "0.5")

    assert code == 0, err
    assert str(out / "index.html") in stdout
    page = (out / "index.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    for name in ("confusion_matrix.png", "roc_curve.png", "pr_curve.png", "forecast_vs_actual.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG"), name
    assert len(list((out / "series").glob("*.png"))) == 3
    top = pd.read_csv(out / "top_anomalies.csv")
    onsets = sum(
        int((pd.read_csv(path)["onset_score"] > 0).sum()) for path in demo_results.rglob("*.csv")
    )
    # The onsets only, highest first: no zero-score (warm-up) rows pad the table.
    assert top["anomaly_score"].is_monotonic_decreasing and len(top) == min(onsets, 50)
    assert (top["anomaly_score"] > 0).all()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == evaluate_json(capsys, demo_results, "--threshold", "0.5")
    assert not list(out.glob("state_snapshot.*"))  # the replay saved none


def test_report_includes_a_state_snapshot_found_in_the_results(capsys, tiny, tmp_path):
    results, data = tiny
    (results / "state_snapshot.json").write_text('{"points": 800}')
    out = tmp_path / "report"

    code, _, err = run(capsys, "evaluate", results, "--data", data, "--report", out)

    assert code == 0, err
    assert json.loads((out / "state_snapshot.json").read_text()) == {"points": 800}
    assert (out / "index.html").is_file() and (out / "metrics.json").is_file()


def test_report_of_results_without_alert_or_value_columns(capsys, tiny, tmp_path):
    results, data = tiny
    for path in (results / "cat").glob("*.csv"):
        pd.read_csv(path)[["timestamp", "anomaly_score"]].to_csv(path, index=False)

    code, _, err = run(capsys, "report", results, "--data", data, "--out", tmp_path / "r")

    assert code == 0, err
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["classification"]["alert"] is None
    top = pd.read_csv(tmp_path / "r" / "top_anomalies.csv")
    assert top["value"].eq(1.0).all()  # taken from the data files
    assert top["alert"].tolist()[:1] == [1]  # derived from the optimized threshold, 0.9


# --- simulate, then replay and evaluate -----------------------------------------------------------


def test_simulate_writes_a_nab_folder_that_replays_and_evaluates(capsys, tmp_path):
    sim_dir, results = tmp_path / "sim", tmp_path / "results"
    code, out, err = run(capsys, "simulate", "daily_job", "--out", sim_dir, "--seed", "3")
    assert code == 0, err
    assert "daily_job" in out

    data_files = sorted(
        p.relative_to(sim_dir / "data").as_posix() for p in (sim_dir / "data").rglob("*.csv")
    )
    windows = load_windows(sim_dir / "labels" / "combined_windows.json")
    assert data_files == ["daily_job/daily_job.csv"] == sorted(windows)
    frame = pd.read_csv(sim_dir / "data" / data_files[0], parse_dates=["timestamp"])
    assert list(frame.columns) == ["timestamp", "value"]
    assert frame["timestamp"].is_monotonic_increasing
    assert labels_from_windows(frame["timestamp"], windows[data_files[0]]).sum() > 0

    assert main(["replay", str(sim_dir / "data"), "--out", str(results), "--no-progress"]) == 0
    capsys.readouterr()
    # --windows defaults to DATA/../labels/combined_windows.json, i.e. the simulated labels.
    document = evaluate_json(capsys, results, "--data", sim_dir / "data")
    assert document["files"] == 1
    assert document["classification"]["score"]["n_windows"] == 1
    assert document["classification"]["score"]["n_points"] == len(frame)
    assert 0.0 <= document["nab"]["standard"]["score"] <= 100.0


def test_simulate_is_deterministic_and_all_writes_every_scenario(capsys, tmp_path):
    for folder in ("one", "two"):
        assert run(capsys, "simulate", "ddos", "--out", tmp_path / folder, "--seed", "5")[0] == 0
    first = (tmp_path / "one" / "data" / "ddos" / "request_rate.csv").read_bytes()
    assert first == (tmp_path / "two" / "data" / "ddos" / "request_rate.csv").read_bytes()

    assert run(capsys, "simulate", "all", "--out", tmp_path / "all")[0] == 0
    categories = {p.name for p in (tmp_path / "all" / "data").iterdir()}
    assert categories == {"ddos", "sre", "daily_job", "quiet"}
    labels = json.loads((tmp_path / "all" / "labels" / "combined_windows.json").read_text())
    on_disk = {
        p.relative_to(tmp_path / "all" / "data").as_posix()
        for p in (tmp_path / "all" / "data").rglob("*.csv")
    }
    assert set(labels) == on_disk


def test_simulate_rejects_an_unknown_scenario(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "earthquake", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# --- help and the NAB reference -------------------------------------------------------------------


@pytest.mark.parametrize("command", ["evaluate", "simulate", "report"])
def test_every_subcommand_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: lookout {command}")
    assert ("--use-alerts" if command == "evaluate" else "--out") in out


@pytest.fixture(scope="module")
def nab_dir() -> Path:
    if not (NAB_DIR / "reference" / "numenta").is_dir():
        reason = f"NAB reference data not found at {NAB_DIR} (set LOOKOUT_NAB_DIR)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return NAB_DIR


def test_numenta_reference_results_reproduce_the_official_score(capsys, nab_dir):
    document = evaluate_json(
        capsys,
        nab_dir / "reference" / "numenta",
        "--data",
        nab_dir / "data",
        "--windows",
        nab_dir / "labels" / "combined_windows.json",
        "--optimize",
    )
    official = json.loads((nab_dir / "reference" / "expected_scores.json").read_text())
    assert document["nab"]["standard"]["score"] == pytest.approx(73.56, abs=0.01)
    for name in PROFILES:
        expected = official["scores"]["numenta"][name]["optimized_threshold_score"]
        assert document["nab"][name]["score"] == pytest.approx(expected, abs=0.01)
    assert document["files"] == 34
    assert document["classification"]["alert"] is None  # NAB results carry no alert column
