"""Why the quiet fleet pages: every alert Lookout opens on the incident-free fleet (all of them
false) attributed to what opened it, per sampling interval and per shape.

Each series of :func:`sim.fleet.fleet` (``incidents=False``) runs through one
:class:`~detectors.bank.StackBank` (the kernel ``lookout replay`` runs); at every opening the
kernel's ``agreeing`` bits say which parts alone reached the threshold (per point, before the
score is taken per ``paging_interval``). The cause, first that applies:

* ``reopen``: the alert opened within ``--reopen`` seconds (default 1 h) of the series' time
  after the previous alert resolved (the same excursion paged twice);
* ``stuck`` / ``outage``: an incident kind reached the threshold;
* ``range``: the range break did, and no detector;
* ``forecast`` / ``hst`` / ``volatility``: that detector alone; ``agree``: two or more;
* ``fisher``: none alone: the combination of detectors each under the threshold.

The series' age at the opening (``< 1 d``: a series still young, whose calibrations have seen
little) is another table, and one counts the 5-minute periods whose highest combined score
reaches the threshold (what a calibrated score does before the onset rule and the incident
state pick the alerts). ``--set NAME=VALUE`` gives the stack a keyword argument (as in
``bench/quality.py``); ``--list`` prints every false page; ``--recall`` scores the same fleet with
its incidents too (event recall and false pages per interval and shape: what a change costs).

``--levels 0.36,0.45,0.6`` asks, per shape and interval, whether a quiet series' scores are
calibrated (:func:`exceedances`): how often each detector's calibrated score reaches each level
at a point, against the ``10 ** -(score_decades * level)`` of a calibrated score (1.0: as often
as it should; above: the shape's normal data read as surprise), and the 5-minute periods per
series-week whose combined score reaches each level (the pages a threshold there would start
from).

Run: ``.venv/bin/python bench/false_pages.py [--series 40] [--weeks 2] [--seed 0]
[--set NAME=VALUE ...] [--list] [--levels L,...]``; the quick fleet of ``quality.py --quick``
takes about 15 s, and 10 s more per level.
"""

from __future__ import annotations

import argparse
import ast
import collections
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.quality import markdown  # noqa: E402
from detectors.bank import OPENED, RESOLVED, StackBank  # noqa: E402
from sim.fleet import INTERVALS, LABEL_STEPS, SHAPES, fleet  # noqa: E402
from sim.paging import series_paging, summarize  # noqa: E402

CAUSES = ("reopen", "stuck", "outage", "range", "forecast", "hst", "volatility", "agree", "fisher")
AGES = ("< 1 d", "1-3 d", "3-7 d", ">= 7 d")
PERIOD = 300.0  # seconds: the default paging_interval
_DAY = 86400.0


def cause_of(names: tuple[str, ...], since_resolve: float, reopen: float) -> str:
    """The cause of an opening whose parts at the threshold are ``names``, ``since_resolve``
    seconds after the previous alert resolved.

    >>> cause_of(("hst",), 100.0, 3600.0), cause_of(("hst",), 7200.0, 3600.0)
    ('reopen', 'hst')
    >>> cause_of(("range", "stuck"), np.inf, 3600.0), cause_of(("forecast", "hst"), np.inf, 3600.0)
    ('stuck', 'agree')
    >>> cause_of(("range",), np.inf, 3600.0), cause_of((), np.inf, 3600.0)
    ('range', 'fisher')
    """
    if since_resolve < reopen:
        return "reopen"
    for kind in ("stuck", "outage"):
        if kind in names:
            return kind
    detectors = [n for n in names if n not in ("range", "stuck", "outage")]
    if len(detectors) > 1:
        return "agree"
    if detectors:
        return detectors[0]
    return "range" if "range" in names else "fisher"


def age_of(seconds: float) -> str:
    for limit, label in ((_DAY, AGES[0]), (3 * _DAY, AGES[1]), (7 * _DAY, AGES[2])):
        if seconds < limit:
            return label
    return AGES[3]


def scored(series, stack: dict):
    """``(series, seconds, results)`` of each series, scored by one bank."""
    bank = StackBank(**stack)
    for s in series:
        slot = bank.add_series()
        frame = s.frame
        t = (pd.to_datetime(frame["timestamp"]) - pd.Timestamp(0)).dt.total_seconds().to_numpy()
        values = frame["value"].to_numpy(dtype=float)
        yield s, t, bank.process(np.full(len(t), slot), t, values), bank.detector_names
        bank.remove_series(slot)


def periods_reaching(t: np.ndarray, combined: np.ndarray, threshold: float) -> int:
    """The :data:`PERIOD`-second periods of the series' time whose highest combined score
    reaches ``threshold``.

    >>> periods_reaching(np.array([0.0, 15.0, 290.0, 310.0, 900.0]),
    ...                  np.array([0.5, 0.1, 0.6, 0.2, 0.4]), 0.36)
    2
    """
    highest = pd.Series(combined).groupby((t // PERIOD).astype(np.int64)).max()
    return int((highest >= threshold).sum())


def openings(series, stack: dict, reopen: float, periods: dict | None = None) -> list[dict]:
    """Every alert opening of the series, with its cause; ``periods`` (if given) counts per
    sampling interval the periods whose combined score reaches the threshold."""
    rows = []
    threshold = StackBank(**stack).threshold
    for s, t, results, names in scored(series, stack):
        if periods is not None:
            periods[s.spec.step] = periods.get(s.spec.step, 0) + periods_reaching(
                t, results.combined, threshold
            )
        resolved_at = -np.inf
        for i in np.flatnonzero(results.transition):
            if results.transition[i] == RESOLVED:
                resolved_at = t[i]
                continue
            assert results.transition[i] == OPENED
            bits = int(results.agreeing[i])
            parts = tuple(n for d, n in enumerate(names) if bits >> d & 1)
            rows.append(
                {
                    "series": s.name,
                    "shape": s.spec.shape,
                    "step": s.spec.step,
                    "season": s.spec.season,
                    "age_h": (t[i] - t[0]) / 3600.0,
                    "since_resolve_h": (t[i] - resolved_at) / 3600.0,
                    "combined": float(results.combined[i]),
                    "parts": "+".join(parts) or "-",
                    "cause": cause_of(parts, t[i] - resolved_at, reopen),
                    "age": age_of(t[i] - t[0]),
                }
            )
    return rows


def exceedances(series, stack: dict, levels) -> dict:
    """Per group (the shape, the sampling interval as ``"60 s"``, ``"all"``): ``points`` scored
    past the warm-up (``warm_up_time`` of the series' time), ``weeks`` they span and, per level,
    ``"hits"``: the points at which each detector's calibrated score reaches it (by detector)
    and ``"periods"``: the :data:`PERIOD`-second periods whose highest combined score does.

    The kernel sets a detector's ``agreeing`` bit where its calibrated score reaches the
    threshold, so each level is one run with ``threshold`` at that level (the scores do not
    depend on it).

    >>> quiet = fleet(2, 0.5, seed=1, incidents=False, intervals=[300.0])
    >>> counts = exceedances(quiet, {}, [0.3])
    >>> sorted(counts), counts["all"]["points"] > 0, sorted(counts["all"]["hits"][0.3])
    (['300 s', 'all', 'cpu', 'memory'], True, ['forecast', 'hst', 'volatility'])
    """
    bank = StackBank(**stack)
    warm_up, n_detectors = bank.warm_up_time, len(dict.fromkeys(bank.detectors))
    groups: dict = collections.defaultdict(
        lambda: {
            "points": 0,
            "weeks": 0.0,
            "hits": collections.defaultdict(collections.Counter),
            "periods": collections.Counter(),
        }
    )
    for level in levels:
        for s, t, results, names in scored(series, {**stack, "threshold": level}):
            warm = t - t[0] >= warm_up
            bits = results.agreeing[warm].astype(np.int64)
            keys = (s.spec.shape, f"{s.spec.step:g} s", "all")
            for key in keys:
                group = groups[key]
                if level == levels[0]:
                    group["points"] += int(warm.sum())
                    group["weeks"] += (t[-1] - t[0]) / (7 * _DAY) if len(t) else 0.0
                for d, name in enumerate(names[:n_detectors]):
                    group["hits"][level][name] += int((bits >> d & 1).sum())
                group["periods"][level] += periods_reaching(t[warm], results.combined[warm], level)
    return dict(groups)


def calibration_tables(counts: dict, levels, decades: float) -> str:
    """Markdown: observed over expected exceedances of each detector's calibrated score per
    group and level, and the periods per series-week whose combined score reaches it."""
    order = list(SHAPES) + [f"{s:g} s" for s in INTERVALS] + ["all"]
    groups = [g for g in order if g in counts and counts[g]["points"]]
    names = list(counts[groups[0]]["hits"][levels[0]]) if groups else []
    header = ["group", *(f"{n} {level:g}" for n in names for level in levels)]
    observed = [  # floats: markdown's cells show two decimals
        [
            g,
            *(
                counts[g]["hits"][level][n] / (counts[g]["points"] * 10 ** (-decades * level))
                for n in names
                for level in levels
            ),
        ]
        for g in groups
    ]
    design = ", ".join(f"{level:g}: {2016 * 10 ** (-decades * level):.2f}" for level in levels)
    periods = [
        [
            g,
            f"{counts[g]['weeks']:.1f}",
            *(counts[g]["periods"][level] / counts[g]["weeks"] for level in levels),
        ]
        for g in groups
    ]
    return "\n".join(
        [
            "Each detector's calibrated score at a point: observed / expected exceedances of "
            f"each level (a calibrated score reaches level L at 10^-({decades:g} L) of the "
            "points):\n",
            markdown(header, observed),
            "\n5-minute periods per series-week whose combined score reaches each level (a "
            f"calibrated score per 5 minutes: {design}):\n",
            markdown(["group", "series-weeks", *(f">= {level:g}" for level in levels)], periods),
        ]
    )


def recall(series, stack: dict) -> str:
    """Markdown: event recall and false pages per series-week of the incident fleet, per
    sampling interval and per shape."""
    groups: dict[object, list] = collections.defaultdict(list)
    for s, _, results, _ in scored(series, stack):
        record = series_paging(s.frame["timestamp"], results.alert, s.windows, LABEL_STEPS)
        for group in (f"{s.spec.step:g} s", s.spec.shape, "all"):
            groups[group].append(record)
    order = [f"{s:g} s" for s in INTERVALS] + list(SHAPES) + ["all"]
    rows = []
    for group in (g for g in order if g in groups):
        summary = summarize(groups[group])
        cells = [summary["event_recall"] or 0.0, summary["false_pages_per_series_week"] or 0.0]
        rows.append([group, summary["windows"], *cells])
    return markdown(["group", "windows", "event recall", "false pages/series-week"], rows)


def table(rows: list[dict], by: str, groups, columns, weeks: dict, label: str) -> str:
    """Markdown: false pages per series-week of each ``columns`` value (``cause`` or ``age``)
    per group of ``by``."""
    counts = collections.Counter((r[by], r[label]) for r in rows)
    lines = []
    for group in groups:
        w = weeks.get(group, 0.0)
        if not w:
            continue
        cells = [sum(counts[(group, c)] for c in columns) / w]
        cells += [counts[(group, c)] / w for c in columns]
        name = f"{group:g} s" if isinstance(group, float) else str(group)
        lines.append([name, f"{w:.1f}", *cells])
    total = sum(weeks.values())
    all_cells = [len(rows) / total] + [
        sum(1 for r in rows if r[label] == c) / total for c in columns
    ]
    lines.append(["all", f"{total:.1f}", *all_cells])
    return markdown([by, "series-weeks", "all", *columns], lines)


def _setting(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    try:
        return name.strip(), ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return name.strip(), value.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=40)
    parser.add_argument("--weeks", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reopen", type=float, default=3600.0, help="seconds (default 1 h)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--list", action="store_true", help="print every false page")
    parser.add_argument(
        "--recall", action="store_true", help="also score the fleet with incidents: event recall"
    )
    parser.add_argument(
        "--levels",
        default="",
        metavar="L,...",
        help="also: is each detector calibrated per shape and interval, at these score levels",
    )
    args = parser.parse_args(argv)
    stack = dict(map(_setting, args.set))
    started = time.perf_counter()
    series = fleet(args.series, args.weeks, seed=args.seed, incidents=False)
    periods: dict[float, int] = {}
    rows = openings(series, stack, args.reopen, periods)
    span = {
        s.name: (s.frame["timestamp"].iloc[-1] - s.frame["timestamp"].iloc[0]).total_seconds()
        / (7 * _DAY)
        for s in series
    }
    by_step, by_shape = collections.Counter(), collections.Counter()
    for s in series:
        by_step[s.spec.step] += span[s.name]
        by_shape[s.spec.shape] += span[s.name]
    settings = ", ".join(args.set) or "defaults"
    print(
        f"# False pages of the quiet fleet ({args.series} series x {args.weeks:g} weeks, "
        f"seed {args.seed}; {settings})\n"
    )
    print("False pages per series-week by cause and sampling interval:\n")
    print(table(rows, "step", [float(s) for s in INTERVALS], CAUSES, by_step, "cause"))
    print("\nBy cause and shape:\n")
    print(table(rows, "shape", SHAPES, CAUSES, by_shape, "cause"))
    bank = StackBank(**stack)
    threshold, decades = bank.threshold, bank.score_decades
    print(
        "\nPer sampling interval: 5-minute periods per series-week whose highest combined "
        f"score reaches the threshold ({threshold:g}: {decades * threshold:.2f} decades per 5 "
        f"minutes, so {2016 * 10 ** (-decades * threshold):.1f} a week for a calibrated score), "
        "and the alerts opened (the onset and the incident state pass these):\n"
    )
    lines = ["| step | periods reaching it | alerts opened |", "|---|---|---|"]
    for step in (float(s) for s in INTERVALS):
        if by_step.get(step):
            opened = sum(1 for r in rows if r["step"] == step)
            lines.append(
                f"| {step:g} s | {periods.get(step, 0) / by_step[step]:.2f} | "
                f"{opened / by_step[step]:.2f} |"
            )
    print("\n".join(lines))
    print("\nBy the series' age at the opening and sampling interval:\n")
    print(table(rows, "step", [float(s) for s in INTERVALS], AGES, by_step, "age"))
    if args.levels:
        levels = [float(x) for x in args.levels.split(",")]
        print("\nCalibration by shape and interval (past the warm-up):\n")
        print(calibration_tables(exceedances(series, stack, levels), levels, decades))
    if args.recall:
        loud = fleet(args.series, args.weeks, seed=args.seed, incidents=True)
        print("\nThe same fleet with incidents, per sampling interval and shape:\n")
        print(recall(loud, stack))
    if args.list:
        print()
        print(pd.DataFrame(rows).to_string(float_format=lambda x: f"{x:.2f}"))
    print(f"\n_{time.perf_counter() - started:.0f} s_")
    return 0


if __name__ == "__main__":
    sys.exit(main())
