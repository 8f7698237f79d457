"""``lookout evaluate`` and ``report`` on data as a user has it: real server metrics
(``tests/data/own``: a gzipped file, a plain one, a long-format file of two series), without
labels, then with labels written for one subfolder (``tests/data/own_labels.json``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import plots
from sim.results import EvaluationError, match_labels
from stream.cli import main

DATA = Path(__file__).resolve().parent / "data"
OWN = DATA / "own"
LABELS = DATA / "own_labels.json"
SERIES = {
    "machine-1-6/d07.csv",
    "machine-1-6/d13.csv",  # from d13.csv.gz
    "machine-2-4/metrics.csv::machine-2-4 d35",
    "machine-2-4/metrics.csv::machine-2-4 d36",
}
LABELED = {"machine-1-6/d07.csv", "machine-1-6/d13.csv"}


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def evaluate_json(capsys, *args) -> dict:
    code, out, err = run(capsys, "evaluate", *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("own_results")
    # These tests are about what a report shows of alerts: count every point, not every 5
    # minutes of series time, so that the 1-minute server metrics page (--paging-interval 0).
    argv = ["replay", str(OWN), "--out", str(out), "--no-progress", "--paging-interval", "0"]
    assert main(argv) == 0
    return out


def firing_starts(results: Path) -> list[str]:
    """Alert starts as replay logged them in alerts.jsonl (its own record of what paged)."""
    events = [json.loads(line) for line in (results / "alerts.jsonl").read_text().splitlines()]
    return sorted(e["start"].removesuffix("Z") for e in events if e["status"] == "firing")


# --- without labels ------------------------------------------------------------------------------


def test_evaluate_without_labels_lists_what_paged(capsys, results):
    document = evaluate_json(capsys, results)

    assert document["nab"] == {} and document["classification"] is None
    assert document["files"] == 3 and document["series"] == 4 and document["labeled_series"] == 0
    alerts = document["alerts"]
    assert alerts, "the real data pages at least once"
    assert sorted(a["start"] for a in alerts) == firing_starts(results)
    for alert in alerts:
        assert alert["series"] in SERIES
        assert alert["start"] < alert["end"] and alert["duration"] > 0
        assert 0 < alert["peak_score"] <= 1 and alert["peak_at"] >= alert["start"]
        assert alert["incident"] is None
        frame = pd.read_csv(results / alert["series"].split("::")[0], parse_dates=["timestamp"])
        if "::" in alert["series"]:
            frame = frame[frame["series"] == alert["series"].split("::")[1]]
        row = frame[frame["timestamp"] == pd.Timestamp(alert["peak_at"])].iloc[0]
        assert (alert["actual"], alert["peak_score"]) == (row["value"], row["anomaly_score"])
        assert alert["expected"] == pytest.approx(row["expected"])

    pages = {row["series"]: row for row in document["pages"]}
    assert set(pages) == SERIES
    for name, row in pages.items():
        n_alerts = sum(a["series"] == name for a in alerts)
        assert row["alerts"] == n_alerts
        days = 3.0 if name.startswith("machine-1-6") else 1.0  # 1-minute points, whole days
        assert row["days"] == pytest.approx(days)
        assert row["pages_per_day"] == pytest.approx(n_alerts / days)


def test_evaluate_text_without_labels_says_so_and_tables_the_pages(capsys, results):
    code, out, err = run(capsys, "evaluate", results)
    assert code == 0, err
    assert out.startswith("No labels:")
    assert "machine-2-4/metrics.csv::machine-2-4 d36" in out
    assert "3 files, 4 series evaluated, none labelled" in out


def test_report_without_labels(capsys, results, tmp_path):
    code, out, err = run(capsys, "report", results, "--out", tmp_path)
    assert code == 0, err
    page = (tmp_path / "index.html").read_text()
    alerts = pd.read_csv(tmp_path / "alerts.csv")

    assert (
        "<h2>What paged</h2>" in page and "No labels" in page and "<h3>NAB score</h3>" not in page
    )
    # Tables, not a JSON dump: one row per alert in the alerts table.
    alerts_section = page.split("<h3>Alerts</h3>")[1].split("</table>")[0]
    assert alerts_section.count("<tr>") == len(alerts) + 1
    assert sorted(alerts["start"].str.replace(" ", "T")) == firing_starts(results)
    assert len(list((tmp_path / "alerts").glob("*.png"))) == min(len(alerts), 30)
    assert len(list((tmp_path / "series").glob("*.png"))) == 4
    pages = pd.read_csv(tmp_path / "pages.csv")
    assert set(pages["series"]) == SERIES and not pages["labeled"].any()
    top = pd.read_csv(tmp_path / "top_anomalies.csv")
    assert (top["anomaly_score"] > 0).all()  # no zero-score warm-up rows padding the table
    assert not list(tmp_path.glob("roc_curve.png"))


def test_data_folder_with_gz_and_long_format_pairs_with_its_results(capsys, results):
    document = evaluate_json(capsys, results, "--data", OWN)
    assert document["files"] == 3 and document["series"] == 4


# --- with labels for one subfolder ---------------------------------------------------------------


def test_labels_for_a_subfolder_score_the_series_they_name(capsys, results):
    document = evaluate_json(capsys, results, "--windows", LABELS)

    assert document["labeled_series"] == 2
    by_alert = document["classification"]["alert"]
    assert by_alert["n_series"] == 2 and by_alert["n_points"] == 2 * 3 * 1440
    assert by_alert["n_windows"] == 2
    assert set(document["nab"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    pages = {row["series"]: row["labeled"] for row in document["pages"]}
    assert {name for name, labeled in pages.items() if labeled} == LABELED
    incident = {a["series"]: a["incident"] for a in document["alerts"]}
    assert all(incident[name] is None for name in incident if name not in LABELED)
    assert any(a["incident"] for a in document["alerts"])  # d13's windows are caught
    # The alert table's labels agree with the event-wise metrics.
    false_alerts = sum(a["incident"] is False for a in document["alerts"])
    assert false_alerts == by_alert["n_false_alert_events"]
    assert (
        false_alerts + sum(a["incident"] is True for a in document["alerts"])
        == (by_alert["n_alert_events"])
    )
    # The same with the data folder given: .csv.gz data keyed as d13.csv.gz in the labels.
    with_data = evaluate_json(capsys, results, "--data", OWN, "--windows", LABELS)
    assert with_data["classification"] == document["classification"]


def test_report_with_labels_shows_scores_and_the_threshold_that_pages(capsys, results, tmp_path):
    code, _, err = run(capsys, "report", results, "--windows", LABELS, "--out", tmp_path)
    assert code == 0, err
    page = (tmp_path / "index.html").read_text()
    metrics = json.loads((tmp_path / "metrics.json").read_text())

    paging = page.split("<h2>What paged</h2>")[1].split("<h3>")[0]
    assert "<strong>0.36 (the replay" in paging  # what pages, not NAB's sweep
    nab_threshold = metrics["nab"]["standard"]["threshold"]
    assert f"{nab_threshold:.4g}" not in paging
    assert "<h3>NAB score</h3>" in page and "it is not what pages" in page
    # ROC and PR rank by the continuous score, not the onset score that is mostly zero.
    assert "by their anomaly score (continuous)" in page
    for name in ("roc_curve.png", "pr_curve.png", "confusion_matrix.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
    labels = pd.read_csv(tmp_path / "alerts.csv")["incident"]
    assert set(labels.dropna()) <= {True, False} and labels.isna().any()


def test_fp_per_day_that_no_threshold_meets_on_real_data_takes_the_strictest(capsys, results):
    document = evaluate_json(capsys, results, "--windows", LABELS, "--objective", "fp-per-day:0")
    top = max(
        pd.read_csv(results / name)["anomaly_score"].max()
        for name in ("machine-1-6/d07.csv", "machine-1-6/d13.csv")
    )
    # The highest onset of the labelled series is a false alert: nothing that alerts meets 0.
    assert document["objective"] == {"name": "fp-per-day:0", "threshold": top, "met": False}
    code, out, _ = run(
        capsys, "evaluate", results, "--windows", LABELS, "--objective", "fp-per-day:0"
    )
    assert "not met by any threshold that alerts: the strictest one" in out


def test_fp_per_day_on_real_data_meets_the_budget_without_alerting_everywhere(capsys, results):
    document = evaluate_json(capsys, results, "--windows", LABELS, "--objective", "fp-per-day:2")
    score = document["classification"]["score"]
    assert document["objective"]["met"] is True
    assert score["threshold"] > 0 and score["false_alerts_per_day"] <= 2
    assert score["tp"] + score["fp"] < score["n_points"] / 100  # onsets, not every point


def test_objective_needs_labels(capsys, results):
    code, _, err = run(capsys, "evaluate", results, "--objective", "max-f1")
    assert code == 2 and "needs labelled windows" in err


def test_a_label_key_naming_two_files_is_refused():
    window = [(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02"))]
    with pytest.raises(EvaluationError, match="names several files"):
        match_labels(["a/x.csv", "b/x.csv"], {"x.csv": window})
    # Written from the results folder, the same label names one file.
    assert list(match_labels(["a/x.csv", "b/x.csv"], {"b/x.csv": window})) == ["b/x.csv"]


# --- plots -------------------------------------------------------------------------------------


def test_the_value_is_visible_over_the_band_in_warm_up(results):
    # The first hours of a replay: the forecaster's band is wide and its expectation overshoots.
    frame = pd.read_csv(results / "machine-1-6/d13.csv", parse_dates=["timestamp"]).head(600)
    value_range = frame["value"].max() - frame["value"].min()
    assert (frame["upper"] - frame["lower"]).max() > 2 * value_range  # the trap is real
    fig = plots.plot_series(frame, "d13", threshold=0.36)
    low, high = fig.axes[0].get_ylim()
    assert low <= frame["value"].min() and high >= frame["value"].max()
    assert high - low < 1.5 * value_range  # the axis is the value's, not the band's
    value_line = next(line for line in fig.axes[0].lines if line.get_label() == "value")
    (band,) = [c for c in fig.axes[0].collections if c.get_label() == "forecast band"]
    assert value_line.get_zorder() > band.get_zorder()
    assert np.isfinite(fig.axes[1].get_ylim()).all()


def test_series_names_survive_into_html_escaped(capsys, results, tmp_path):
    code, _, _ = run(capsys, "report", results, "--out", tmp_path)
    page = (tmp_path / "index.html").read_text()
    assert code == 0 and not re.search(r"<td>[^<]*[<>][^<]*</td>", page)


def test_labels_written_from_a_parent_folder_name_a_replayed_subfolder(capsys, tmp_path):
    # NAB-style labels keyed from the data root, while only one subfolder was replayed.
    results = tmp_path / "results"
    argv = ["replay", str(OWN / "machine-1-6"), "--out", str(results), "--no-progress"]
    assert main([*argv, "--paging-interval", "0"]) == 0  # as the results fixture
    capsys.readouterr()
    labels = json.loads(LABELS.read_text())
    parent_keys = {f"machine-1-6/{key}": windows for key, windows in labels.items()}
    (tmp_path / "labels.json").write_text(json.dumps(parent_keys))

    document = evaluate_json(capsys, results, "--windows", tmp_path / "labels.json")
    assert document["labeled_series"] == 2 and document["series"] == 2
    assert document["classification"]["alert"]["n_windows"] == 2


def test_the_paging_threshold_of_another_replay_is_the_one_shown(capsys, results, tmp_path):
    code, _, err = run(capsys, "report", results, "--paging-threshold", "0.45", "--out", tmp_path)
    assert code == 0, err
    page = (tmp_path / "index.html").read_text()
    assert "<strong>0.45 (the replay&#x27;s --threshold, as --paging-threshold says)" in page
