"""Postmortem report: every artifact is written, readable and consistent with its inputs."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib import image as mpimg

from sim import plots
from sim.report import series_file_stem, top_anomalies, write_report

LABELED = "web/latency_p99.csv"
UNLABELED = "db/connections.csv"


def _replay(n: int, seed: int, spike_at: int | None, forecast: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    value = 10 + rng.normal(0, 1, n)
    score = rng.uniform(0, 0.4, n)
    alert = np.zeros(n, dtype=int)
    if spike_at is not None:
        value[spike_at : spike_at + 10] += 8
        score[spike_at : spike_at + 10] = rng.uniform(0.8, 1.0, 10)
        alert[spike_at + 2 : spike_at + 9] = 1
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-03-01", periods=n, freq="5min"),
            "value": value,
            "anomaly_score": score,
            "alert": alert,
        }
    )
    if forecast:
        expected = pd.Series(value).rolling(12, min_periods=3).mean().shift(1)
        frame["expected"] = expected
        frame["lower"], frame["upper"] = expected - 3, expected + 3
    return frame


@pytest.fixture(scope="module")
def results():
    return {
        LABELED: _replay(120, seed=1, spike_at=60, forecast=True),
        UNLABELED: _replay(80, seed=2, spike_at=None, forecast=False),
    }


@pytest.fixture(scope="module")
def windows(results):
    ts = results[LABELED]["timestamp"]
    return {LABELED: [(ts[55], ts[75])]}


@pytest.fixture(scope="module")
def metrics():
    return {
        "detector": "zscore",
        "nab_score": np.float64(42.5),
        "alerts_total": np.int64(7),
        "per_series": {LABELED: {"precision": 0.5, "recall": 1.0}},
    }


@pytest.fixture(scope="module")
def report(tmp_path_factory, results, windows, metrics):
    out = tmp_path_factory.mktemp("report")
    index = write_report(
        results,
        out,
        windows=windows,
        metrics=metrics,
        threshold=0.7,
        state_snapshot={"mean": 1.5, "n": 120},
        top_n=25,
    )
    return out, index


def test_writes_every_artifact(report):
    out, index = report
    assert index == out / "index.html"
    expected = {
        "index.html",
        "alerts.csv",
        "pages.csv",
        "top_anomalies.csv",
        "metrics.json",
        "state_snapshot.json",
        "forecast_vs_actual.png",
        "confusion_matrix.png",
        "roc_curve.png",
        "pr_curve.png",
        f"series/{series_file_stem(LABELED)}.png",
        f"series/{series_file_stem(UNLABELED)}.png",
        f"alerts/{series_file_stem(LABELED)}-1.png",  # the one alert, close up
    }
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert written == expected


def test_index_embeds_every_png_and_references_nothing_external(report):
    out, index = report
    page = index.read_text(encoding="utf-8")
    embedded = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    on_disk = {p.read_bytes() for p in out.rglob("*.png")}
    assert len(embedded) == len(on_disk) == 7
    assert {base64.b64decode(data) for data in embedded} == on_disk
    assert not re.search(r"https?:", page)
    assert not re.search(r"<(link|script)\b", page)
    assert all(src.startswith("data:") for src in re.findall(r'src="([^"]*)"', page))


def test_pngs_are_valid_and_sized(report):
    out, _ = report
    for path in (out / "series").glob("*.png"):
        pixels = mpimg.imread(path)
        assert pixels.shape[:2] == (600, 1400)
    for name in ("forecast_vs_actual", "confusion_matrix", "roc_curve", "pr_curve"):
        pixels = mpimg.imread(out / f"{name}.png")
        assert pixels.ndim == 3 and pixels.shape[0] >= 400 and pixels.shape[1] >= 400
        assert pixels[..., :3].std() > 0.01  # something was drawn


def test_top_anomalies_csv_is_sorted_and_sized(report, results):
    out, _ = report
    table = pd.read_csv(out / "top_anomalies.csv")
    assert list(table.columns) == [
        "series",
        "timestamp",
        "value",
        "anomaly_score",
        "alert",
        "expected",
    ]
    assert len(table) == 25
    assert table["anomaly_score"].is_monotonic_decreasing
    pooled = pd.concat(results.values())["anomaly_score"]
    assert table["anomaly_score"].iloc[0] == pytest.approx(pooled.max())
    assert table["anomaly_score"].iloc[-1] == pytest.approx(pooled.nlargest(25).iloc[-1])
    # the unlabeled series has no forecast, so its rows carry no expected value
    assert table.loc[table["series"] == UNLABELED, "expected"].isna().all()


def test_top_anomalies_returns_every_point_when_fewer_than_top_n(results):
    table = top_anomalies(results, top_n=10_000)
    assert len(table) == sum(len(frame) for frame in results.values())


def test_metrics_and_snapshot_are_saved(report, metrics):
    out, index = report
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == {
        "detector": "zscore",
        "nab_score": 42.5,
        "alerts_total": 7,
        "per_series": {LABELED: {"precision": 0.5, "recall": 1.0}},
    }
    assert json.loads((out / "state_snapshot.json").read_text()) == {"mean": 1.5, "n": 120}
    page = index.read_text(encoding="utf-8")
    assert "<td>detector</td><td>zscore</td>" in page
    assert '<td>alerts_total</td><td class="num">7</td>' in page
    assert "<h3>per_series</h3>" in page and f"<td>{LABELED}</td>" in page


def test_bytes_snapshot_is_saved_verbatim(tmp_path, results):
    blob = bytes(range(256))
    write_report({UNLABELED: results[UNLABELED]}, tmp_path, state_snapshot=blob, max_series=0)
    assert (tmp_path / "state_snapshot.bin").read_bytes() == blob
    assert not (tmp_path / "state_snapshot.json").exists()


def test_label_plots_skipped_without_labels(tmp_path, results):
    index = write_report({UNLABELED: results[UNLABELED]}, tmp_path, max_series=0)
    for name in ("confusion_matrix", "roc_curve", "pr_curve", "forecast_vs_actual"):
        assert not (tmp_path / f"{name}.png").exists()
    page = index.read_text(encoding="utf-8")
    assert "no series has labeled windows" in page
    assert "no series carries forecasts" in page


def test_label_plots_skipped_with_one_class(tmp_path, results):
    # Labeled, but no incident: every point is healthy.
    index = write_report(
        {UNLABELED: results[UNLABELED]}, tmp_path, windows={UNLABELED: []}, max_series=0
    )
    assert not (tmp_path / "roc_curve.png").exists()
    assert "only one class" in index.read_text(encoding="utf-8")


def test_series_plots_capped_most_anomalous_first(tmp_path, results):
    index = write_report(results, tmp_path, max_series=1)
    pngs = [p.name for p in (tmp_path / "series").glob("*.png")]
    assert pngs == [f"{series_file_stem(LABELED)}.png"]  # it holds the spike
    assert "Showing 1 of 2 series" in index.read_text(encoding="utf-8")


def test_names_with_the_same_stem_get_distinct_files(tmp_path, results):
    frame = results[UNLABELED]
    write_report({"a/b.csv": frame, "a__b": frame}, tmp_path)
    assert len(list((tmp_path / "series").glob("*.png"))) == 2


def test_confusion_matrix_cells_match_counts():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    fig = plots.plot_confusion_matrix(y_true, y_pred)
    cells = [t.get_text().split("\n")[0] for t in fig.axes[0].texts]
    counts = [((y_true == a) & (y_pred == b)).sum() for a in (0, 1) for b in (0, 1)]
    assert cells == [str(c) for c in counts]


def test_forecast_errors_ignore_rows_without_forecast():
    rng = np.random.default_rng(3)
    actual = rng.normal(size=200)
    expected = actual + rng.normal(size=200)
    expected[:50] = np.nan
    fig = plots.plot_forecast_vs_actual(expected, actual, max_points=30)
    residual = actual[50:] - expected[50:]
    mae, rmse = np.abs(residual).mean(), np.sqrt((residual**2).mean())
    assert f"MAE = {mae:.4g}, RMSE = {rmse:.4g} (n = 150)" in fig.get_suptitle()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=1, max_size=40))
def test_alert_runs_cover_exactly_the_alerting_samples(flags):
    ts = pd.Series(pd.date_range("2024-01-01", periods=len(flags), freq="min"))
    runs = plots.alert_runs(ts, pd.Series(flags))
    covered = [any(start <= t < end for start, end in runs) for t in ts]
    assert covered == [bool(f) for f in flags]


def test_naive_windows_are_read_in_the_series_timezone(tmp_path):
    local = pd.date_range("2024-01-01", periods=60, freq="min")
    frame = pd.DataFrame(
        {
            "timestamp": local.tz_localize("Europe/Paris"),
            "value": np.arange(60.0),
            "anomaly_score": np.linspace(0, 1, 60),
            "alert": (np.arange(60) >= 40).astype(int),
        }
    )
    start, end = "2024-01-01 00:30", "2024-01-01 00:45"
    inside = int(((local >= start) & (local <= end)).sum())
    index = write_report(
        {"paris": frame}, tmp_path, windows={"paris": [(start, end)]}, max_series=0
    )
    assert f"{inside} inside incident windows" in index.read_text(encoding="utf-8")
