"""Data as users have it (``tests/data/inputs``, written by ``tests/data/make_inputs.py``):
unsorted and newest-first files, series of the same name in two files, folders with bad files,
other delimiters and column names, epoch milliseconds, Prometheus and CloudWatch exports, and a
clock that steps back, through ``lookout replay``, ``evaluate`` and ``report``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.nab_corpus import CostProfile, load_windows, read_timeseries
from sim.nab_scoring import nab_scores, probation_length, scaled_sigmoid
from stream.cli import main
from stream.sources.exports import series_from_query_range

INPUTS = Path(__file__).resolve().parent / "data" / "inputs"


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def replay(capsys, *args) -> tuple[int, str, str]:
    return run(capsys, "replay", *args, "--no-progress")


def rejected(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]


# --- a file is a history ------------------------------------------------------------------------


def test_newest_first_and_shuffled_files_are_scored_as_their_history(capsys, tmp_path):
    code, out, err = replay(capsys, INPUTS / "history", "--out", tmp_path)
    assert code == 0, err
    assert "sorted    2 file(s) by time" in out
    assert "newest_first.csv" in out and "shuffled.csv" in out
    assert "rejected  0" in out
    oldest = pd.read_csv(tmp_path / "oldest_first.csv")
    for name in ("newest_first.csv", "shuffled.csv"):
        # Results are the history in time order, scored as the sorted file is.
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name), oldest)


def test_strict_order_rejects_rows_earlier_than_their_series(capsys, tmp_path):
    code, out, err = replay(
        capsys, INPUTS / "history" / "newest_first.csv", "--out", tmp_path, "--strict-order"
    )
    assert code == 0, err
    assert "sorted" not in out
    assert len(pd.read_csv(tmp_path / "newest_first.csv")) == 1
    assert {row["reason"] for row in rejected(tmp_path)} == {"out_of_order"}
    assert len(rejected(tmp_path)) == 299


def test_a_file_whose_every_row_is_rejected_is_an_error(capsys, tmp_path):
    path = INPUTS / "folder" / "all_rejected.csv"
    code, out, err = replay(capsys, path, "--out", tmp_path / "a")
    assert code == 1
    assert "error     all_rejected.csv: every row was rejected" in out
    assert "all_rejected.csv" in err
    code, out, _ = replay(capsys, path, "--out", tmp_path / "b", "--allow-bad-files")
    assert code == 0 and "every row was rejected" in out


# --- one bad file never stops a folder ----------------------------------------------------------


def test_one_bad_file_never_stops_a_folder(capsys, tmp_path):
    code, out, err = replay(capsys, INPUTS / "folder", "--out", tmp_path)
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith("error")]
    assert any(line.startswith("error     empty.csv: skipped: empty file") for line in errors)
    assert any("binary.csv: skipped: binary data" in line for line in errors)
    assert any("latin1.csv: skipped: not UTF-8" in line and "--encoding" in line for line in errors)
    assert any("all_rejected.csv: every row was rejected" in line for line in errors)
    assert len(errors) == 4
    good = pd.read_csv(tmp_path / "good.csv")
    assert len(good) == 300
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "UPPER.csv"), good)  # .CSV is a CSV
    utf16 = pd.read_csv(tmp_path / "utf16.csv")  # a byte-order mark says UTF-16
    assert utf16["value"].tolist() == good["value"].head(50).tolist()

    code, _, err = replay(
        capsys, INPUTS / "folder", "--out", tmp_path / "f", "--on-invalid", "fail"
    )
    assert code == 2 and "Traceback" not in err


def test_encoding_reads_a_latin1_file(capsys, tmp_path):
    code, _, err = replay(
        capsys, INPUTS / "folder" / "latin1.csv", "--out", tmp_path, "--encoding", "latin-1"
    )
    assert code == 0, err
    assert set(pd.read_csv(tmp_path / "latin1.csv")["series"]) == {"café"}


def test_out_inside_the_input_folder_is_never_read_back(capsys, tmp_path):
    folder = tmp_path / "history"
    shutil.copytree(INPUTS / "history", folder)
    for _ in range(2):
        code, out, err = replay(capsys, folder, "--out", folder / "results")
        assert code == 0, err
        assert "files     3" in out
    assert not (folder / "results" / "results").exists()


# --- series of the same name in two files -------------------------------------------------------


def alert_series(out: Path) -> set[str]:
    lines = (out / "alerts.jsonl").read_text().splitlines()
    return {json.loads(line)["series"] for line in lines}


def test_long_format_series_are_scoped_to_their_file_unless_joined(capsys, tmp_path):
    code, out, err = replay(capsys, INPUTS / "long", "--out", tmp_path / "scoped")
    assert code == 0, err
    assert "series    2" in out and "rejected  0" in out
    assert alert_series(tmp_path / "scoped") == {"a/api", "b/api"}
    # Each file's "api" scores as if it were alone: no leak from the other file's service.
    code, _, _ = replay(capsys, INPUTS / "long" / "b.csv", "--out", tmp_path / "alone")
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "scoped" / "b.csv"), pd.read_csv(tmp_path / "alone" / "b.csv")
    )
    assert set(pd.read_csv(tmp_path / "scoped" / "b.csv")["series"]) == {"api"}  # as written

    code, out, err = replay(capsys, INPUTS / "long", "--out", tmp_path / "joined", "--join-series")
    assert code == 0, err
    assert "series    1" in out
    assert alert_series(tmp_path / "joined") <= {"api"}


# --- other layouts -----------------------------------------------------------------------------


def test_semicolon_and_tab_delimiters_are_sniffed(capsys, tmp_path):
    code, _, err = replay(capsys, INPUTS / "layouts" / "semicolon.csv", "--out", tmp_path)
    assert code == 0, err
    code, _, err = replay(capsys, INPUTS / "layouts" / "tab.tsv", "--out", tmp_path)
    assert code == 0, err
    semicolon, tab = pd.read_csv(tmp_path / "semicolon.csv"), pd.read_csv(tmp_path / "tab.csv")
    assert len(semicolon) == 300
    pd.testing.assert_frame_equal(semicolon, tab)


def test_column_mapping_flags_and_the_error_naming_the_header(capsys, tmp_path):
    mapped = INPUTS / "layouts" / "mapped.csv"
    code, out, _ = replay(capsys, mapped, "--out", tmp_path / "unmapped")
    assert code == 1
    assert "no column 'timestamp', 'value' in the header 'Time,host,region,CPU_pct'" in out
    code, out, err = replay(
        capsys,
        mapped,
        "--out",
        tmp_path / "mapped",
        "--timestamp-column",
        "time",
        "--value-column",
        "CPU_PCT",
        "--series-column",
        "host",
        "--label-columns",
        "region",
    )
    assert code == 0, err
    result = pd.read_csv(tmp_path / "mapped" / "mapped.csv")
    assert set(result["series"]) == {'web-1{region="eu"}', 'web-2{region="eu"}'}
    assert "series    2" in out and len(result) == 300


# --- epoch milliseconds, end to end -------------------------------------------------------------


def test_epoch_milliseconds_replay_evaluate_and_report(capsys, tmp_path):
    data, windows = INPUTS / "epoch_ms" / "data", INPUTS / "epoch_ms" / "windows.json"
    code, out, err = replay(capsys, data, "--out", tmp_path / "results")
    assert code == 0, err
    assert "rejected  0" in out
    result = pd.read_csv(tmp_path / "results" / "cpu.csv")
    written = pd.read_csv(data / "cpu.csv")
    assert result["timestamp"].tolist() == written["timestamp"].tolist()  # as written: ms
    assert read_timeseries(data / "cpu.csv")["timestamp"].iloc[0] == pd.Timestamp("2024-03-04")
    args = (tmp_path / "results", "--data", data, "--windows", windows)
    code, out, err = run(capsys, "evaluate", *args, "--json")
    assert code == 0, err
    assert json.loads(out)["nab"]["standard"]["score"] is not None
    code, out, err = run(capsys, "report", *args, "--out", tmp_path / "report")
    assert code == 0, err
    assert (tmp_path / "report" / "index.html").is_file()


# --- Prometheus and CloudWatch exports ----------------------------------------------------------

PROMETHEUS_SERIES = (
    "prometheus_query_range/node_load1,instance=web-1:9100,job=node.csv",
    "prometheus_query_range/node_load1,instance=web-2:9100,job=node.csv",
)
CLOUDWATCH_SERIES = (
    "cloudwatch_get_metric_data/CPUUtilization,id=cpu_i1.csv",
    "cloudwatch_get_metric_data/CPUUtilization,id=cpu_i2.csv",
)


def test_exports_replay_evaluate_and_report(capsys, tmp_path):
    exports = INPUTS / "exports"
    # --paging-interval 0: the 1-minute exports page per point, so that an alert shows
    code, out, err = replay(
        capsys, exports, "--out", tmp_path / "results", "--paging-interval", "0"
    )
    assert code == 0, err
    assert "files     4" in out and "series    4" in out
    assert "sorted    2 file(s)" in out  # CloudWatch writes the newest point first
    for relpath in PROMETHEUS_SERIES + CLOUDWATCH_SERIES:
        result = pd.read_csv(tmp_path / "results" / relpath)
        assert result["timestamp"].is_monotonic_increasing
        assert len(result) in (299, 300)
    first = pd.read_csv(tmp_path / "results" / PROMETHEUS_SERIES[0])
    assert first["timestamp"].iloc[0] == "2024-03-04 00:00:00"
    # The NaN sample Prometheus wrote is a rejected row with the series it belongs to.
    (row,) = rejected(tmp_path / "results")
    assert row["reason"] == "non_finite_value" and row["line"] == 6
    assert 'node_load1{instance="web-1:9100",job="node"}' in row["raw"]
    assert any(
        s.startswith("prometheus_query_range/node_load1{")
        for s in alert_series(tmp_path / "results")
    )

    # Labels for the export's series, keyed like any result file.
    windows = tmp_path / "windows.json"
    spike = ["2024-03-04 04:15:00.000000", "2024-03-04 04:25:00.000000"]
    cloud_spike = ["2024-03-04 21:30:00.000000", "2024-03-04 22:10:00.000000"]
    windows.write_text(
        json.dumps(
            {
                **{p: [spike] for p in PROMETHEUS_SERIES},
                **{p: [cloud_spike] for p in CLOUDWATCH_SERIES},
            }
        )
    )
    args = (tmp_path / "results", "--data", exports, "--windows", windows)
    code, out, err = run(capsys, "evaluate", *args, "--json")
    assert code == 0, err
    assert json.loads(out)["classification"]["alert"]["n_windows"] == 4
    code, out, err = run(capsys, "report", *args, "--out", tmp_path / "report")
    assert code == 0, err
    assert (tmp_path / "report" / "index.html").is_file()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"status": "error", "errorType": "bad_data", "error": "parse error"}, "parse error"),
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, "instant query"),
    ],
)
def test_query_range_errors_say_what_prometheus_answered(document, message):
    with pytest.raises(ValueError, match=message):
        list(series_from_query_range(document))


def test_json_that_is_no_export_is_reported_and_skipped(capsys, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "other.json").write_text('{"hello": 1}')
    code, out, _ = replay(capsys, tmp_path / "in", "--out", tmp_path / "out")
    assert code == 1 and "neither a Prometheus query_range response" in out


# --- a clock that steps back --------------------------------------------------------------------


def nab_sweep_raw_score(timestamps, scores, windows, profile: CostProfile, threshold: float):
    """NAB v1.1's ``Sweeper.calcSweepScore`` and its score at one threshold, row by row as NAB
    writes it (the oracle)."""
    timestamps, windows = list(timestamps), list(windows)
    max_tp = scaled_sigmoid(-1.0)
    probation = probation_length(len(timestamps))
    current = name = right = width = prev_right = prev_width = None
    points = []
    for i, (stamp, score) in enumerate(zip(timestamps, scores, strict=True)):
        if windows and stamp == windows[0][0]:
            current = windows.pop(0)
            name = str(current[0])
            right = timestamps.index(current[1])
            width = float(right - timestamps.index(current[0]) + 1)
        if current is not None:
            weighted = scaled_sigmoid(-(right - i + 1) / width) * profile.tp_weight / max_tp
        else:
            position = 3.0 if prev_right is None else abs(prev_right - i) / (prev_width - 1)
            weighted = scaled_sigmoid(position) * profile.fp_weight
        label = (name if current is not None else None) if i >= probation else "probationary"
        points.append((score, weighted, label))
        if current is not None and stamp == current[1]:
            prev_right, prev_width, current, name = i, width, None, None
    parts = {"fp": 0.0}
    for _, _, label in points:
        if label not in ("probationary", None):
            parts[label] = -profile.fn_weight
    for score, weighted, label in points:
        if label == "probationary" or score < threshold:
            continue
        if label is None:
            parts["fp"] += weighted
        else:
            parts[label] = max(parts[label], weighted)
    return sum(parts.values())


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.65, 0.8, 0.95])
def test_a_clock_step_is_scored_as_nab_scores_it(threshold):
    root = INPUTS / "clock_step"
    results = read_timeseries(root / "results" / "machine" / "detector_temperature.csv")
    assert (results["timestamp"].diff().dt.total_seconds() < 0).sum() == 1
    windows = load_windows(root / "labels" / "combined_windows.json")
    key = "machine/temperature.csv"
    profile = CostProfile(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)
    ours = nab_scores({key: results}, windows, {"standard": profile}, threshold=threshold)
    expected = nab_sweep_raw_score(
        results["timestamp"], results["anomaly_score"], windows[key], profile, threshold
    )
    assert ours["standard"]["raw_score"] == pytest.approx(expected, abs=1e-12)


def test_evaluate_scores_a_corpus_whose_clock_steps_back(capsys, tmp_path):
    root = INPUTS / "clock_step"
    code, out, err = run(
        capsys,
        "evaluate",
        root / "results",
        "--data",
        root / "data",
        "--threshold",
        "0.5",
        "--json",
    )
    assert code == 0, err
    assert "must not decrease" not in err
    standard = json.loads(out)["nab"]["standard"]
    windows = load_windows(root / "labels" / "combined_windows.json")
    results = read_timeseries(root / "results" / "machine" / "detector_temperature.csv")
    raw = nab_sweep_raw_score(
        results["timestamp"],
        results["anomaly_score"],
        windows["machine/temperature.csv"],
        CostProfile(),
        0.5,
    )
    assert standard["raw_score"] == pytest.approx(raw)
    # Our own replay of that file: sorted into time order, then evaluated.
    code, out, err = replay(capsys, root / "data", "--out", tmp_path / "ours")
    assert code == 0 and "sorted    1 file(s)" in out, err
    code, out, err = run(capsys, "evaluate", tmp_path / "ours", "--data", root / "data", "--json")
    assert code == 0, err
    assert np.isfinite(json.loads(out)["nab"]["standard"]["score"])


def test_pages_of_an_export_saved_as_an_array_are_one_export(capsys, tmp_path):
    document = json.loads((INPUTS / "exports" / "cloudwatch_get_metric_data.json").read_text())
    first, second = json.loads(json.dumps(document)), json.loads(json.dumps(document))
    for page, part in ((first, slice(0, 150)), (second, slice(150, None))):
        for result in page["MetricDataResults"]:
            result["Timestamps"], result["Values"] = (
                result["Timestamps"][part],
                result["Values"][part],
            )
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cpu.json").write_text(json.dumps([first, second]))
    code, out, err = replay(capsys, tmp_path / "in", "--out", tmp_path / "paged")
    assert code == 0, err
    code, out, err = replay(
        capsys, INPUTS / "exports" / "cloudwatch_get_metric_data.json", "--out", tmp_path / "whole"
    )
    assert code == 0, err
    for name in ("CPUUtilization,id=cpu_i1.csv", "CPUUtilization,id=cpu_i2.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "paged" / "cpu" / name),
            pd.read_csv(tmp_path / "whole" / "cloudwatch_get_metric_data" / name),
        )


def test_a_resumable_replay_of_sorted_files_and_exports_writes_the_same(tmp_path):
    from stream.runtime.replay import replay as run_replay

    paths = [INPUTS / "history", INPUTS / "exports", INPUTS / "long"]
    plain = run_replay(paths, tmp_path / "plain")
    resumed = run_replay(paths, tmp_path / "resumed", resume=tmp_path / "state.db")
    assert plain.sorted_files == resumed.sorted_files and plain.moved_rows > 0
    written = sorted(p.relative_to(tmp_path / "plain") for p in (tmp_path / "plain").rglob("*.*"))
    assert len(written) == 11  # 9 result files, alerts.jsonl, rejected.jsonl
    for relpath in written:
        assert (tmp_path / "plain" / relpath).read_bytes() == (
            tmp_path / "resumed" / relpath
        ).read_bytes(), relpath
    again = run_replay(paths, tmp_path / "resumed", resume=tmp_path / "state.db")
    assert again.resumed_files == plain.files


def test_produce_reads_exports_with_their_series_names():
    import argparse

    from stream.cli.live import _load_series

    args = argparse.Namespace(scenario=None, paths=[str(INPUTS / "exports")])
    series, skipped = _load_series(args)
    names = sorted(name for name, _, _ in series)
    assert names == [
        'CPUUtilization{id="cpu_i1"}',
        'CPUUtilization{id="cpu_i2"}',
        'node_load1{instance="web-1:9100",job="node"}',
        'node_load1{instance="web-2:9100",job="node"}',
    ]
    assert skipped == 1  # the NaN sample


def test_semicolon_files_with_a_decimal_comma_and_late_latin1_bytes(capsys, tmp_path):
    rows = [f"2024-03-04 00:{m:02d}:00;{m},5" for m in range(0, 60, 5)]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "excel.csv").write_text("Timestamp;Value\n" + "\n".join(rows) + "\n")
    late = "series,timestamp,value\n" + "x,2024-03-04 00:00:00,1\n" * 5000 + "caf\xe9,2024,1\n"
    (tmp_path / "in" / "late.csv").write_bytes(late.encode("latin-1"))
    code, out, _ = replay(capsys, tmp_path / "in", "--out", tmp_path / "out")
    assert pd.read_csv(tmp_path / "out" / "excel.csv")["value"].tolist()[:3] == [0.5, 5.5, 10.5]
    assert code == 1 and "late.csv: skipped: not utf-8" in out and "--encoding" in out
