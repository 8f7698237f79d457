"""Writes ``tests/data/inputs/``: small metric files as users have them (tests/test_inputs.py).

Run it again after changing it (``.venv/bin/python tests/data/make_inputs.py``); the files are
deterministic. Every series is a 5-minute (exports: 1-minute) sine with noise and one spike.

- ``history/``: the same series oldest first (``oldest_first.csv``), newest first (as CloudWatch
  exports it) and shuffled within each hour;
- ``epoch_ms/cpu.csv`` with epoch-millisecond timestamps and its labels;
- ``clock_step/``: a NAB-style corpus (data, labels, results of a detector in data order) whose
  clock steps back once by 30 minutes, like NAB's ``machine_temperature_system_failure.csv``;
- ``long/a.csv``, ``long/b.csv``: long format, both with a series ``api`` (different services);
- ``folder/``: one good file, ``UPPER.CSV``, and files that cannot be read or have no valid row
  (0 bytes, binary, Latin-1, UTF-16 with a byte-order mark, every value unparsable);
- ``layouts/``: semicolon and tab delimiters, and a file with its own column names;
- ``exports/``: a Prometheus ``query_range`` response and a CloudWatch ``get-metric-data``
  output (newest first).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent / "inputs"
N = 300
START = pd.Timestamp("2024-03-04 00:00:00")
SPIKE = 260


def series(n: int = N, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = 50 + 10 * np.sin(np.arange(n) * 2 * np.pi / 288) + rng.normal(0, 1, n)
    if n > SPIKE:
        values[SPIKE] += 40
    return np.round(values * scale, 3)


def stamps(n: int = N, freq: str = "5min") -> pd.DatetimeIndex:
    return pd.date_range(START, periods=n, freq=freq)


def text(index: pd.DatetimeIndex) -> list[str]:
    return list(index.strftime("%Y-%m-%d %H:%M:%S"))


def window(index: pd.DatetimeIndex, first: int, last: int) -> list[str]:
    return [
        index[first].strftime("%Y-%m-%d %H:%M:%S.%f"),
        index[last].strftime("%Y-%m-%d %H:%M:%S.%f"),
    ]


def write_history() -> None:
    folder = ROOT / "history"
    folder.mkdir(parents=True)
    frame = pd.DataFrame({"timestamp": text(stamps()), "value": series()})
    frame.to_csv(folder / "oldest_first.csv", index=False)
    frame.iloc[::-1].to_csv(folder / "newest_first.csv", index=False)
    hours = np.arange(N) // 12
    shuffled = np.random.default_rng(3).permutation(N)
    order = shuffled[np.argsort(hours[shuffled], kind="stable")]  # shuffled within each hour
    frame.iloc[order].to_csv(folder / "shuffled.csv", index=False)


def write_epoch_ms() -> None:
    folder = ROOT / "epoch_ms"
    (folder / "data").mkdir(parents=True)
    index = stamps()
    millis = (index - pd.Timestamp("1970-01-01")) // pd.Timedelta(milliseconds=1)
    pd.DataFrame({"timestamp": millis, "value": series(seed=1)}).to_csv(
        folder / "data" / "cpu.csv", index=False
    )
    labels = {"cpu.csv": [window(index, SPIKE - 5, SPIKE + 10)]}
    (folder / "windows.json").write_text(json.dumps(labels, indent=1) + "\n")


def write_clock_step() -> None:
    """Rows 0-199 every 5 minutes, then the clock goes back 30 minutes and runs on."""
    folder = ROOT / "clock_step"
    index = stamps(N + 6)
    rows = np.r_[np.arange(200), np.arange(194, N)]
    times = index[rows]
    values = series(len(rows), seed=2)
    for sub in ("data/machine", "results/machine", "labels"):
        (folder / sub).mkdir(parents=True)
    pd.DataFrame({"timestamp": text(times), "value": values}).to_csv(
        folder / "data" / "machine" / "temperature.csv", index=False
    )
    scores = np.zeros(len(rows))
    scores[[120, 203, 255, 262]] = [0.4, 0.7, 0.9, 0.6]  # one by the step, one in the window
    pd.DataFrame({"timestamp": text(times), "value": values, "anomaly_score": scores}).to_csv(
        folder / "results" / "machine" / "detector_temperature.csv", index=False
    )
    labels = {"machine/temperature.csv": [window(times, 250, 270)]}
    (folder / "labels" / "combined_windows.json").write_text(json.dumps(labels, indent=1) + "\n")


def write_long() -> None:
    folder = ROOT / "long"
    folder.mkdir(parents=True)
    for name, seed, scale in (("a", 4, 1.0), ("b", 5, 1000.0)):
        pd.DataFrame(
            {"series": "api", "timestamp": text(stamps()), "value": series(seed=seed, scale=scale)}
        ).to_csv(folder / f"{name}.csv", index=False)


def write_folder() -> None:
    folder = ROOT / "folder"
    folder.mkdir(parents=True)
    frame = pd.DataFrame({"timestamp": text(stamps()), "value": series(seed=6)})
    frame.to_csv(folder / "good.csv", index=False)
    frame.to_csv(folder / "UPPER.CSV", index=False)
    (folder / "empty.csv").write_bytes(b"")
    (folder / "binary.csv").write_bytes(bytes(range(256)) * 4)
    latin = "series,timestamp,value\n" + "".join(
        f"caf\xe9,{t},{v}\n" for t, v in zip(text(stamps(20)), series(20), strict=True)
    )
    (folder / "latin1.csv").write_bytes(latin.encode("latin-1"))
    (folder / "utf16.csv").write_bytes(frame.head(50).to_csv(index=False).encode("utf-16"))
    (folder / "all_rejected.csv").write_text(
        "timestamp,value\n" + "".join(f"{t},n/a\n" for t in text(stamps(10)))
    )


def write_layouts() -> None:
    folder = ROOT / "layouts"
    folder.mkdir(parents=True)
    frame = pd.DataFrame({"timestamp": text(stamps()), "value": series(seed=7)})
    frame.to_csv(folder / "semicolon.csv", sep=";", index=False)
    frame.to_csv(folder / "tab.tsv", sep="\t", index=False)
    mapped = pd.DataFrame(
        {
            "Time": np.tile(text(stamps(150)), 2),
            "host": np.repeat(["web-1", "web-2"], 150),
            "region": "eu",
            "CPU_pct": np.r_[series(150, seed=8), series(150, seed=9)],
        }
    )
    mapped.to_csv(folder / "mapped.csv", index=False)


def write_exports() -> None:
    folder = ROOT / "exports"
    folder.mkdir(parents=True)
    index = stamps(N, "1min")
    seconds = ((index - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)).tolist()
    result = [
        {
            "metric": {"__name__": "node_load1", "instance": f"web-{k}:9100", "job": "node"},
            "values": [[t, f"{v:g}"] for t, v in zip(seconds, series(seed=10 + k), strict=True)],
        }
        for k in (1, 2)
    ]
    result[0]["values"][5][1] = "NaN"  # a NaN sample, as Prometheus writes it
    document = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    (folder / "prometheus_query_range.json").write_text(json.dumps(document) + "\n")

    five = stamps()
    iso = [t.strftime("%Y-%m-%dT%H:%M:%S+00:00") for t in five][::-1]  # newest first
    results = [
        {
            "Id": identifier,
            "Label": label,
            "Timestamps": iso,
            "Values": series(seed=seed)[::-1].tolist(),
            "StatusCode": "Complete",
        }
        for identifier, label, seed in (
            ("cpu_i1", "CPUUtilization", 12),
            ("cpu_i2", "CPUUtilization", 13),
        )
    ]
    document = {"MetricDataResults": results, "Messages": []}
    (folder / "cloudwatch_get_metric_data.json").write_text(json.dumps(document) + "\n")


def main() -> None:
    if ROOT.exists():
        shutil.rmtree(ROOT)
    for write in (
        write_history,
        write_epoch_ms,
        write_clock_step,
        write_long,
        write_folder,
        write_layouts,
        write_exports,
    ):
        write()


if __name__ == "__main__":
    main()
