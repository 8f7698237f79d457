"""The fleet alert budget on a quiet fleet: does the realised page rate hold the budget?

A fleet of incident-free series (``sim.scenarios.quiet``: every shape, several seeds, 5-minute
points, twelve weeks) is scored in event-time order, a day of the whole fleet per batch, as
``lookout run`` would see it, once without a budget (the reference: what the detectors page on
their own) and once per budget. Printed: pages per series per week over the weeks after the
controller settled (from week ``--settle``), their ratio to the budget (target: within 20%), and
the threshold it ended at.

Run: ``.venv/bin/python bench/alert_budget.py [--seeds 5] [--weeks 12] [--budgets 0.5,1,2]``
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from detectors import DetectorStack
from sim.scenarios import quiet
from stream.outputs.alert_budget import WEEK, AlertBudget
from stream.outputs.paging import Pager
from stream.runtime.pipeline import Pipeline


def fleet(seeds: int, weeks: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Series ids, timestamps and values of the quiet fleet, in event-time order."""
    frames = []
    for seed in range(seeds):
        for series in quiet(seed=seed, days=7 * weeks):
            frame = series.frame
            seconds = frame["timestamp"].astype("datetime64[ns]").astype("int64") / 1e9
            frames.append(
                pd.DataFrame({"series": f"{seed}/{series.name}", "t": seconds, "v": frame["value"]})
            )
    data = pd.concat(frames).sort_values(["t", "series"], kind="stable")
    return data["series"].tolist(), data["t"].to_numpy(), data["v"].to_numpy(dtype=float)


def pages(budget: float | None, series, timestamps, values) -> tuple[list[float], float]:
    """Event times of the pages of the fleet, and the paging threshold at the end."""
    stack = DetectorStack()
    control = None
    if budget:
        control = AlertBudget(budget, stack.threshold, stack.score_decades)
    pipeline = Pipeline(DetectorStack, pager=Pager(budget=control, base_threshold=stack.threshold))
    per_day = int(np.searchsorted(timestamps, timestamps[0] + 86400.0))
    paged = []
    for start in range(0, len(series), per_day):
        stop = start + per_day
        batch, _ = pipeline.push_arrays(
            series[start:stop], timestamps[start:stop], values[start:stop]
        )
        paged += [s.event.at for s in batch.transitions() if s.event.firing]
    return paged, pipeline.pager.threshold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--settle", type=int, default=5, help="first week measured")
    parser.add_argument("--budgets", default="0.5,1,2")
    args = parser.parse_args(argv)
    series, timestamps, values = fleet(args.seeds, args.weeks)
    n_series = len(set(series))
    first = timestamps[0] + args.settle * WEEK
    measured_weeks = (timestamps[-1] - first) / WEEK
    print(f"quiet fleet: {n_series} series, {args.weeks} weeks, {len(series):,} points; "
          f"measured from week {args.settle} ({measured_weeks:.1f} weeks)")  # fmt: skip
    print("\n| budget (pages/series/week) | realised | realised / budget | threshold | seconds |")
    print("| --- | --- | --- | --- | --- |")
    for budget in [None, *(float(b) for b in args.budgets.split(","))]:
        started = time.perf_counter()
        paged, threshold = pages(budget, series, timestamps, values)
        late = np.asarray(paged) >= first
        rate = late.sum() / n_series / measured_weeks
        ratio = f"{rate / budget:.2f}" if budget else ""
        print(f"| {budget or 'none (reference)'} | {rate:.2f} | {ratio} | {threshold:.3f} | "
              f"{time.perf_counter() - started:.0f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
