"""Throughput and pickled size of tests.reference.hst.HalfSpaceTrees against river's HalfSpaceTrees.

Both score then learn the same random stream (uniform, 4 features) in the same run; the script
checks that their scores are identical, prints points per second and the speed-up, then the
pickled size of each detector per forest size (river needs ~15 s to grow 25 trees of height 15).

Run: ``.venv/bin/python bench/bench_hst.py [--points 20000] [--sizes 10x8 25x15]``
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np
from river import anomaly

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reference.hst import HalfSpaceTrees  # noqa: E402

# Sorted, so that array columns follow the order the dict-fed models give their features
FEATURES = ("cpu", "errors", "latency", "saturation")


def timed(run, points):
    start = time.perf_counter()
    scores = run(points)
    return scores, len(points) / (time.perf_counter() - start)


def river_dicts(points):
    model = anomaly.HalfSpaceTrees(seed=42)
    scores = []
    for x in points:
        scores.append(model.score_one(x))
        model.learn_one(x)
    return scores


def ours_dicts(points):
    model = HalfSpaceTrees(seed=42)
    scores = []
    for x in points:
        scores.append(model.score_one(x))
        model.learn_one(x)
    return scores


def ours_arrays(rows):
    model = HalfSpaceTrees(seed=42)
    return [model.score_then_learn(v) for v in rows]


def pickled_sizes(n_trees, height, n_points=500):
    rows = np.random.default_rng(1).uniform(size=(n_points, len(FEATURES)))
    sizes = {}
    for name, cls in (("river", anomaly.HalfSpaceTrees), ("ours", HalfSpaceTrees)):
        model = cls(n_trees=n_trees, height=height, seed=42)
        for row in rows:
            model.learn_one(dict(zip(FEATURES, row.tolist(), strict=True)))
        sizes[name] = len(pickle.dumps(model))
    return sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--sizes", nargs="*", default=["10x8", "25x15"], help="n_treesxheight")
    args = parser.parse_args()

    rows = np.random.default_rng(0).uniform(size=(args.points, len(FEATURES)))
    dicts = [dict(zip(FEATURES, row.tolist(), strict=True)) for row in rows]

    # Load (or compile, on a first run) the numba kernel outside the timings
    start = time.perf_counter()
    HalfSpaceTrees(n_trees=1, height=1).score_then_learn(rows[0])
    print(f"kernel load/compile: {time.perf_counter() - start:.2f} s")

    print(f"score then learn, {args.points} points, {len(FEATURES)} features, defaults")
    river_scores, river_rate = timed(river_dicts, dicts)
    print(f"  river.anomaly.HalfSpaceTrees   {river_rate:>10,.0f} points/s")
    for label, run, stream in (
        ("ours, score_one + learn_one", ours_dicts, dicts),
        ("ours, score_then_learn(array)", ours_arrays, rows),
    ):
        scores, rate = timed(run, stream)
        print(
            f"  {label:<30}{rate:>10,.0f} points/s  x{rate / river_rate:.1f}"
            f"  identical scores: {scores == river_scores}"
        )

    print("pickled bytes after 500 points")
    for size in args.sizes:
        n_trees, height = map(int, size.split("x"))
        sizes = pickled_sizes(n_trees, height)
        print(
            f"  n_trees={n_trees} height={height}: river {sizes['river']:,}  "
            f"ours {sizes['ours']:,}  (x{sizes['river'] / sizes['ours']:.1f} smaller)"
        )


if __name__ == "__main__":
    main()
