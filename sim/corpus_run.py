"""Running a detector stack over a labelled corpus in memory (benchmarks, tuning, ablations).

Each file is its own series, so files are scored in parallel processes; the per-point path is
the same compiled stack (:meth:`~detectors.DetectorStack.process_many`) that replay and the Kafka
runner use.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from detectors import DetectorStack

__all__ = ["score_frame", "score_files"]


def score_frame(frame: pd.DataFrame, stack: DetectorStack) -> pd.DataFrame:
    """Score a ``timestamp, value`` frame in order, in one call; returns timestamp, value,
    anomaly_score, alert, expected, lower, upper, onset_score.

    Examples
    --------
    >>> frame = pd.DataFrame({"timestamp": pd.date_range("2024", periods=50, freq="min"),
    ...                       "value": np.arange(50.0)})
    >>> scored = score_frame(frame, DetectorStack(grace_period=10))
    >>> list(scored.columns[:4]), len(scored)
    (['timestamp', 'value', 'anomaly_score', 'alert'], 50)
    """
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    seconds = ((stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy()
    results = stack.process_many(seconds, frame["value"].to_numpy(dtype=np.float64))
    return pd.DataFrame(
        {
            "timestamp": frame["timestamp"].to_numpy(),
            "value": frame["value"].to_numpy(),
            "anomaly_score": results.anomaly_score,
            "alert": results.alert.astype(int),
            "expected": results.expected,
            "lower": results.lower,
            "upper": results.upper,
            "onset_score": results.onset_score,
        }
    )


def _score_path(args: tuple[Path, Callable[[], DetectorStack]]) -> pd.DataFrame:
    path, factory = args
    frame = pd.read_csv(path, parse_dates=["timestamp"])
    return score_frame(frame, factory())


def score_files(
    paths: Mapping[str, Path],
    stack_factory: Callable[[], DetectorStack] = DetectorStack,
    jobs: int = 2,
) -> dict[str, pd.DataFrame]:
    """Score every ``relpath -> CSV path`` with a fresh stack each, ``jobs`` processes at once."""
    items = sorted(paths.items(), key=lambda kv: -Path(kv[1]).stat().st_size)
    if jobs <= 1:
        return {rel: _score_path((path, stack_factory)) for rel, path in items}
    with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
        frames = pool.map(_score_path, [(path, stack_factory) for _, path in items])
        return dict(zip([rel for rel, _ in items], frames, strict=True))
