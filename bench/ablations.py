"""Ablations: NAB scores per detector and for the combined stack, synthetic incidents, and
ablations of the stack's parameters, printed as markdown tables. (The issue-14 protocol, every
corpus with the baseline, is ``bench/quality.py``.)

1. NAB: each detector alone (``DetectorStack(detectors=("zscore",))``, ...) and the default
   stack on NAB's data, normalized score per cost profile, at NAB's optimized threshold and on
   the ``alert`` column scored directly (what would have paged), beside the published reference
   detectors (``reference/expected_scores.json``; with ``--quick``, recomputed from their result
   files on the same subset of files).
2. Synthetic incidents (``sim.scenarios``: sre, daily_job, ddos), default stack, alert column:
   event-wise precision, recall, F1, false alerts per day, mean detection delay, and the pages
   opened during the nightly 03:10 job (``sim.scenarios.job_mask``), which should be none; and
   the false pages per week on incident-free noise of several shapes (``sim.scenarios.quiet``:
   error counts, skewed and heavy-tailed latencies, replica counts...), and by sampling interval
   (Gaussian noise around a daily cycle every 15 s to 1 h).
3. Ablations: every stack in ``ABLATIONS`` (name -> ``DetectorStack`` keyword arguments) on all.
4. Seeds: the default stack and the stack without the range break on NAB with other seeds of
   the Half-Space-Trees (``--seeds``): on 34 files the seed alone moves the score by several
   points, so a difference smaller than that spread is not evidence.

Files are scored in memory by ``sim.corpus_run.score_files`` (one process per file, ``--jobs``).
The full run scores about 200,000 points per stack (a few minutes on 2 cores); ``--quick`` uses a
third of NAB's files and shorter synthetic series.

Run: ``.venv/bin/python bench/ablations.py [--nab DIR] [--quick] [--jobs 2] [--variants A,B]
[--seeds 42,1,7]``
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors import DetectorStack  # noqa: E402
from detectors.bank import OPENED, StackBank  # noqa: E402
from sim.classification import ScoredSeries, evaluate  # noqa: E402
from sim.corpus_run import score_files  # noqa: E402
from sim.evaluation import BUNDLED_PROFILES  # noqa: E402
from sim.nab import (  # noqa: E402
    NabCorpus,
    detection_scores,
    labels_from_windows,
    load_profiles,
    load_results,
    nab_scores,
)
from sim.scenarios import QUIET_SHAPES, SCENARIOS, job_mask, write_nab_folder  # noqa: E402

# Each detector alone, then the stack as shipped.
DETECTOR_VARIANTS: dict[str, dict] = {
    "zscore": {"detectors": ("zscore",)},
    "hst": {"detectors": ("hst",)},
    "forecast": {"detectors": ("forecast",)},
    "volatility": {"detectors": ("volatility",)},
    "default stack": {},
}

# Stacks to compare on every benchmark; add entries here (name -> DetectorStack kwargs).
ABLATIONS: dict[str, dict] = {
    "default": {},
    "no range break": {"range_break": False},
    "no return surprise": {"return_is_surprise": False},
    "max instead of Fisher agreement": {"combination": "max"},
    "no recalibration of the combined score": {"recalibration_grace": 0},
    "+ zscore in the combination": {"detectors": ("forecast", "hst", "volatility", "zscore")},
    "no seasonality": {"season": 0},
    "no spread floor": {"spread_floor": 0.0},
    "no min_surprise": {"min_surprise": 0.0},
    "no onset (refractory=0)": {"refractory": 0},
    "no onset margin (onset_margin=0)": {"onset_margin": 0.0},
    "longer warm-up (grace_period=350)": {"grace_period": 350},
    "short calibration memory (1000)": {"long_window": 1000},
}

REFERENCE_DETECTORS = ("numenta", "ARTime", "contextOSE", "windowedGaussian", "random", "null")
SYNTHETIC = ("sre", "daily_job", "ddos")
QUIET = "quiet"  # incident-free noise: every page is a false one
QUICK_SCENARIO_KWARGS = {
    "sre": {"days": 14},
    "daily_job": {"days": 14},
    "ddos": {"n_requests": 5000},
    "quiet": {"days": 14},
}
QUICK_NAB_STRIDE = 3  # --quick keeps every third NAB file
DEFAULT_NAB_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"
PROFILE_LABELS = {"standard": "std", "reward_low_FP_rate": "low FP", "reward_low_FN_rate": "low FN"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cell(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


class Scorer:
    """Scores corpora with a stack's kwargs once, however many tables ask for them."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self._cache: dict[tuple, dict[str, pd.DataFrame]] = {}

    def __call__(self, corpus: str, paths: dict[str, Path], kwargs: dict):
        key = (corpus, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        if key not in self._cache:
            started = time.perf_counter()
            factory = functools.partial(DetectorStack, **kwargs)
            self._cache[key] = score_files(paths, factory, jobs=self.jobs)
            n_points = sum(len(frame) for frame in self._cache[key].values())
            log(
                f"  scored {corpus} with {kwargs or 'defaults'}: {n_points} points in "
                f"{time.perf_counter() - started:.0f} s"
            )
        return self._cache[key]


# --- NAB ------------------------------------------------------------------------------------------


def nab_corpus(nab_dir: Path, quick: bool) -> tuple[NabCorpus, list[str]]:
    corpus = NabCorpus.from_nab_dir(nab_dir)
    relpaths = corpus.relpaths[::QUICK_NAB_STRIDE] if quick else list(corpus.relpaths)
    return corpus, relpaths


def nab_row(results, windows, profiles) -> dict:
    optimized = nab_scores(results, windows, profiles)
    alerts = detection_scores(results, windows, profiles, column="alert")
    return {
        "optimized": {name: entry["score"] for name, entry in optimized.items()},
        "alerts": {name: entry["score"] for name, entry in alerts.items()},
        "threshold": optimized["standard"]["threshold"],
    }


def reference_rows(nab_dir: Path, corpus: NabCorpus, relpaths: list[str], profiles) -> dict:
    full = sorted(relpaths) == sorted(corpus.relpaths)
    expected_path = nab_dir / "reference" / "expected_scores.json"
    rows = {}
    if full and expected_path.is_file():
        expected = json.loads(expected_path.read_text())["scores"]
        for detector in REFERENCE_DETECTORS:
            if detector in expected:
                by_profile = expected[detector]
                rows[detector] = {
                    "optimized": {p: by_profile[p]["optimized_threshold_score"] for p in profiles},
                    "threshold": by_profile["standard"]["optimized_threshold"],
                }
        return rows
    windows = {relpath: corpus.windows_of(relpath) for relpath in relpaths}
    for detector in REFERENCE_DETECTORS:
        folder = nab_dir / "reference" / detector
        if folder.is_dir():
            results = load_results(folder, relpaths)
            scores = nab_scores(results, windows, profiles)
            rows[detector] = {
                "optimized": {p: scores[p]["score"] for p in profiles},
                "threshold": scores["standard"]["threshold"],
            }
    return rows


def nab_table(rows: dict[str, dict], profiles) -> str:
    names = list(profiles)
    header = (
        ["detector"]
        + [f"{PROFILE_LABELS.get(p, p)} (opt)" for p in names]
        + [f"{PROFILE_LABELS.get(p, p)} (alerts)" for p in names]
        + ["threshold (std)"]
    )
    body = []
    for detector, row in rows.items():
        alerts = row.get("alerts", {})
        body.append(
            [detector]
            + [row["optimized"][p] for p in names]
            + [alerts.get(p) for p in names]
            + [cell(row["threshold"], 4)]
        )
    return markdown(header, body)


# --- synthetic incidents --------------------------------------------------------------------------


def write_synthetic(out_dir: Path, quick: bool, seed: int = 0):
    """Scenario files in NAB layout; returns ``{scenario: {relpath: path}}`` and windows."""
    paths, windows = {}, {}
    for name in (*SYNTHETIC, QUIET):
        series_list = SCENARIOS[name](seed=seed, **(QUICK_SCENARIO_KWARGS[name] if quick else {}))
        written = write_nab_folder(series_list, out_dir, category=name)
        paths[name] = {f"{name}/{path.name}": path for path in written}
        for series in series_list:
            windows[f"{name}/{series.name}.csv"] = series.windows
    return paths, windows


def alert_opens(frame: pd.DataFrame) -> np.ndarray:
    """True where an alert event (a page) opens in a result frame's ``alert`` column."""
    alert = frame["alert"].to_numpy() == 1
    return alert & ~np.r_[False, alert[:-1]]


def job_pages(frame: pd.DataFrame) -> int:
    """Alert events (pages) that open while the nightly job runs."""
    return int((alert_opens(frame) & job_mask(frame)).sum())


def pages_per_week(frame: pd.DataFrame) -> float:
    """Alert events per week of data."""
    timestamps = pd.to_datetime(frame["timestamp"])
    weeks = (timestamps.iloc[-1] - timestamps.iloc[0]) / pd.Timedelta(weeks=1)
    return int(alert_opens(frame).sum()) / weeks


def synthetic_metrics(results: dict[str, pd.DataFrame], windows) -> dict:
    series = [
        ScoredSeries(
            frame["timestamp"],
            labels=labels_from_windows(frame["timestamp"], windows[relpath]),
            scores=frame["anomaly_score"],
            detections=frame["alert"] == 1,
            name=relpath,
        )
        for relpath, frame in results.items()
    ]
    report = evaluate(series)
    return {
        "event_precision": report.event_precision,
        "event_recall": report.event_recall,
        "event_f1": report.event_f1,
        "false_alerts_per_day": report.false_alerts_per_day,
        "mean_delay_min": None
        if report.mean_delay_seconds is None
        else report.mean_delay_seconds / 60,
        "windows": f"{report.n_detected_windows}/{report.n_windows}",
        "pages": report.n_alert_events,
    }


def pages_by_step(steps: list[float], seeds: tuple[int, ...] = (0, 1, 2)) -> str:
    """False pages per week on Gaussian noise around a daily cycle, sampled every ``step``
    seconds (two weeks; 17 for hourly points), by the compiled stack (equal to DetectorStack)."""
    body = []
    for step in steps:
        days = 14 if step < 3600 else 119
        pages = []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            timestamps = 1.7e9 + step * np.arange(int(days * 86400 / step))
            values = 40 + 10 * np.sin(2 * np.pi * timestamps / 86400)
            values += rng.normal(0, 3, len(values))
            bank = StackBank()
            slots = np.full(len(values), bank.add_series())
            results = bank.process(slots, timestamps, values)
            pages.append(int((results.transition == OPENED).sum()) / (days / 7))
        body.append([f"{step:g} s", float(np.mean(pages)), ", ".join(f"{p:.1f}" for p in pages)])
    return markdown(["sampling interval", "false pages/week", "per seed"], body)


# --- main -----------------------------------------------------------------------------------------


def seed_table(scorer, nab_paths, nab_windows, profiles, seeds: list[int]) -> str:
    """NAB standard scores (optimized threshold / alert column) per seed, with the mean."""
    stacks = {
        "default": {},
        "no range break": {"range_break": False},
        "no onset margin": {"onset_margin": 0.0},
    }
    header = ["stack", *(f"seed {seed}" for seed in seeds), "mean"]
    body = []
    for name, kwargs in stacks.items():
        cells, optimized, alerts = [], [], []
        for seed in seeds:
            row = nab_row(scorer("nab", nab_paths, {**kwargs, "seed": seed}), nab_windows, profiles)
            optimized.append(row["optimized"]["standard"])
            alerts.append(row["alerts"]["standard"])
            cells.append(f"{optimized[-1]:.2f} / {alerts[-1]:.2f}")
        body.append([name, *cells, f"{np.mean(optimized):.2f} / {np.mean(alerts):.2f}"])
    return markdown(header, body) + "\n\n(NAB standard: optimized threshold / alert column)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--nab",
        type=Path,
        default=DEFAULT_NAB_DIR,
        help="NAB folder (data/, labels/, reference/); default: %(default)s",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a third of NAB's files, shorter synthetic series"
    )
    parser.add_argument("--jobs", type=int, default=2, help="processes (default: %(default)s)")
    parser.add_argument(
        "--variants", help="comma-separated ABLATIONS to run (default: all; '' for none)"
    )
    parser.add_argument(
        "--seeds",
        default="42,1,7",
        help="comma-separated Half-Space-Trees "
        "seeds for the seed table ('' for none; default: %(default)s)",
    )
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    if args.variants is None:
        ablations = dict(ABLATIONS)
    else:
        names = [name.strip() for name in args.variants.split(",") if name.strip()]
        unknown = set(names) - set(ABLATIONS)
        if unknown:
            parser.error(f"unknown variants {sorted(unknown)}; choose from {list(ABLATIONS)}")
        ablations = {name: ABLATIONS[name] for name in names}
    if not (args.nab / "data").is_dir():
        parser.error(f"NAB data not found under {args.nab} (pass --nab)")

    started = time.perf_counter()
    profiles = load_profiles(BUNDLED_PROFILES)
    scorer = Scorer(args.jobs)
    corpus, relpaths = nab_corpus(args.nab, args.quick)
    nab_paths = {relpath: corpus.path(relpath) for relpath in relpaths}
    nab_windows = {relpath: corpus.windows_of(relpath) for relpath in relpaths}

    print(f"# Lookout detection quality{' (quick)' if args.quick else ''}\n")
    print(
        f"## NAB: {len(relpaths)} of {len(corpus)} files, "
        f"{sum(len(corpus.frame(r)) for r in relpaths)} points\n"
    )
    log("NAB, each detector alone and the default stack")
    rows = {
        name: nab_row(scorer("nab", nab_paths, kwargs), nab_windows, profiles)
        for name, kwargs in DETECTOR_VARIANTS.items()
    }
    reference = reference_rows(args.nab, corpus, relpaths, profiles)
    rows.update({f"ref: {name}": row for name, row in reference.items()})
    print(nab_table(rows, profiles))
    source = "expected_scores.json" if not args.quick else "recomputed on the same files"
    print(
        f"\n(opt) = NAB's optimized threshold per profile; (alerts) = the alert column "
        f"scored directly; ref = published detectors ({source}).\n"
    )

    with tempfile.TemporaryDirectory() as tmp:
        synthetic_paths, synthetic_windows = write_synthetic(Path(tmp), args.quick)
        log("synthetic scenarios, default stack")
        print("## Synthetic incidents: default stack, alert column\n")
        header = [
            "scenario",
            "event P",
            "event R",
            "event F1",
            "false alerts/day",
            "mean delay (min)",
            "windows detected",
            "pages",
            "pages in 03:10 job",
        ]
        body = []
        for scenario in SYNTHETIC:
            results = scorer(scenario, synthetic_paths[scenario], {})
            metrics = synthetic_metrics(results, synthetic_windows)
            pages_in_job = sum(map(job_pages, results.values())) if scenario == "daily_job" else "-"
            body.append([scenario, *metrics.values(), pages_in_job])
        print(markdown(header, body))
        print()
        log("incident-free noise, default stack")
        by_file = scorer(QUIET, synthetic_paths[QUIET], {})
        quiet = {shape: pages_per_week(by_file[f"{QUIET}/{shape}.csv"]) for shape in QUIET_SHAPES}
        print("## Incident-free noise: false pages per week, default stack\n")
        print(markdown([*quiet, "mean"], [[*quiet.values(), np.mean(list(quiet.values()))]]))
        print()
        log("sampling intervals")
        print("## False pages per week by sampling interval (Gaussian noise, daily cycle)\n")
        print(pages_by_step([15.0, 30.0, 60.0, 300.0, 3600.0] if not args.quick else [60.0, 300.0]))
        print()

        if ablations:
            log("ablations")
            print("## Ablations\n")
            header = [
                "variant",
                "NAB std (opt)",
                "NAB std (alerts)",
                "NAB low FP (alerts)",
                *(f"{s} event F1" for s in SYNTHETIC),
                "false alerts/day (synthetic)",
                "pages in 03:10 job",
                "false pages/week (noise)",
            ]
            body = []
            for name, kwargs in ablations.items():
                nab = nab_row(scorer("nab", nab_paths, kwargs), nab_windows, profiles)
                per_scenario = {s: scorer(s, synthetic_paths[s], kwargs) for s in SYNTHETIC}
                pooled = {k: v for results in per_scenario.values() for k, v in results.items()}
                quiet = scorer(QUIET, synthetic_paths[QUIET], kwargs).values()
                body.append(
                    [
                        name,
                        nab["optimized"]["standard"],
                        nab["alerts"]["standard"],
                        nab["alerts"]["reward_low_FP_rate"],
                        *(
                            synthetic_metrics(per_scenario[s], synthetic_windows)["event_f1"]
                            for s in SYNTHETIC
                        ),
                        synthetic_metrics(pooled, synthetic_windows)["false_alerts_per_day"],
                        sum(map(job_pages, per_scenario["daily_job"].values())),
                        np.mean([pages_per_week(frame) for frame in quiet]),
                    ]
                )
            print(markdown(header, body))
            print()
    if seeds:
        log("seeds")
        print("## NAB by Half-Space-Trees seed\n")
        print(seed_table(scorer, nab_paths, nab_windows, profiles, seeds))
        print()
    print(f"_{time.perf_counter() - started:.0f} s, {args.jobs} processes_")
    return 0


if __name__ == "__main__":
    sys.exit(main())
