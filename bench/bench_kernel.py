"""Per-point cost of the compiled detector core alone: ``StackBank.process`` on the NAB sample,
preloaded, on one thread.

Every CSV under ``--nab`` is a slot, fed file after file, in one ``process`` call (as
``bench_bank.py``'s first workload), ``--repeats`` times on a fresh bank. The cost is the
calling thread's CPU time per point (``time.thread_time``): on a shared machine the wall clock
also counts the time other processes held the core. Prints the fastest and the median repeat.

For an A/B of two versions of the kernel, run this script from each checkout's root (each
with its own venv, or ``PYTHONPATH`` at its root) alternately in one session and compare the
ratios, not figures from separate sessions; ``--save`` writes the scores, to check that both
versions give the same bits.

Run: ``.venv/bin/python bench/bench_kernel.py [--repeats 4] [--save scores.npy]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_bank import NAB, nab_series  # noqa: E402
from detectors.bank import StackBank  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab", type=Path, default=NAB)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--save", type=Path, help="write anomaly, onset scores and expectations")
    args = parser.parse_args()
    series = nab_series(args.nab)
    timestamps = np.concatenate([t for t, _ in series])
    values = np.concatenate([v for _, v in series])

    warm = StackBank()  # compile (or load the cache) outside the timings
    warm.process(np.array([warm.add_series()]), np.array([0.0]), np.array([1.0]))
    costs = []
    for _ in range(args.repeats):
        bank = StackBank()
        slots = np.concatenate([np.full(len(v), bank.add_series()) for _, v in series])
        start = time.thread_time()
        results = bank.process(slots, timestamps, values, 1)
        costs.append((time.thread_time() - start) / len(values))
    costs.sort()
    print(
        f"{len(series)} files, {len(values)} points: {costs[0] * 1e9:,.0f} ns/point fastest, "
        f"{costs[len(costs) // 2] * 1e9:,.0f} median of {len(costs)}"
    )
    if args.save:
        np.save(args.save, np.stack([results.anomaly_score, results.onset_score, results.expected]))


if __name__ == "__main__":
    main()
