"""Soak: memory per series over a long replay must stay flat once the detectors' windows are full.

The NAB demo series (or any folder of NAB-style CSVs) are replayed ``--loops`` times through the
live :class:`stream.runtime.pipeline.Pipeline`, each loop shifted in time to continue where the
previous
one ended, with ``--copies`` differently named copies of every series, so the run looks like
months of a few dozen series. Every ``--sample-every`` points it records the process's resident
memory (RSS), the Python heap traced by ``tracemalloc`` when ``--trace`` is given (slower), and
the mean size of a series' state snapshot (:meth:`Pipeline.snapshot_series`, what a checkpoint
writes per series).

Run: ``.venv/bin/python bench/soak.py [--loops 20] [--copies 10] [--data DIR]``. Prints a
markdown table and a summary to stdout, progress to stderr. The flat-memory claim is checked
(shorter) by ``tests/test_limits.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import heapq
import os
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detectors import DetectorStack  # noqa: E402
from stream.cli.options import DEMO_DATA  # noqa: E402
from stream.point import MetricPoint  # noqa: E402
from stream.runtime.pipeline import Pipeline  # noqa: E402
from stream.sources.csv_files import discover_csv_files, read_csv_file  # noqa: E402

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident memory of this process now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


Series = tuple[str, Sequence[float], Sequence[float]]


def load_series(data: Path) -> list[Series]:
    """``[(name, timestamps, values)]`` of every CSV under ``data``."""
    series = []
    for path, relpath in discover_csv_files(data):
        parsed = read_csv_file(path, relpath)
        series.append((relpath, parsed.timestamps.tolist(), parsed.values.tolist()))
    return series


def looped(series: Sequence[Series], loops: int, copies: int) -> Iterator[MetricPoint]:
    """Every series ``loops`` times end to end (each loop shifted by the series' span plus one
    step), in ``copies`` copies named ``<name>#<copy>``, merged by timestamp."""

    def one(name: str, timestamps: Sequence[float], values: Sequence[float]):
        step = timestamps[1] - timestamps[0] if len(timestamps) > 1 else 60.0
        span = timestamps[-1] - timestamps[0] + step
        for loop in range(loops):
            shift = loop * span
            for timestamp, value in zip(timestamps, values, strict=True):
                yield MetricPoint(name, timestamp + shift, value)

    streams = [
        one(f"{name}#{copy}", timestamps, values)
        for name, timestamps, values in series
        for copy in range(copies)
    ]
    return heapq.merge(*streams, key=lambda point: point.timestamp)


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    points: int
    seconds: float
    rss: int
    traced: int | None
    state_bytes: float  # mean snapshot size per series


def soak(
    points: Iterator[MetricPoint],
    pipeline: Pipeline,
    sample_every: int,
    trace: bool = False,
    on_sample: Callable[[Sample], None] | None = None,
) -> list[Sample]:
    """Push ``points`` through ``pipeline``; a :class:`Sample` every ``sample_every`` points
    (after a garbage collection, so that RSS reflects live data) and at the end."""
    samples = []
    started = time.perf_counter()
    if trace:
        tracemalloc.start()

    def sample(count: int) -> None:
        gc.collect()
        series = pipeline.series_ids()
        state = sum(len(pipeline.snapshot_series(name)) for name in series)
        taken = Sample(
            count,
            time.perf_counter() - started,
            rss_bytes(),
            tracemalloc.get_traced_memory()[0] if trace else None,
            state / max(len(series), 1),
        )
        samples.append(taken)
        if on_sample is not None:
            on_sample(taken)

    count = 0
    try:
        for point in points:
            pipeline.push(point)
            count += 1
            if count % sample_every == 0:
                sample(count)
        if count % sample_every:
            sample(count)
    finally:
        if trace:
            tracemalloc.stop()
    return samples


def growth_after(samples: Sequence[Sample], warm_up: int) -> tuple[int, int | None]:
    """RSS and traced-heap growth (bytes) from the first sample at or past ``warm_up`` points
    to the last sample."""
    after = [s for s in samples if s.points >= warm_up]
    if len(after) < 2:
        raise ValueError("no two samples after the warm-up: run longer or sample more often")
    first, last = after[0], after[-1]
    traced = last.traced - first.traced if first.traced is not None else None
    return last.rss - first.rss, traced


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEMO_DATA, help="folder of NAB-style CSVs")
    parser.add_argument("--loops", type=int, default=20, help="times each series is replayed")
    parser.add_argument("--copies", type=int, default=10, help="named copies of each series")
    parser.add_argument("--sample-every", type=int, default=20_000, metavar="POINTS")
    parser.add_argument(
        "--warm-up", type=int, default=3, metavar="LOOPS", help="loops before memory must be flat"
    )
    parser.add_argument("--trace", action="store_true", help="also trace the Python heap (slow)")
    args = parser.parse_args(argv)

    series = load_series(args.data)
    n_series = len(series) * args.copies
    total = sum(len(ts) for _, ts, _ in series) * args.copies * args.loops
    print(
        f"{n_series} series, {total:,} points ({args.loops} loops of {args.data})", file=sys.stderr
    )
    baseline = rss_bytes()
    DetectorStack().process(0.0, 0.0)  # compile the numba kernels before the baseline
    baseline = rss_bytes()

    def progress(sample: Sample) -> None:
        print(
            f"{sample.points:>10,} points  {sample.seconds:7.1f} s  "
            f"RSS {(sample.rss - baseline) / 1e6:7.1f} MB",
            file=sys.stderr,
            flush=True,
        )

    samples = soak(
        looped(series, args.loops, args.copies),
        Pipeline(DetectorStack, keep_duplicates=True),  # NAB repeats some timestamps
        args.sample_every,
        trace=args.trace,
        on_sample=progress,
    )
    per_series_points = sum(len(ts) for _, ts, _ in series) // len(series)
    print(
        "| points | points per series | seconds | RSS growth MB | RSS per series KB "
        "| state bytes per series |" + (" heap per series KB |" if args.trace else "")
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if args.trace else ""))
    for sample in samples:
        grown = sample.rss - baseline
        row = (
            f"| {sample.points:,} | {sample.points // n_series:,} | {sample.seconds:.0f} "
            f"| {grown / 1e6:.1f} | {grown / n_series / 1e3:.0f} | {sample.state_bytes:,.0f} |"
        )
        if sample.traced is not None:
            row += f" {sample.traced / n_series / 1e3:.1f} |"
        print(row)
    warm_up = args.warm_up * per_series_points * n_series
    if len([s for s in samples if s.points >= warm_up]) < 2:
        print("\nToo short to judge: give more --loops than --warm-up loops.")
        return 1
    rss_growth, traced_growth = growth_after(samples, warm_up)
    after = [s for s in samples if s.points >= warm_up]
    print(
        f"\nAfter the warm-up ({args.warm_up} loops, {after[0].points:,} points) to the end "
        f"({after[-1].points:,} points): RSS {rss_growth / 1e6:+.1f} MB "
        f"({rss_growth / n_series / 1e3:+.1f} KB per series)"
        + (
            f", traced heap {traced_growth / 1e3:+.1f} KB ({traced_growth / n_series:+.0f} bytes "
            "per series)"
            if traced_growth is not None
            else ""
        )
        + f"; {samples[-1].points / samples[-1].seconds:,.0f} points/s."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
