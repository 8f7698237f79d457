"""Writes the golden outputs of the detector core: what the default stack returns for every point
of the bundled NAB demo, of the synthetic scenarios and of the NAB sample in ``../shared``.

Run it only where the outputs are *meant* to change (an algorithm change, stated in the commit
with its NAB before/after); ``tests/test_golden.py`` checks that anything else (a restructure, a
new state layout) leaves every output as it was.

What is stored, in this folder:

``hashes.json``
    For every series of the three bundled NAB files (``sim/data/demo``), the synthetic
    scenarios at seed 0 (``sim.scenarios``, 120,000 points) and the 34 NAB files of
    ``../shared`` (all too big to keep whole): a SHA-256 per output of its float64 bytes, plus
    a readable summary (points, alerts opened and where, the highest score and where, the sum of
    the scores) that localises a difference.
``demo.npz``
    Every output of every point of the bundled demo (float64, exact), so that a failing test
    can say at which point and in which output a change shows first.

Each series is one slot of :class:`~detectors.bank.StackBank` with default parameters, fed its
file's points in file order: exactly what ``lookout replay`` writes in its result columns
(``anomaly_score``, ``alert``, ``zscore``, ``hst_score``, ``forecast_score``, ``expected``,
``lower``, ``upper``, ``onset_score``), plus the alert transitions and the detectors that agreed.

Usage: ``python tests/data/golden/make_golden.py [--nab ../shared/data/nab/data]``.
Written first at commit 7dc766e (series state format 5) and reproduced bit for bit by the
restructure into parts (87776dd, b5262b9); written again for the forecaster's recursive least
squares (7652aca: expected values moved by about 1e-6, alert openings unchanged on every NAB
file and on all but one synthetic series); and again for the series' origin and unit
(:mod:`detectors.parts.origin`: every part sees the values centred on the first one, in units
of the first change; the forecaster's ridge then means the same at any level).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from detectors.bank import StackBank  # noqa: E402
from sim.scenarios import SCENARIOS, generate  # noqa: E402

HERE = Path(__file__).resolve().parent
DEMO = ROOT / "sim" / "data" / "demo" / "data"
NAB = ROOT.parent / "shared" / "data" / "nab" / "data"
#: The outputs kept, as named in BankResults.
OUTPUTS = (
    "anomaly_score",
    "onset_score",
    "alert",
    "transition",
    "zscore",
    "hst_score",
    "forecast_score",
    "expected",
    "lower",
    "upper",
    "agreeing",
)


def seconds(timestamps) -> np.ndarray:
    """Epoch seconds of timestamps as the CSV reader parses them (UTC, naive taken as UTC)."""
    parsed = pd.to_datetime(pd.Series(timestamps), utc=True, format="ISO8601")
    return parsed.dt.as_unit("ns").astype("int64").to_numpy() / 1e9  # pandas 3 parses in us


def csv_series(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``relative path -> (timestamps, values)`` of every CSV under ``folder``, sorted by path."""
    series = {}
    for path in sorted(folder.rglob("*.csv")):
        frame = pd.read_csv(path)
        key = path.relative_to(folder).as_posix()
        series[key] = (seconds(frame["timestamp"]), frame["value"].to_numpy(np.float64))
    return series


def synthetic_series() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``scenario/name -> (timestamps, values)`` of every scenario at seed 0."""
    series = {}
    for scenario in sorted(SCENARIOS):
        for labeled in generate(scenario, seed=0):
            frame = labeled.frame
            key = f"{scenario}/{labeled.name}"
            series[key] = (seconds(frame["timestamp"]), frame["value"].to_numpy(np.float64))
    return series


def score(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
    """The outputs of one default bank slot per series, fed in order."""
    bank = StackBank()
    outputs = {}
    for key, (timestamps, values) in series.items():
        slot = bank.add_series()
        results = bank.process(np.full(len(values), slot), timestamps, values)
        outputs[key] = {name: np.asarray(getattr(results, name)) for name in OUTPUTS}
    return outputs


def as_float(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=np.float64)


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(as_float(array)).tobytes()).hexdigest()[:32]


def summary(outputs: dict[str, np.ndarray]) -> dict:
    """What a reader can compare by eye: where alerts opened and the highest score."""
    opened = np.flatnonzero(outputs["transition"] == 1)
    scores = outputs["anomaly_score"]
    return {
        "points": len(scores),
        "alerts_opened_at": opened.tolist(),
        "highest_score": float(np.max(scores)) if len(scores) else 0.0,
        "highest_score_at": int(np.argmax(scores)) if len(scores) else -1,
        "score_sum": float(np.sum(scores)),
    }


def write_arrays(outputs: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    arrays = {
        f"{key}::{name}": as_float(array)
        for key, fields in outputs.items()
        for name, array in fields.items()
    }
    np.savez_compressed(path, **arrays)


def record(outputs: dict[str, dict[str, np.ndarray]]) -> dict:
    """Hashes and summary of each series' outputs."""
    return {
        key: {"sha256": {name: digest(a) for name, a in fields.items()}, **summary(fields)}
        for key, fields in outputs.items()
    }


def bundled_series() -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The series CI always has: ``{"demo": ..., "synthetic": ...}``."""
    return {
        "demo": {f"demo/{k}": v for k, v in csv_series(DEMO).items()},
        "synthetic": {f"synthetic/{k}": v for k, v in synthetic_series().items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab", type=Path, default=NAB, help="the NAB sample's data folder")
    args = parser.parse_args()
    if not args.nab.is_dir():
        sys.exit(f"{args.nab} not found: the fixture needs the NAB sample")
    groups = bundled_series()
    groups["nab"] = {f"nab/{k}": v for k, v in csv_series(args.nab).items()}
    outputs = {group: score(series) for group, series in groups.items()}
    write_arrays(outputs["demo"], HERE / "demo.npz")
    hashes = {group: record(scored) for group, scored in outputs.items()}
    (HERE / "hashes.json").write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
