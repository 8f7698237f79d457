"""Speed and memory of the default detector stack, against a river-per-point reference pipeline.

On the NAB sample (or the bundled demo files when it is missing), in one process:

1. **Throughput.** ``lookout replay`` with the CLI's default stack (CSV in, result CSVs and
   alerts out) and the stack alone on preloaded values, in points per second, with the peak
   RSS of the process after the replay.
2. **Reference.** The same values through a pipeline built from river per point:
   ``anomaly.HalfSpaceTrees`` on min-max scaled [value, diff, rolling mean, rolling std]
   (``utils.Rolling`` over ``stats.Mean`` / ``stats.Var``), and ``preprocessing.StandardScaler |
   linear_model.LinearRegression`` on 24 lags; the ratios divide our points/s by its points/s.
3. **State.** ``len(detectors.state.snapshot(stack))`` and the pickled size after each full file.
4. **Memory per series.** The bytes held by N stacks divided by N, each measurement in a fresh
   process: stacks fed a short synthetic stream each (5-minute points with a daily cycle, so
   every stack is past warm-up), counted by the growth of the resident set size (RSS), up to
   ``--process-limit`` series; and stacks restored from snapshots of fed stacks, as a runner
   restores checkpoints, counted by RSS and by tracemalloc (which slows feeding tenfold).

Run from the repository root::

    .venv/bin/python bench/bench_speed.py                # the NAB sample, 1k and 10k series
    .venv/bin/python bench/bench_speed.py --quick        # a quarter of the files, 200 series
    .venv/bin/python bench/bench_speed.py --huge         # also 100k series (a few GiB, minutes)
    .venv/bin/python bench/bench_speed.py PATH --series 1000 5000
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import gc
import math
import multiprocessing
import pickle
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors import DetectorStack  # noqa: E402
from detectors.state import restore, snapshot  # noqa: E402
from stream.cli import build_parser  # noqa: E402
from stream.cli_options import DEMO_DATA, stack_factory_from_args  # noqa: E402
from stream.csv_source import discover_csv_files, read_csv_file  # noqa: E402
from stream.replay import replay  # noqa: E402

NAB_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab" / "data"
KIB = 1024

Series = collections.namedtuple("Series", "name timestamps values")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cli_stack_factory() -> Callable[[], DetectorStack]:
    """The stack ``lookout replay`` builds when given no option."""
    return stack_factory_from_args(build_parser().parse_args(["replay"]))


def load_corpus(files: list[tuple[Path, str]]) -> list[Series]:
    corpus = []
    for path, relpath in files:
        parsed = read_csv_file(path, relpath)
        corpus.append(Series(relpath, parsed.timestamps.tolist(), parsed.values.tolist()))
    return corpus


# --- throughput ------------------------------------------------------------------------------


def measure_replay(files: list[tuple[Path, str]], factory) -> dict:
    """Replay ``files`` as the CLI does, into a temporary folder; points/s and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Only the listed files: link them under one root, keeping their relative paths.
        root = tmp / "in"
        for path, relpath in files:
            (root / relpath).parent.mkdir(parents=True, exist_ok=True)
            (root / relpath).symlink_to(path.resolve())
        summary = replay([root], tmp / "out", stack_factory=factory)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * KIB  # Linux: KiB
    return {"points": summary.points, "seconds": summary.seconds, "peak_rss": peak_rss}


def measure_stack(corpus: list[Series], factory) -> tuple[dict, list[DetectorStack]]:
    """``DetectorStack.process`` alone on preloaded values; returns the fed stacks too."""
    stacks, points = [], 0
    started = time.perf_counter()
    for series in corpus:
        stack = factory()
        process = stack.process
        for timestamp, value in zip(series.timestamps, series.values, strict=True):
            process(timestamp, value)
        stacks.append(stack)
        points += len(series.values)
    return {"points": points, "seconds": time.perf_counter() - started}, stacks


class RiverReference:
    """The pipeline the issue compares against, built from river's estimators per point.

    Half-Space-Trees on min-max scaled [value, diff, rolling mean, rolling std] (score, then
    learn), and a standard-scaled linear regression on the last ``n_lags`` values (predict,
    then learn). Parameters match the default stack's (10 trees of height 8, window 250).
    """

    def __init__(self, n_lags: int = 24, window_size: int = 12, seed: int = 42):
        from river import anomaly, linear_model, preprocessing, stats, utils

        self.hst = anomaly.HalfSpaceTrees(n_trees=10, height=8, window_size=250, seed=seed)
        self.min_max = preprocessing.MinMaxScaler()
        self.mean = utils.Rolling(stats.Mean, window_size=window_size)
        self.var = utils.Rolling(stats.Var, window_size=window_size)
        self.regression = preprocessing.StandardScaler() | linear_model.LinearRegression()
        self.lags: collections.deque[float] = collections.deque(maxlen=n_lags)
        self.last = math.nan

    def process(self, value: float) -> tuple[float, float]:
        diff = 0.0 if math.isnan(self.last) else value - self.last
        self.last = value
        self.mean.update(value)
        self.var.update(value)
        shape = {
            "value": value,
            "diff": diff,
            "mean": self.mean.get(),
            "std": math.sqrt(max(self.var.get(), 0.0)),
        }
        self.min_max.learn_one(shape)
        scaled = self.min_max.transform_one(shape)
        score = self.hst.score_one(scaled)
        self.hst.learn_one(scaled)
        expected = math.nan
        if len(self.lags) == self.lags.maxlen:
            lags = dict(enumerate(self.lags))
            expected = self.regression.predict_one(lags)
            self.regression.learn_one(lags, value)
        self.lags.append(value)
        return score, expected


def measure_reference(corpus: list[Series]) -> dict:
    import warnings

    warnings.simplefilter("ignore")  # river's overflow warnings on unscaled byte counts
    points = 0
    started = time.perf_counter()
    for series in corpus:
        process = RiverReference().process
        for value in series.values:
            process(value)
        points += len(series.values)
    return {"points": points, "seconds": time.perf_counter() - started}


# --- state and memory ------------------------------------------------------------------------


def state_sizes(stacks: list[DetectorStack]) -> dict[str, list[int]]:
    return {
        "snapshot": [len(snapshot(stack)) for stack in stacks],
        "pickle": [len(pickle.dumps(stack)) for stack in stacks],
    }


def synthetic_streams(n_streams: int, n_points: int, step: float = 300.0) -> list[list[float]]:
    """Short 5-minute series with a daily cycle, noise and a few spikes, one per seed."""
    streams = []
    t = np.arange(n_points) * step
    for seed in range(n_streams):
        rng = np.random.default_rng(seed)
        level, amplitude = rng.uniform(10, 1000), rng.uniform(0.05, 0.5)
        values = level * (1 + amplitude * np.sin(2 * np.pi * t / 86400 + rng.uniform(0, 6)))
        values += rng.normal(0, level * 0.02, n_points)
        values[rng.integers(0, n_points, 3)] *= 3
        streams.append(values.tolist())
    return streams


def fed_stacks(n_series: int, streams, factory, step: float = 300.0) -> list[DetectorStack]:
    stacks = []
    timestamps = [step * i for i in range(len(streams[0]))]
    for i in range(n_series):
        stack = factory()
        for timestamp, value in zip(timestamps, streams[i % len(streams)], strict=True):
            stack.process(timestamp, value)
        stacks.append(stack)
    return stacks


def current_rss() -> int:
    """Resident set size of this process now, in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def memory_in_fresh_process(n_series: int, method: str, tracer: str, n_points: int) -> float:
    """Bytes per series held by ``n_series`` stacks, built by feeding ``n_points`` points
    (``method="fed"``) or by restoring snapshots of fed stacks (``"restored"``), counted by
    ``tracer`` (``"tracemalloc"`` or ``"rss"``). Run in a fresh process, so that memory freed
    by earlier stages cannot hide new allocations."""
    factory = cli_stack_factory()
    streams = synthetic_streams(32, n_points)
    templates = [snapshot(stack) for stack in fed_stacks(len(streams), streams, factory)]
    if method == "fed":

        def build():
            return fed_stacks(n_series, streams, factory)
    else:

        def build():
            return [restore(templates[i % len(templates)]) for i in range(n_series)]

    gc.collect()
    if tracer == "tracemalloc":
        tracemalloc.start()
        stacks = build()
        gc.collect()
        total = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    else:
        before = current_rss()
        stacks = build()
        gc.collect()
        total = current_rss() - before
    del stacks
    return total / n_series


def memory_per_series(sizes, n_points, process_limit) -> list[dict]:
    """Bytes per series at each size, each measured in a fresh process. Stacks fed point by
    point (up to ``process_limit`` series: tracemalloc slows feeding tenfold, so RSS only), and
    stacks restored from snapshots of fed stacks, as a runner restores checkpoints."""
    spawn = multiprocessing.get_context("spawn")
    rows = []
    for n in sizes:
        plans = [("restored", "tracemalloc"), ("restored", "rss")]
        if n <= process_limit:
            plans.insert(0, ("fed", "rss"))
        row = {"series": n}
        for method, tracer in plans:
            log(f"memory: {n:,} series, {method}, {tracer}")
            started = time.perf_counter()
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
                row[method, tracer] = pool.submit(
                    memory_in_fresh_process, n, method, tracer, n_points
                ).result()
            row["seconds"] = row.get("seconds", 0.0) + time.perf_counter() - started
        rows.append(row)
    return rows


# --- report ----------------------------------------------------------------------------------


def rate(measured: dict) -> float:
    return measured["points"] / measured["seconds"]


def print_speed_table(replayed: dict, stack_only: dict, reference: dict) -> None:
    ref = rate(reference)
    print("| pipeline | points | seconds | points/s | vs river reference |")
    print("|---|---:|---:|---:|---:|")
    for name, measured in (
        ("`lookout replay` (CSV in, results out)", replayed),
        ("`DetectorStack.process` alone", stack_only),
        ("river per point (reference)", reference),
    ):
        print(
            f"| {name} | {measured['points']:,} | {measured['seconds']:.1f} | "
            f"{rate(measured):,.0f} | {rate(measured) / ref:.2f}x |"
        )
    print(f"\nPeak RSS after the replay: {replayed['peak_rss'] / KIB**2:,.0f} MiB (whole process)")


def print_state_table(sizes: dict[str, list[int]]) -> None:
    print("| state after a full file | min | median | max |")
    print("|---|---:|---:|---:|")
    for name, label in (("snapshot", "`snapshot(stack)` bytes"), ("pickle", "pickled bytes")):
        values = sizes[name]
        print(
            f"| {label} | {min(values) / KIB:,.1f} KiB | "
            f"{statistics.median(values) / KIB:,.1f} KiB | {max(values) / KIB:,.1f} KiB |"
        )


def print_memory_table(rows: list[dict], n_points: int) -> None:
    columns = (
        ("fed", "rss", f"fed {n_points} points, RSS"),
        ("restored", "rss", "restored, RSS"),
        ("restored", "tracemalloc", "restored, tracemalloc"),
    )
    print("| series | " + " | ".join(label for *_, label in columns) + " | seconds |")
    print("|---:|" + "---:|" * len(columns) + "---:|")
    for row in rows:
        cells = [
            f"{row[method, tracer] / KIB:,.1f} KiB" if (method, tracer) in row else "-"
            for method, tracer, _ in columns
        ]
        print(f"| {row['series']:,} | " + " | ".join(cells) + f" | {row['seconds']:.0f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, default=NAB_DATA, help="CSV folder")
    parser.add_argument("--quick", action="store_true", help="a quarter of the files, 200 series")
    parser.add_argument("--series", type=int, nargs="+", help="series counts for the memory table")
    parser.add_argument("--huge", action="store_true", help="add 100k series to the memory table")
    parser.add_argument("--points", type=int, default=400, help="points per synthetic series")
    parser.add_argument(
        "--process-limit", type=int, default=1000, help="most series fed point by point"
    )
    args = parser.parse_args(argv)

    path = args.path if args.path.exists() else DEMO_DATA
    files = discover_csv_files(path)
    if args.quick:
        files = files[::4]
    sizes = args.series or ([200] if args.quick else [1000, 10_000])
    if args.huge:
        sizes = [*sizes, 100_000]
    factory = cli_stack_factory()

    log(f"{len(files)} files under {path}")
    # Compile (or load) the Half-Space-Trees kernel first: a one-off cost, not per point.
    factory().process(0.0, 1.0)
    replayed = measure_replay(files, factory)
    log(f"replay: {rate(replayed):,.0f} points/s")
    corpus = load_corpus(files)
    stack_only, stacks = measure_stack(corpus, factory)
    log(f"stack alone: {rate(stack_only):,.0f} points/s")
    reference = measure_reference(corpus)
    log(f"river reference: {rate(reference):,.0f} points/s")
    sizes_after_file = state_sizes(stacks)
    del stacks
    memory = memory_per_series(sorted(set(sizes)), args.points, args.process_limit)

    print(f"## Speed: {len(files)} files, {replayed['points']:,} points ({path})\n")
    print_speed_table(replayed, stack_only, reference)
    print(f"\n## State per series ({len(sizes_after_file['snapshot'])} files)\n")
    print_state_table(sizes_after_file)
    print(f"\n## Memory per series (bytes/series; {args.points} points each, 5-minute steps)\n")
    print_memory_table(memory, args.points)
    return 0


if __name__ == "__main__":
    sys.exit(main())
