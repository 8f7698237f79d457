"""``lookout replay``: output format, bad-input policy, formats and the CLI's help."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stream.cli import build_parser, main
from stream.cli.options import DEMO_DATA
from stream.sources.csv_files import ReadOptions

FIRST_COLUMNS = ["timestamp", "value", "anomaly_score", "alert"]


def lookout(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stream.cli", *args], capture_output=True, text=True, timeout=300
    )


def write_series(path: Path, n: int = 400, start: str = "2024-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=n, freq="5min").strftime("%Y-%m-%d %H:%M:%S"),
            "value": np.round(50 + 5 * np.sin(np.arange(n) / 20) + rng.normal(0, 1, n), 3),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return frame


def test_replay_of_the_bundled_demo_writes_one_row_per_input_row(tmp_path):
    result = lookout("replay", "--out", str(tmp_path), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "points" in result.stdout and "points/s" in result.stdout
    inputs = sorted(DEMO_DATA.rglob("*.csv"))
    assert len(inputs) == 3
    for source in inputs:
        relpath = source.relative_to(DEMO_DATA)
        data = pd.read_csv(source, dtype=str)
        out = pd.read_csv(tmp_path / relpath, dtype={"timestamp": str})
        assert list(out.columns[:4]) == FIRST_COLUMNS
        assert out["timestamp"].tolist() == data["timestamp"].tolist()
        np.testing.assert_allclose(out["value"], data["value"].astype(float))
        assert out["anomaly_score"].between(0, 1).all()
        assert set(out["alert"].unique()) <= {0, 1}
    events = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert {e["status"] for e in events} <= {"firing", "resolved"}
    for event in events:
        assert event["series"] and event["alert_id"] and event["start"]


def test_series_sampled_faster_than_a_minute_are_named_in_the_summary(tmp_path):
    five_minutes = write_series(tmp_path / "in" / "slow.csv")
    fast = five_minutes.assign(
        timestamp=pd.date_range("2024-01-01", periods=len(five_minutes), freq="15s").strftime(
            "%Y-%m-%d %H:%M:%S"
        )
    )
    fast.to_csv(tmp_path / "in" / "fast.csv", index=False)
    result = lookout(
        "replay", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--no-progress"
    )
    assert result.returncode == 0, result.stderr
    assert "warning   1 series sampled faster than every 60 s" in result.stdout
    (tmp_path / "in" / "fast.csv").unlink()
    result = lookout(
        "replay", str(tmp_path / "in"), "--out", str(tmp_path / "again"), "--no-progress"
    )
    assert "warning" not in result.stdout


def test_folder_keeps_relative_paths_and_gz_is_read(tmp_path):
    data = tmp_path / "data"
    write_series(data / "team_a" / "cpu.csv")
    frame = write_series(tmp_path / "plain.csv")
    (data / "team_b").mkdir()
    with gzip.open(data / "team_b" / "mem.csv.gz", "wt") as f:
        frame.to_csv(f, index=False)
    out = tmp_path / "out"
    assert main(["replay", str(data), "--out", str(out), "--no-progress"]) == 0
    assert (out / "team_a" / "cpu.csv").exists()
    assert len(pd.read_csv(out / "team_b" / "mem.csv")) == len(frame)
    single = tmp_path / "single"
    assert main(["replay", str(tmp_path / "plain.csv"), "--out", str(single), "--no-progress"]) == 0
    assert (single / "plain.csv").exists()


def test_long_format_puts_series_first_and_scores_each_series_separately(tmp_path):
    a = write_series(tmp_path / "a.csv")
    b = write_series(tmp_path / "b.csv")
    b["value"] = b["value"] * 1000
    long = pd.concat([a.assign(series="svc.a"), b.assign(series="svc.b")])
    long = long.sort_values("timestamp", kind="stable")[["series", "timestamp", "value"]]
    (tmp_path / "long").mkdir()
    long.to_csv(tmp_path / "long" / "metrics.csv", index=False)
    out = tmp_path / "out"
    assert main(["replay", str(tmp_path / "long"), "--out", str(out), "--no-progress"]) == 0
    result = pd.read_csv(out / "metrics.csv")
    assert list(result.columns[:5]) == ["series", *FIRST_COLUMNS]
    assert result["series"].tolist() == long["series"].tolist()
    # Same per-series scores as replaying each series alone: series do not leak into each other.
    alone = tmp_path / "alone"
    assert main(["replay", str(tmp_path / "a.csv"), "--out", str(alone), "--no-progress"]) == 0
    np.testing.assert_array_equal(
        result[result["series"] == "svc.a"]["anomaly_score"].to_numpy(),
        pd.read_csv(alone / "a.csv")["anomaly_score"].to_numpy(),
    )


BAD_ROWS = """timestamp,value
2024-01-01 00:00:00,1.0
2024-01-01 00:05:00,2.0
not-a-time,3.0
2024-01-01 00:10:00,abc
2024-01-01 00:15:00,nan
2024-01-01 00:20:00,inf
2024-01-01 00:25:00,
2024-01-01 00:30:00,4.0
2024-01-01 00:30:00,4.5
2024-01-01 00:20:00,5.0
2024-01-01 00:35:00,6.0
"""


def test_bad_rows_are_skipped_counted_and_logged(tmp_path):
    (tmp_path / "bad.csv").write_text(BAD_ROWS)
    result = lookout(
        "replay",
        str(tmp_path / "bad.csv"),
        "--out",
        str(tmp_path / "out"),
        "--duplicates",
        "reject",
        "--strict-order",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = pd.read_csv(tmp_path / "out" / "bad.csv")
    assert out["value"].tolist() == [1.0, 2.0, 4.0, 6.0]
    rejected = [
        json.loads(x) for x in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()
    ]
    reasons = {r["line"]: r["reason"] for r in rejected}
    assert reasons == {
        4: "bad_timestamp",
        5: "bad_value",
        6: "non_finite_value",
        7: "non_finite_value",
        8: "missing_value",
        10: "duplicate_timestamp",
        11: "out_of_order",
    }
    assert "rejected  7" in result.stdout


def test_duplicates_are_kept_in_file_order_by_default(tmp_path):
    (tmp_path / "bad.csv").write_text(BAD_ROWS)
    assert (
        main(["replay", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o"), "--no-progress"])
        == 0
    )
    # The row of 00:20 written after 00:30 is sorted into place (the file is a history).
    assert pd.read_csv(tmp_path / "o" / "bad.csv")["value"].tolist() == [1, 2, 5, 4, 4.5, 6]


def test_fail_policy_names_file_and_line(tmp_path):
    (tmp_path / "bad.csv").write_text(BAD_ROWS)
    result = lookout(
        "replay",
        str(tmp_path / "bad.csv"),
        "--out",
        str(tmp_path / "out"),
        "--on-invalid",
        "fail",
        "--no-progress",
    )
    assert result.returncode == 2
    assert "bad.csv:4: bad_timestamp" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "content", ["", "a,b\n1,2\n", "\x00\x01binary"], ids=["empty", "wrong-columns", "binary"]
)
def test_unreadable_files_give_a_clear_error(tmp_path, content):
    (tmp_path / "x.csv").write_text(content)
    result = lookout("replay", str(tmp_path / "x.csv"), "--out", str(tmp_path / "out"))
    assert result.returncode == 1  # reported and skipped
    assert "x.csv" in result.stderr and "Traceback" not in result.stderr
    failed = lookout(
        "replay", str(tmp_path / "x.csv"), "--out", str(tmp_path / "o2"), "--on-invalid", "fail"
    )
    assert failed.returncode == 2 and "x.csv" in failed.stderr


def test_missing_path_is_a_clear_error(tmp_path):
    result = lookout("replay", str(tmp_path / "nope"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "no such file" in result.stderr


def test_every_subcommand_has_complete_help():
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices
    assert "replay" in subcommands
    for name, sub in subcommands.items():
        text = sub.format_help()
        assert sub.description, f"{name} has no description"
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"{name} --{action.dest} has no help"
        assert "usage:" in text


@pytest.mark.parametrize("group_rows, chunk_rows", [(8192, 20_000), (1000, 1700)])
def test_small_files_scored_together_write_what_one_at_a_time_writes(
    tmp_path, monkeypatch, group_rows, chunk_rows
):
    """Without checkpoints, small files are scored in one batch (two threads share their
    series), each batch's kernel overlapping the writing of the one before (also in chunks of
    a longer file: ``chunk_rows``); results, alerts and rejects are byte for byte those of a
    replay that scores one file at a time (as a checkpointing replay does), also where files
    share a series."""
    from stream.runtime import replay as replay_module
    from stream.runtime.pipeline import Pipeline

    monkeypatch.setattr(replay_module, "GROUP_ROWS", group_rows)
    monkeypatch.setattr(replay_module, "CHECKPOINT_ROWS", chunk_rows)

    data = tmp_path / "in"
    for k in range(6):
        write_series(data / f"nab/file{k}.csv", n=1500 + 100 * k, start=f"2024-01-0{k + 1}")
    (data / "nab" / "bad.csv").write_text(BAD_ROWS)
    for part, start in (("a", 0), ("b", 600)):  # one series split over two long-format files
        frame = write_series(tmp_path / "tmp.csv", n=600)
        frame["timestamp"] = pd.date_range("2024-02-01", periods=1200, freq="5min")[
            start : start + 600
        ].strftime("%Y-%m-%d %H:%M:%S")
        frame.insert(0, "series", "api")
        frame.to_csv(data / f"long_{part}.csv", index=False)

    calls = []
    admit = Pipeline.admit_arrays
    monkeypatch.setattr(
        Pipeline, "admit_arrays", lambda self, *a, **k: calls.append(1) or admit(self, *a, **k)
    )
    joined = ReadOptions(join_series=True)
    together = replay_module.replay([data], tmp_path / "together", options=joined)
    assert len(calls) < together.files or chunk_rows < 2000  # small files together
    one_at_a_time = replay_module.replay(
        [data], tmp_path / "one_at_a_time", resume=tmp_path / "state.db", options=joined
    )
    assert together.files == one_at_a_time.files == 9
    assert together.points == one_at_a_time.points and together.rejected
    assert together.rejected == one_at_a_time.rejected
    written = sorted(
        p.relative_to(tmp_path / "together") for p in (tmp_path / "together").rglob("*")
    )
    assert written == sorted(
        p.relative_to(tmp_path / "one_at_a_time") for p in (tmp_path / "one_at_a_time").rglob("*")
    )
    for relpath in written:
        if (tmp_path / "together" / relpath).is_file():
            assert (tmp_path / "together" / relpath).read_bytes() == (
                tmp_path / "one_at_a_time" / relpath
            ).read_bytes(), relpath
    assert (tmp_path / "together" / "alerts.jsonl").stat().st_size > 0
