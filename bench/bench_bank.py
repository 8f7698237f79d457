"""Throughput of detectors.bank.StackBank against its readable reference (tests/reference), on the
same data.

Three workloads, in one process:

1. **One series.** The NAB sample (every CSV under ``--nab``, each file a slot, fed file after
   file), or a synthetic series of ``--points`` 5-minute points when the sample is missing:
   the reference ``DetectorStack.process`` point by point (on the first
   ``--reference-points`` points, it is slow) against one ``StackBank.process`` call, then the
   same call with ``threads=2`` (the files split into two groups scored at once). The script
   checks that all agree.
2. **Many series.** ``--series`` slots times ``--points-per-series`` points, interleaved round
   robin (every series gets its next point in turn), 50,000 points per ``process`` call (as a
   consumer scores a poll batch), on one thread and on two.
3. **Memory.** ``StackBank.memory_bytes_per_series()`` after each workload.

The two-thread rows need two free cores: on a machine busy with other work they measure the
contention instead.

Run: ``.venv/bin/python bench/bench_bank.py [--series 10000] [--points-per-series 100]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors.bank import StackBank  # noqa: E402
from tests.reference.stack import DetectorStack  # noqa: E402

NAB = Path("/work/shared/data/nab/data")


def nab_series(root: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    series = []
    for path in sorted(root.rglob("*.csv")):
        frame = pd.read_csv(path)
        # Epoch seconds whatever the datetime unit (pandas 3 parses to microseconds)
        since_epoch = pd.to_datetime(frame["timestamp"]) - pd.Timestamp(0)
        timestamps = (since_epoch / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)
        series.append((timestamps, frame["value"].to_numpy(dtype=np.float64)))
    return series


def synthetic_series(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    timestamps = 1.6e9 + 300.0 * np.arange(n)
    values = 50 + 20 * np.sin(2 * np.pi * timestamps / 86400) + rng.normal(0, 2, n)
    values[rng.integers(0, n, n // 1000)] += 60  # spikes
    return timestamps, values


def reference_rate(series, limit: int) -> tuple[float, list]:
    """Points per second of DetectorStack on the first ``limit`` points, and its results."""
    results, n, elapsed = [], 0, 0.0
    for timestamps, values in series:
        stack = DetectorStack()
        take = min(len(values), limit - n)
        start = time.perf_counter()
        points = zip(timestamps[:take].tolist(), values[:take].tolist(), strict=True)
        results.append([stack.process(t, v) for t, v in points])
        elapsed += time.perf_counter() - start
        n += take
        if n >= limit:
            break
    return n / elapsed, results


def bank_rate(series, threads: int = 1) -> tuple[float, StackBank, list]:
    bank = StackBank()
    slots = np.concatenate([np.full(len(v), bank.add_series()) for _, v in series])
    timestamps = np.concatenate([t for t, _ in series])
    values = np.concatenate([v for _, v in series])
    start = time.perf_counter()
    results = bank.process(slots, timestamps, values, threads)
    elapsed = time.perf_counter() - start
    bounds = np.cumsum([0] + [len(v) for _, v in series])
    per_series = [results.anomaly_score[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return len(values) / elapsed, bank, per_series


def check_agreement(reference, per_series) -> float:
    """The largest difference of anomaly scores over the points both ran."""
    worst = 0.0
    for assessed, scores in zip(reference, per_series, strict=False):
        expected = np.array([a.anomaly_score for a in assessed])
        worst = max(worst, float(np.max(np.abs(expected - scores[: len(expected)]), initial=0)))
    return worst


def round_robin_rate(
    n_series: int, points_per_series: int, threads: int = 1, batch: int = 50_000
) -> tuple[float, StackBank]:
    bank = StackBank()
    slots = np.array([bank.add_series() for _ in range(n_series)])
    rng = np.random.default_rng(1)
    steps = rng.choice([60.0, 300.0], n_series)  # minute and 5-minute series
    phase = rng.uniform(0, 86400, n_series)
    level = 10.0 ** rng.uniform(0, 9, n_series)
    k = np.arange(points_per_series)[:, None]
    timestamps = 1.6e9 + k * steps
    values = level * (1 + 0.2 * np.sin(2 * np.pi * (timestamps + phase) / 86400))
    values += level * rng.normal(0, 0.02, values.shape)
    all_slots, all_times, all_values = (
        np.tile(slots, points_per_series),
        timestamps.ravel(),
        values.ravel(),
    )
    start = time.perf_counter()
    for first in range(0, len(all_slots), batch):  # one call per poll batch, as a consumer
        rows = slice(first, first + batch)
        bank.process(all_slots[rows], all_times[rows], all_values[rows], threads)
    return n_series * points_per_series / (time.perf_counter() - start), bank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab", type=Path, default=NAB)
    parser.add_argument("--points", type=int, default=100_000, help="synthetic series length")
    parser.add_argument("--reference-points", type=int, default=20_000)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--points-per-series", type=int, default=100)
    args = parser.parse_args()

    # Compile (or load the cache) outside the timings
    warm = StackBank()
    warm.process(np.array([warm.add_series()]), np.array([0.0]), np.array([1.0]))

    if args.nab.is_dir():
        series = nab_series(args.nab)
        name = f"NAB sample ({len(series)} files as slots)"
    else:
        series = [synthetic_series(args.points)]
        name = f"synthetic series ({args.points} points)"
    n_points = sum(len(v) for _, v in series)
    reference, assessed = reference_rate(series, args.reference_points)
    bank, bank_state, per_series = bank_rate(series)
    print(f"{name}, {n_points} points")
    print(f"  reference DetectorStack.process  {reference:>6,.0f} points/s")
    print(f"  StackBank.process      {bank:>12,.0f} points/s  ({bank / reference:.1f}x)")
    print(f"  largest anomaly_score difference: {check_agreement(assessed, per_series):.2e}")
    print(f"  memory_bytes_per_series: {bank_state.memory_bytes_per_series():,}")
    threaded, _, per_series_2 = bank_rate(series, threads=2)
    print(f"  StackBank.process, 2 threads {threaded:>6,.0f} points/s  ({threaded / bank:.2f}x 1)")
    same = all(np.array_equal(a, b) for a, b in zip(per_series, per_series_2, strict=True))
    print(f"  the same scores as 1 thread: {same}")

    print(f"{args.series} series x {args.points_per_series} points, round robin, 50,000 per call")
    rate, many = round_robin_rate(args.series, args.points_per_series)
    print(f"  StackBank.process      {rate:>12,.0f} points/s  ({rate / reference:.1f}x)")
    print(f"  memory_bytes_per_series: {many.memory_bytes_per_series():,}")
    threaded, _ = round_robin_rate(args.series, args.points_per_series, threads=2)
    print(f"  StackBank.process, 2 threads {threaded:>6,.0f} points/s  ({threaded / rate:.2f}x 1)")


if __name__ == "__main__":
    main()
