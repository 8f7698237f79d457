"""Speed and memory of the default detector stack, against a river-per-point reference pipeline.

On the NAB sample (or the bundled demo files when it is missing), in one process:

1. **Throughput.** ``lookout replay`` with the CLI's default stack (CSV in, result CSVs and
   alerts out; small files scored together on two threads, and again on one), the compiled
   :class:`~detectors.bank.StackBank` alone on preloaded values (one call per file on one
   thread, and every file in one call on two), and the readable reference implementation
   (``tests/reference/stack.py``) point by point, in points per second, with the peak RSS
   after the replay. The river reference runs on one thread. The issue's targets are printed
   beside their rows: replay at least 25x the river reference, the bank on two threads at
   least 40x.
2. **Reference.** The same values through a pipeline built from river per point:
   ``anomaly.HalfSpaceTrees`` on min-max scaled [value, diff, rolling mean, rolling std]
   (``utils.Rolling`` over ``stats.Mean`` / ``stats.Var``), and ``preprocessing.StandardScaler |
   linear_model.LinearRegression`` on 24 lags; the ratios divide each points/s by its points/s.
3. **State.** Each file's series state as checkpointed: ``snapshot(bank.export_slot(slot))``,
   raw and zlib-compressed as the state stores keep it.
4. **Memory by sampling interval.** ``StackBank.memory_bytes_per_series()`` of a bank of
   series sampled every 15 s, 1 min, 5 min and 1 h, once their season is allocated; the
   target is at most 16 KiB each.
5. **Cardinality.** For each number of series, in a fresh process: a bank fed ``--points``
   points per series (5-minute steps, daily cycle), round robin in batches of
   ``--batch`` points (as a consumer scores a poll): points/s, the growth of the resident set
   size (RSS) per series, ``StackBank.memory_bytes_per_series()`` and the peak RSS.

Run from the repository root::

    .venv/bin/python bench/bench_speed.py                # NAB sample; 1k and 100k series
    .venv/bin/python bench/bench_speed.py --quick        # a quarter of the files, 1k series
    .venv/bin/python bench/bench_speed.py --series 1000 100000 1000000
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import gc
import math
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors import DetectorStack  # noqa: E402
from detectors.bank import StackBank  # noqa: E402
from detectors.state import snapshot  # noqa: E402
from stream.cli.options import DEMO_DATA, STACK_OPTIONS, stack_factory  # noqa: E402
from stream.cli.settings import Settings  # noqa: E402
from stream.runtime.replay import replay  # noqa: E402
from stream.sources.csv_files import discover_csv_files, read_csv_file  # noqa: E402
from tests.reference.stack import DetectorStack as ReferenceStack  # noqa: E402

NAB_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab" / "data"
KIB = 1024
#: The issue's targets: speed as a multiple of the river reference, memory per series.
TARGETS = {"replay": 25.0, "bank_two_threads": 40.0}
MEMORY_TARGET = 16 * KIB
SAMPLING_INTERVALS = {"15 s": 15.0, "1 min": 60.0, "5 min": 300.0, "1 h": 3600.0}

Series = collections.namedtuple("Series", "name timestamps values")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cli_stack_factory() -> Callable[[], DetectorStack]:
    """The stack ``lookout replay`` builds when given no option."""
    return stack_factory(Settings({option.name: option.default for option in STACK_OPTIONS}))


def load_corpus(files: list[tuple[Path, str]]) -> list[Series]:
    corpus = []
    for path, relpath in files:
        parsed = read_csv_file(path, relpath)
        corpus.append(Series(relpath, parsed.timestamps.tolist(), parsed.values.tolist()))
    return corpus


# --- throughput ------------------------------------------------------------------------------


def measure_replay(files: list[tuple[Path, str]], factory, threads: int = 2) -> dict:
    """Replay ``files`` as the CLI does (on two scoring threads), into a temporary folder;
    points/s and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Only the listed files: link them under one root, keeping their relative paths.
        root = tmp / "in"
        for path, relpath in files:
            (root / relpath).parent.mkdir(parents=True, exist_ok=True)
            (root / relpath).symlink_to(path.resolve())
        summary = replay([root], tmp / "out", stack_factory=factory, threads=threads)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * KIB  # Linux: KiB
    return {"points": summary.points, "seconds": summary.seconds, "peak_rss": peak_rss}


def measure_bank_at_once(corpus: list[Series], factory) -> dict:
    """``StackBank.process`` alone, every file in one call on two threads (as replay scores
    small files)."""
    bank = StackBank(**factory().parameters())
    slots = np.concatenate([np.full(len(s.values), bank.add_series()) for s in corpus])
    timestamps = np.concatenate([np.array(s.timestamps) for s in corpus])
    values = np.concatenate([np.array(s.values) for s in corpus])
    started = time.perf_counter()
    bank.process(slots, timestamps, values, threads=2)
    return {"points": len(values), "seconds": time.perf_counter() - started}


def measure_stack(corpus: list[Series], factory) -> dict:
    """The readable reference implementation (``tests/reference``), point by point."""
    points = 0
    parameters = factory().parameters()
    started = time.perf_counter()
    for series in corpus:
        process = ReferenceStack(**parameters).process
        for timestamp, value in zip(series.timestamps, series.values, strict=True):
            process(timestamp, value)
        points += len(series.values)
    return {"points": points, "seconds": time.perf_counter() - started}


def measure_bank(corpus: list[Series], factory) -> tuple[dict, StackBank, list[int]]:
    """``StackBank.process`` alone, one call per file; returns the bank and its slots too."""
    bank = StackBank(**factory().parameters())
    arrays = [(np.array(s.timestamps), np.array(s.values)) for s in corpus]
    slots, points = [], 0
    started = time.perf_counter()
    for timestamps, values in arrays:
        slot = bank.add_series()
        bank.process(np.full(len(values), slot), timestamps, values)
        slots.append(slot)
        points += len(values)
    return {"points": points, "seconds": time.perf_counter() - started}, bank, slots


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


def state_sizes(bank: StackBank, slots: list[int]) -> dict[str, list[int]]:
    raw = [snapshot(bank.export_slot(slot)) for slot in slots]
    return {
        "snapshot": [len(data) for data in raw],
        "zlib": [len(zlib.compress(data, 1)) for data in raw],
    }


def memory_by_interval(factory, n_series: int = 100) -> dict[str, int]:
    """``memory_bytes_per_series()`` of ``n_series`` series sampled every interval of
    :data:`SAMPLING_INTERVALS`, fed enough points to learn their step and size their season."""
    sizes = {}
    for label, step in SAMPLING_INTERVALS.items():
        bank = StackBank(**factory().parameters())
        n_points = bank.n_lags + 2
        slots = np.array([bank.add_series() for _ in range(n_series)])
        point, series = np.divmod(np.arange(n_series * n_points), n_series)
        values = np.sin(point / 7.0) + series
        bank.process(slots[series], step * point.astype(float), values)
        sizes[label] = bank.memory_bytes_per_series()
    return sizes


def print_memory_table(sizes: dict[str, int]) -> None:
    print("| sampling interval | bank bytes per series | target |")
    print("|---|---:|---:|")
    for label, size in sizes.items():
        verdict = "met" if size <= MEMORY_TARGET else "NOT met"
        print(f"| {label} | {size / KIB:,.1f} KiB | <= 16 KiB: {verdict} |")


def synthetic_values(n_streams: int, n_points: int, step: float = 300.0) -> np.ndarray:
    """Series ``step`` seconds apart with a daily cycle, noise and a few spikes:
    (n_streams, n_points)."""
    t = np.arange(n_points) * step
    streams = np.empty((n_streams, n_points))
    for seed in range(n_streams):
        rng = np.random.default_rng(seed)
        level, amplitude = rng.uniform(10, 1000), rng.uniform(0.05, 0.5)
        values = level * (1 + amplitude * np.sin(2 * np.pi * t / 86400 + rng.uniform(0, 6)))
        values += rng.normal(0, level * 0.02, n_points)
        values[rng.integers(0, n_points, 3)] *= 3
        streams[seed] = values
    return streams


def current_rss() -> int:
    """Resident set size of this process now, in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def cardinality_in_fresh_process(n_series: int, n_points: int, batch: int, step: float) -> dict:
    """A bank of ``n_series`` series fed ``n_points`` each, ``step`` seconds apart, round robin,
    ``batch`` points per ``process`` call (run in a fresh process, so that memory freed by
    earlier stages cannot hide new allocations)."""
    bank = StackBank(**cli_stack_factory()().parameters())
    bank.process(np.array([bank.add_series()]), np.zeros(1), np.ones(1))  # load the kernel
    bank.remove_series(0)
    streams = synthetic_values(64, n_points, step)
    gc.collect()
    before = current_rss()
    slots = np.array([bank.add_series() for _ in range(n_series)])
    # Round robin: point i of every series, then point i + 1 of every series, ...; the
    # batches are cut as they are fed, so that the input does not weigh on the memory.
    seconds = 0.0
    for first in range(0, n_series * n_points, batch):
        flat = np.arange(first, min(first + batch, n_series * n_points))
        point, series = np.divmod(flat, n_series)
        batch_slots, times = slots[series], step * point
        values = streams[series % len(streams), point]
        started = time.perf_counter()
        bank.process(batch_slots, times, values)
        seconds += time.perf_counter() - started
    gc.collect()
    return {
        "series": n_series,
        "points": n_series * n_points,
        "seconds": seconds,
        "rss_per_series": (current_rss() - before) / n_series,
        "bank_per_series": bank.memory_bytes_per_series(),
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * KIB,
    }


def cardinality(sizes: list[int], n_points: int, batch: int, step: float) -> list[dict]:
    spawn = multiprocessing.get_context("spawn")
    rows = []
    for n in sizes:
        log(f"cardinality: {n:,} series x {n_points} points, {step:g} s apart")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
            job = pool.submit(cardinality_in_fresh_process, n, n_points, batch, step)
            rows.append(job.result())
    return rows


# --- report ----------------------------------------------------------------------------------


def rate(measured: dict) -> float:
    return measured["points"] / measured["seconds"]


def print_speed_table(
    measured_rows: dict[str, dict], reference: dict, targets: dict[str, float]
) -> None:
    ref = rate(reference)
    print("| pipeline | points | seconds | points/s | vs river reference | target |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, measured in (*measured_rows.items(), ("river per point (reference)", reference)):
        ratio = rate(measured) / ref
        target = targets.get(name)
        verdict = f">= {target:g}x: {'met' if ratio >= target else 'NOT met'}" if target else ""
        print(
            f"| {name} | {measured['points']:,} | {measured['seconds']:.2f} | "
            f"{rate(measured):,.0f} | {ratio:.2f}x | {verdict} |"
        )
    replayed = next(iter(measured_rows.values()))
    print(f"\nPeak RSS after the replay: {replayed['peak_rss'] / KIB**2:,.0f} MiB (whole process)")


def print_state_table(sizes: dict[str, list[int]]) -> None:
    print("| series state after a full file | min | median | max |")
    print("|---|---:|---:|---:|")
    for name, label in (("snapshot", "snapshot bytes"), ("zlib", "stored (zlib) bytes")):
        values = sizes[name]
        print(
            f"| {label} | {min(values) / KIB:,.1f} KiB | "
            f"{statistics.median(values) / KIB:,.1f} KiB | {max(values) / KIB:,.1f} KiB |"
        )


def print_cardinality_table(rows: list[dict]) -> None:
    print(
        "| series | points | points/s | RSS growth per series | bank bytes per series | peak RSS |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['series']:,} | {row['points']:,} | {rate(row):,.0f} | "
            f"{row['rss_per_series'] / KIB:,.1f} KiB | {row['bank_per_series'] / KIB:,.1f} KiB | "
            f"{row['peak_rss'] / KIB**3:,.2f} GiB |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, default=NAB_DATA, help="CSV folder")
    parser.add_argument("--quick", action="store_true", help="a quarter of the files, 1k series")
    parser.add_argument("--series", type=int, nargs="+", help="series counts (cardinality table)")
    parser.add_argument("--points", type=int, default=100, help="points per synthetic series")
    parser.add_argument("--batch", type=int, default=50_000, help="points per process() call")
    parser.add_argument(
        "--step",
        type=float,
        default=300.0,
        help="seconds between the points of "
        "a synthetic series (sets its season's length: a day of steps)",
    )
    parser.add_argument(
        "--cardinality-only",
        action="store_true",
        help="only the cardinality table (for the larger series counts)",
    )
    args = parser.parse_args(argv)
    sizes = args.series or ([1000] if args.quick else [1000, 100_000])
    if args.cardinality_only:
        print_cardinality(cardinality(sorted(set(sizes)), args.points, args.batch, args.step), args)
        return 0

    path = args.path if args.path.exists() else DEMO_DATA
    files = discover_csv_files(path)
    if args.quick:
        files = files[::4]
    factory = cli_stack_factory()

    log(f"{len(files)} files under {path}")
    # Load (or compile) the kernels first: a one-off cost, not per point.
    measure_replay(files[:1], factory)
    replayed = measure_replay(files, factory)
    log(f"replay: {rate(replayed):,.0f} points/s")
    replayed_one = measure_replay(files, factory, threads=1)
    log(f"replay, one thread: {rate(replayed_one):,.0f} points/s")
    corpus = load_corpus(files)
    bank_only, bank, slots = measure_bank(corpus, factory)
    log(f"bank alone: {rate(bank_only):,.0f} points/s")
    bank_at_once = measure_bank_at_once(corpus, factory)
    log(f"bank alone, one call, two threads: {rate(bank_at_once):,.0f} points/s")
    stack_only = measure_stack(corpus, factory)
    log(f"readable reference: {rate(stack_only):,.0f} points/s")
    reference = measure_reference(corpus)
    log(f"river reference: {rate(reference):,.0f} points/s")
    sizes_after_file = state_sizes(bank, slots)
    del bank
    rows = cardinality(sorted(set(sizes)), args.points, args.batch, args.step)

    print(f"## Speed: {len(files)} files, {replayed['points']:,} points ({path})\n")
    print_speed_table(
        {
            "`lookout replay` (CSV in, results out; two scoring threads)": replayed,
            "`lookout replay` on one scoring thread": replayed_one,
            "`StackBank.process` alone (compiled), one call per file, one thread": bank_only,
            "`StackBank.process` alone, all files in one call, two threads": bank_at_once,
            "readable reference (`tests/reference`), point by point": stack_only,
        },
        reference,
        targets={
            "`lookout replay` (CSV in, results out; two scoring threads)": TARGETS["replay"],
            "`StackBank.process` alone, all files in one call, two threads": TARGETS[
                "bank_two_threads"
            ],
        },
    )
    print("\n## Memory per series by sampling interval\n")
    print_memory_table(memory_by_interval(factory))
    print(f"\n## State per series ({len(sizes_after_file['snapshot'])} files)\n")
    print_state_table(sizes_after_file)
    print()
    print_cardinality(rows, args)
    return 0


def print_cardinality(rows: list[dict], args: argparse.Namespace) -> None:
    print(
        f"## Cardinality: {args.points} points per series, {args.step:g} s apart, round robin, "
        f"{args.batch:,} points per call\n"
    )
    print_cardinality_table(rows)


if __name__ == "__main__":
    sys.exit(main())
