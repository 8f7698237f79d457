"""Detection quality by the protocol of issue 14: Lookout and the weekly z-score baseline on every
corpus, per sampling interval, per shape, per incident kind, and a leave-one-corpus-out choice of
the paging threshold, printed as markdown tables.

Corpora (one column each in the first table):

* **NAB**: the 34-file NAB sample (``--nab``; ``--quick``: every third file);
* **SMD**: labelled 1-minute server metrics (``--smd``, :mod:`sim.smd`; ``--quick``: 2 machines);
* **fleet-quiet** and **fleet-incidents**: ``--series`` series of :func:`sim.fleet.fleet` over
  ``--weeks`` weeks (seed ``--seed``), without and with their injected, labelled incidents.

Detectors: **Lookout**, the default stack run through :class:`stream.runtime.pipeline.Pipeline`
(what
``lookout replay`` and ``lookout run`` use: every series in one :class:`~detectors.bank.StackBank`,
scored before it learns), and **baseline**, :class:`sim.baseline.WeeklyZScore` (``|z| > 3`` over
the last week for 5 minutes, the Prometheus rule an SRE would write).

Tables:

1. Per corpus: NAB standard and low-FP score at NAB's optimized threshold (opt: of the onsets,
   ``onset_score``, see :func:`sim.nab_scoring.onset_column`) and of the alert decisions
   (alerts); ROC-AUC and PR-AUC of the continuous ``anomaly_score`` per point, pooled, and the
   median of the series' ROC-AUCs (the baseline's score: ``|z| / (|z| + 3)``); point-wise
   precision, recall and F1 of the alerting samples; event recall; page precision; median
   detection delay in samples and minutes; false pages per series-week (:mod:`sim.paging`).
2. Per sampling interval (15 s, 1 min, 5 min, 1 h): false pages per series-week on the quiet
   fleet, event recall, median delay and false pages per series-week on the incident fleet.
3. Per shape, the same; 4. per incident kind, event recall and median delay.
5. Leave one corpus out: each of NAB, SMD and the fleet (quiet and incidents pooled) chooses the
   paging threshold (Lookout's ``threshold``, the baseline's ``|z|``) that maximizes its event F1
   (page precision and event recall), and the value is reported on every corpus; the row says
   which corpus chose.

6. Incident state (issue 15), per detected window of the incident fleet, pooled, per interval
   and per kind: median alert coverage of the window, alerts per detected window, median resolve
   delay after the window, the share resolved within ``max(10 min, 2 samples)`` and the share
   resolved before the window ended (:mod:`sim.paging`). The corpus table has the same rows.

Targets (issue 15): median coverage at least 0.8, at most 1.2 alerts per detected incident, every
alert resolved within ``max(10 min, 2 samples)`` after its incident ends.

Targets (issue 14): quiet fleet at most 0.3 false pages per series-week at every interval and
shape, event recall at least 0.95, median delay at most 2 samples and 5 minutes.

Run: ``.venv/bin/python bench/quality.py [--quick] [--series 80] [--weeks 4] [--seed 0]
[--threads 1] [--nab DIR] [--smd DIR] [--thresholds 0.25,0.3,0.36,0.45,0.6] [--z 3,4,5,6]
[--set NAME=VALUE ...]`` (``--set``: a keyword argument of Lookout's stack, to compare a candidate
default with the current one on every corpus).
``--quick`` (40 series, 2 weeks, a third of NAB, 2 SMD machines, 3 thresholds) takes about 1.5
minutes on one core; the defaults about 17 (niced, on a busy machine). The per-detector NAB
table, the old synthetic scenarios, the ablations and the seed table are ``bench/ablations.py``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detectors import DetectorStack  # noqa: E402
from sim.baseline import WeeklyZScore  # noqa: E402
from sim.evaluation import BUNDLED_PROFILES  # noqa: E402
from sim.fleet import INTERVALS, KINDS, LABEL_STEPS, SHAPES, fleet  # noqa: E402
from sim.labeled import Window  # noqa: E402
from sim.nab import (  # noqa: E402
    NabCorpus,
    detection_scores,
    labels_from_windows,
    load_profiles,
    nab_scores,
)
from sim.paging import TARGETS, SeriesPaging, series_paging, summarize  # noqa: E402
from sim.smd import DEFAULT_SMD_DIR, load_smd  # noqa: E402
from stream.runtime.pipeline import Pipeline  # noqa: E402

DEFAULT_NAB_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"
DETECTORS = ("Lookout", "baseline")
DEFAULT_KNOB = {"Lookout": DetectorStack().threshold, "baseline": WeeklyZScore().threshold}
CHOOSERS = ("NAB", "SMD", "fleet")  # the corpora that choose a knob in the leave-one-out table
QUICK = {"series": 40, "weeks": 2.0, "nab_stride": 3, "smd_machines": 2}
DEFAULT_THRESHOLDS = "0.25,0.3,0.36,0.45,0.6"
QUICK_THRESHOLDS = "0.36,0.45,0.6"
BATCH_POINTS = 1_000_000  # points pushed through the pipeline at once
TARGET_QUIET = 0.3
PROFILES = {"standard": "std", "reward_low_FP_rate": "low FP"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cell(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(header: list[str], rows: Iterable[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def interval_name(step: float) -> str:
    return (
        f"{step / 3600:g} h"
        if step >= 3600
        else (f"{step / 60:g} min" if step >= 60 else f"{step:g} s")
    )


# --- corpora ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Series to score: ``frames`` (``timestamp``, ``value``), their label windows, sampling
    intervals, and for the fleet their shape and incident kinds per window."""

    name: str
    frames: dict[str, pd.DataFrame]
    windows: dict[str, list[Window]]
    steps: dict[str, float]
    shapes: dict[str, str] = dataclasses.field(default_factory=dict)
    kinds: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    @property
    def n_points(self) -> int:
        return sum(len(frame) for frame in self.frames.values())


def _median_step(frame: pd.DataFrame) -> float:
    seconds = pd.to_datetime(frame["timestamp"]).diff().dt.total_seconds()
    return float(seconds.median()) if len(frame) > 1 else 60.0


def nab_like(name: str, corpus: NabCorpus, relpaths: list[str]) -> Corpus:
    frames = {relpath: corpus.frame(relpath) for relpath in relpaths}
    return Corpus(
        name,
        frames,
        {relpath: corpus.windows_of(relpath) for relpath in relpaths},
        {relpath: _median_step(frame) for relpath, frame in frames.items()},
    )


def fleet_corpus(n_series: int, weeks: float, seed: int, incidents: bool) -> Corpus:
    series = fleet(n_series, weeks, seed=seed, incidents=incidents)
    return Corpus(
        "fleet-incidents" if incidents else "fleet-quiet",
        {s.name: s.frame for s in series},
        {s.name: s.windows for s in series},
        {s.name: s.spec.step for s in series},
        {s.name: s.spec.shape for s in series},
        {s.name: [incident.kind for incident in s.incidents] for s in series},
    )


# --- detectors ----------------------------------------------------------------------------------


def _seconds(frame: pd.DataFrame) -> np.ndarray:
    return (pd.to_datetime(frame["timestamp"]) - pd.Timestamp(0)).dt.total_seconds().to_numpy()


def run_lookout(corpus: Corpus, threads: int = 1, **kwargs) -> dict[str, pd.DataFrame]:
    """Every series through one :class:`~stream.runtime.pipeline.Pipeline` (the replay path), in
    batches of about ``BATCH_POINTS``; returns ``timestamp, anomaly_score, onset_score, alert``
    per series."""
    pipeline = Pipeline(functools.partial(DetectorStack, **kwargs), threads=threads)
    results: dict[str, pd.DataFrame] = {}
    names = list(corpus.frames)
    while names:
        batch, points = [], 0
        while names and (not batch or points + len(corpus.frames[names[0]]) <= BATCH_POINTS):
            batch.append(names.pop(0))
            points += len(corpus.frames[batch[-1]])
        frames = [corpus.frames[name] for name in batch]
        series = [
            name for name, frame in zip(batch, frames, strict=True) for _ in range(len(frame))
        ]
        scored, refused = pipeline.push_arrays(
            series,
            np.concatenate([_seconds(frame) for frame in frames]),
            np.concatenate([frame["value"].to_numpy(dtype=float) for frame in frames]),
        )
        # Refused points (NAB repeats a few timestamps) are dead letters in a replay: no result,
        # so here neither score nor alert.
        accepted = np.ones(len(series), dtype=bool)
        accepted[[index for index, _ in refused]] = False
        score, onset = np.zeros(len(series)), np.zeros(len(series))
        alert = np.zeros(len(series), dtype=int)
        score[accepted] = np.nan_to_num(scored.results.anomaly_score)
        onset[accepted] = np.nan_to_num(scored.results.onset_score)
        alert[accepted] = scored.results.alert
        if refused:
            log(f"  {corpus.name}: {len(refused)} points refused, e.g. {refused[0][1]}")
        start = 0
        for name, frame in zip(batch, frames, strict=True):
            rows = slice(start, start + len(frame))
            results[name] = pd.DataFrame(
                {
                    "timestamp": frame["timestamp"].to_numpy(),
                    "anomaly_score": score[rows],
                    "onset_score": onset[rows],
                    "alert": alert[rows],
                }
            )
            start += len(frame)
    return results


def run_baseline(corpus: Corpus, threshold: float = 3.0) -> dict[str, pd.DataFrame]:
    rule = WeeklyZScore(threshold=threshold)
    return {
        name: rule.score_frame(frame, step=corpus.steps[name])
        for name, frame in corpus.frames.items()
    }


class Runs:
    """Each (corpus, detector, knob value) scored once, however many tables ask for it."""

    def __init__(self, threads: int, stack: dict | None = None):
        self.threads = threads
        self.stack = dict(stack or {})  # Lookout's keyword arguments (``--set``)
        self._cache: dict[tuple, dict[str, SeriesPaging | pd.DataFrame]] = {}

    def results(self, corpus: Corpus, detector: str, knob: float | None = None):
        if knob == DEFAULT_KNOB[detector]:
            knob = None
        key = (corpus.name, detector, knob)
        if key not in self._cache:
            started = time.perf_counter()
            if detector == "Lookout":
                kwargs = {**self.stack, **({} if knob is None else {"threshold": knob})}
                results = run_lookout(corpus, self.threads, **kwargs)
            else:
                results = run_baseline(corpus, DEFAULT_KNOB[detector] if knob is None else knob)
            self._cache[key] = results
            log(
                f"  {detector} on {corpus.name} ({knob or 'default'}): {corpus.n_points} points "
                f"in {time.perf_counter() - started:.0f} s"
            )
        return self._cache[key]

    def paging(self, corpus: Corpus, detector: str, knob: float | None = None):
        results = self.results(corpus, detector, knob)
        label_steps = LABEL_STEPS if corpus.name.startswith("fleet") else 0
        return {
            name: series_paging(
                frame["timestamp"], frame["alert"], corpus.windows[name], label_steps
            )
            for name, frame in results.items()
        }


# --- tables -------------------------------------------------------------------------------------

CORPUS_ROWS = (
    ("point_precision", "alert precision (points)"),
    ("point_recall", "alert recall (points)"),
    ("point_f1", "alert F1 (points)"),
    ("event_recall", "event recall"),
    ("page_precision", "page precision"),
    ("median_delay_samples", "median delay (samples)"),
    ("median_delay_minutes", "median delay (min)"),
    ("false_pages_per_series_week", "false pages / series-week"),
    ("median_coverage", "median alert coverage of a detected window"),
    ("alerts_per_detected", "alerts per detected window"),
    ("median_resolve_delay_minutes", "median resolve delay after the incident (min)"),
    ("resolved_in_target", "resolved within max(10 min, 2 samples)"),
)

#: The incident-state table's columns (issue 15) and their targets (sim.paging.TARGETS).
INCIDENT_COLUMNS = (
    ("median_coverage", f"median coverage (>= {TARGETS['median_coverage']})"),
    ("alerts_per_detected", f"alerts per detected (<= {TARGETS['alerts_per_detected']})"),
    ("median_resolve_delay_minutes", "median resolve delay (min)"),
    ("resolved_in_target", "resolved in target (share; target 1)"),
    ("resolved_early", "resolved before the window ended (share)"),
)


def nab_figures(results, windows, profiles) -> dict[str, float]:
    if not any(windows.values()):
        return {}
    optimized = nab_scores(results, windows, profiles)
    alerts = detection_scores(results, windows, profiles, column="alert", openings=True)
    figures = {}
    for profile, label in PROFILES.items():
        figures[f"NAB {label} (opt)"] = optimized[profile]["score"]
        figures[f"NAB {label} (alerts)"] = alerts[profile]["score"]
    return figures


def ranking_figures(results, windows, column: str = "anomaly_score") -> dict[str, float | None]:
    """ROC-AUC and PR-AUC (average precision) of ``column`` per point, pooled over the series,
    and the median of the series' own ROC-AUCs (a long labelled window, e.g. a level shift
    the detectors learn within the hour, weighs in the pooled one by its points); None without
    both healthy and incident points.

    >>> stamps = pd.date_range("2024-01-01", periods=4, freq="min")
    >>> frame = pd.DataFrame({"timestamp": stamps, "anomaly_score": [0.1, 0.2, 0.9, 0.3]})
    >>> ranking_figures({"a": frame}, {"a": [(stamps[2], stamps[2])]})
    {'ROC-AUC': 1.0, 'PR-AUC': 1.0, 'ROC-AUC, median per series': 1.0}
    """
    labels = [labels_from_windows(f["timestamp"], windows[name]) for name, f in results.items()]
    scores = [np.nan_to_num(f[column].to_numpy(dtype=float)) for f in results.values()]
    own = [roc_auc_score(y, s) for y, s in zip(labels, scores, strict=True) if 0 < y.sum() < len(y)]
    y, s = (np.concatenate(parts) if parts else np.empty(0) for parts in (labels, scores))
    if len(np.unique(y)) < 2:
        return {"ROC-AUC": None, "PR-AUC": None, "ROC-AUC, median per series": None}
    return {
        "ROC-AUC": float(roc_auc_score(y, s)),
        "PR-AUC": float(average_precision_score(y, s)),
        "ROC-AUC, median per series": float(np.median(own)),
    }


def corpus_table(runs: Runs, corpora: list[Corpus], profiles) -> str:
    columns = {}
    for corpus in corpora:
        column = {}
        for detector in DETECTORS:
            results = runs.results(corpus, detector)
            nab = nab_figures(results, corpus.windows, profiles)
            for label in [f"NAB {p} ({m})" for p in PROFILES.values() for m in ("opt", "alerts")]:
                column[(label, detector)] = nab.get(label)
            for label, value in ranking_figures(results, corpus.windows).items():
                column[(f"{label} (anomaly_score)", detector)] = value
            summary = summarize(list(runs.paging(corpus, detector).values()))
            for key, label in CORPUS_ROWS:
                column[(label, detector)] = summary[key]
        columns[corpus.name] = column
    keys = list(next(iter(columns.values())))
    header = ["measure", "detector", *(f"{c.name} ({c.n_points:,} pts)" for c in corpora)]
    return markdown(header, ([*key, *(columns[c.name][key] for c in corpora)] for key in keys))


def _grouped(records: dict[str, SeriesPaging], group_of: dict[str, object], group) -> dict:
    return summarize([record for name, record in records.items() if group_of[name] == group])


def breakdown_table(
    runs: Runs, quiet: Corpus, loud: Corpus, group_of: Callable[[Corpus], dict], groups, label
) -> str:
    header = [label]
    for what in (
        "false pages/series-week, quiet",
        "event recall",
        "median delay (samples)",
        "median delay (min)",
        "false pages/series-week, incidents",
    ):
        header += [f"{what}: Lookout", "baseline"]
    body = []
    for group in groups:
        row = [interval_name(group) if isinstance(group, float) else group]
        quiet_s = {d: _grouped(runs.paging(quiet, d), group_of(quiet), group) for d in DETECTORS}
        loud_s = {d: _grouped(runs.paging(loud, d), group_of(loud), group) for d in DETECTORS}
        for source, key in (
            (quiet_s, "false_pages_per_series_week"),
            (loud_s, "event_recall"),
            (loud_s, "median_delay_samples"),
            (loud_s, "median_delay_minutes"),
            (loud_s, "false_pages_per_series_week"),
        ):
            row += [source[d][key] for d in DETECTORS]
        body.append(row)
    return markdown(header, body)


def kind_table(runs: Runs, loud: Corpus) -> str:
    header = [
        "incident kind",
        "windows",
        "event recall: Lookout",
        "baseline",
        "median delay (min): Lookout",
        "baseline",
    ]
    body = []
    for kind in KINDS:
        row_of = {}
        for detector in DETECTORS:
            records = []
            for name, frame in runs.results(loud, detector).items():
                windows = [
                    w
                    for w, k in zip(loud.windows[name], loud.kinds[name], strict=True)
                    if k == kind
                ]
                if windows:
                    records.append(series_paging(frame["timestamp"], frame["alert"], windows))
            row_of[detector] = summarize(records)
        if row_of["Lookout"]["windows"]:
            body.append(
                [
                    kind,
                    row_of["Lookout"]["windows"],
                    row_of["Lookout"]["event_recall"],
                    row_of["baseline"]["event_recall"],
                    row_of["Lookout"]["median_delay_minutes"],
                    row_of["baseline"]["median_delay_minutes"],
                ]
            )
    return markdown(header, body)


def incident_table(runs: Runs, loud: Corpus) -> str:
    """How long alerts last on the incident fleet (issue 15): pooled, per sampling interval and
    per incident kind, for both detectors."""
    header = ["group", "detector", "detected", *(label for _, label in INCIDENT_COLUMNS)]
    body = []
    for detector in DETECTORS:
        results = runs.results(loud, detector)
        groups: dict[str, list[SeriesPaging]] = {"all": []}
        for name, frame in results.items():
            windows, kinds = loud.windows[name], loud.kinds[name]
            record = series_paging(frame["timestamp"], frame["alert"], windows, LABEL_STEPS)
            groups["all"].append(record)
            groups.setdefault(interval_name(loud.steps[name]), []).append(record)
            for kind in sorted(set(kinds)):
                chosen = [w for w, k in zip(windows, kinds, strict=True) if k == kind]
                groups.setdefault(kind, []).append(
                    series_paging(frame["timestamp"], frame["alert"], chosen, LABEL_STEPS)
                )
        order = ["all", *(interval_name(s) for s in INTERVALS), *KINDS]
        for group in (g for g in order if g in groups):
            summary = summarize(groups[group])
            detected = sum(len(r.coverages) for r in groups[group])
            body.append([group, detector, detected, *(summary[k] for k, _ in INCIDENT_COLUMNS)])
    return markdown(header, body)


def event_f1(summary: dict) -> float:
    precision, recall = summary["page_precision"] or 0.0, summary["event_recall"] or 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def leave_one_out(runs: Runs, corpora: dict[str, list[Corpus]], detector: str, values) -> str:
    """Each corpus of ``corpora`` (name -> the corpora pooled under it) chooses the knob value
    with the best event F1 on itself; the row shows that value's figures on every corpus."""

    def pooled(name: str, value: float) -> dict:
        records = [r for c in corpora[name] for r in runs.paging(c, detector, value).values()]
        return summarize(records)

    figures = {(name, v): pooled(name, v) for name in corpora for v in values}
    header = ["chosen on", "value"]
    for name in corpora:
        header += [f"{name}: event F1", "event recall", "false pages/series-week"]
    body = []
    for chooser in corpora:
        best = max(values, key=lambda v: (event_f1(figures[(chooser, v)]), v))
        row = [chooser, cell(best, 3)]
        for name in corpora:
            summary = figures[(name, best)]
            mark = "" if name != chooser else " (chooser)"
            row += [
                f"{event_f1(summary):.3f}{mark}",
                summary["event_recall"],
                summary["false_pages_per_series_week"],
            ]
        body.append(row)
    return markdown(header, body)


# --- main ---------------------------------------------------------------------------------------


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def _setting(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` as a keyword argument (``VALUE`` a Python literal, else a string).

    >>> _setting("refractory=100"), _setting("combination=max")
    (('refractory', 100), ('combination', 'max'))
    """
    name, _, value = text.partition("=")
    try:
        return name.strip(), ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return name.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--nab",
        type=Path,
        default=DEFAULT_NAB_DIR,
        help="NAB folder (data/, labels/); default: %(default)s",
    )
    parser.add_argument(
        "--smd",
        type=Path,
        default=DEFAULT_SMD_DIR,
        help="SMD folder (data/, labels/); default: %(default)s",
    )
    parser.add_argument("--series", type=int, help="fleet series (default 80; --quick 40)")
    parser.add_argument("--weeks", type=float, help="fleet weeks (default 4; --quick 2)")
    parser.add_argument("--seed", type=int, default=0, help="fleet seed (default: %(default)s)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="40 series over 2 weeks, a third of NAB, 2 SMD machines",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        choices=(1, 2),
        help="scoring threads of the pipeline (default: %(default)s)",
    )
    parser.add_argument(
        "--thresholds",
        help="Lookout thresholds for the leave-one-out table "
        f"(default {DEFAULT_THRESHOLDS}; --quick {QUICK_THRESHOLDS}; '' for none)",
    )
    parser.add_argument(
        "--z",
        default="3,4,5,6",
        help="baseline |z| thresholds for the leave-one-out table ('' for none; "
        "default: %(default)s)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a keyword argument of Lookout's stack (a Python literal), e.g. --set refractory=100; "
        "repeatable: compare a variant with the defaults on every corpus",
    )
    parser.add_argument("--no-nab", action="store_true", help="leave NAB out")
    parser.add_argument("--no-smd", action="store_true", help="leave SMD out")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    n_series = args.series or (QUICK["series"] if args.quick else 80)
    weeks = args.weeks or (QUICK["weeks"] if args.quick else 4.0)
    thresholds = _floats(
        args.thresholds
        if args.thresholds is not None
        else (QUICK_THRESHOLDS if args.quick else DEFAULT_THRESHOLDS)
    )
    started = time.perf_counter()
    profiles = load_profiles(BUNDLED_PROFILES)
    runs = Runs(args.threads, dict(map(_setting, args.set)))

    corpora: list[Corpus] = []
    if not args.no_nab:
        if not (args.nab / "data").is_dir():
            parser.error(f"NAB data not found under {args.nab} (pass --nab, or --no-nab)")
        nab = NabCorpus.from_nab_dir(args.nab)
        relpaths = nab.relpaths[:: QUICK["nab_stride"]] if args.quick else list(nab.relpaths)
        corpora.append(nab_like("NAB", nab, relpaths))
    if not args.no_smd:
        if not (args.smd / "data").is_dir():
            parser.error(f"SMD data not found under {args.smd} (pass --smd, or --no-smd)")
        smd = load_smd(args.smd, machines=QUICK["smd_machines"] if args.quick else None)
        corpora.append(nab_like("SMD", smd, smd.relpaths))
    quiet = fleet_corpus(n_series, weeks, args.seed, incidents=False)
    loud = fleet_corpus(n_series, weeks, args.seed, incidents=True)
    corpora += [quiet, loud]

    print(f"# Lookout detection quality: the issue-14 protocol{' (quick)' if args.quick else ''}\n")
    print(
        f"Fleet: {n_series} series over {weeks:g} weeks, seed {args.seed} "
        f"({quiet.n_points:,} points each, quiet and with "
        f"{sum(map(len, loud.windows.values()))} incidents). Lookout: the default stack"
        f"{' with ' + ', '.join(args.set) if args.set else ''} through the pipeline; baseline: "
        "|z| > 3 over the last week for 5 minutes.\n"
    )
    log("per corpus")
    print("## Per corpus\n")
    print(corpus_table(runs, corpora, profiles))
    print(
        "\n(opt) = NAB's optimized threshold per profile; (alerts) = the alert decisions scored "
        "directly. A page is a run of alerting samples; false when it opens outside every window."
        "\n"
    )
    print(
        f"## Fleet by sampling interval (target: quiet <= {TARGET_QUIET}, recall >= 0.95, "
        "delay <= 2 samples and 5 min)\n"
    )
    print(
        breakdown_table(
            runs, quiet, loud, lambda c: c.steps, [float(s) for s in INTERVALS], "interval"
        )
    )
    print("\n## Fleet by shape\n")
    print(breakdown_table(runs, quiet, loud, lambda c: c.shapes, list(SHAPES), "shape"))
    print("\n## Fleet incidents by kind\n")
    print(kind_table(runs, loud))
    print(
        "\n## Incident state on the incident fleet (targets: median coverage >= "
        f"{TARGETS['median_coverage']}, <= {TARGETS['alerts_per_detected']} alerts per detected "
        "incident, resolved within max(10 min, 2 samples) after it ends)\n"
    )
    print(incident_table(runs, loud))
    print(
        "\n(per detected window; the resolve delay is counted from the incident's end, 2 "
        "samples before its window's)\n"
    )
    choosers = {c.name: [c] for c in corpora if c.name in CHOOSERS}
    choosers["fleet"] = [quiet, loud]
    for detector, values, knob in (
        ("Lookout", thresholds, "threshold"),
        ("baseline", _floats(args.z), "|z| threshold"),
    ):
        if len(values) > 1:
            log(f"leave one corpus out: {detector} {knob}")
            print(f"## Leave one corpus out: {detector} {knob} from {values}\n")
            print(leave_one_out(runs, choosers, detector, values))
            print(
                "\n(each row: the value its corpus chose by event F1, reported on every corpus)\n"
            )
    print(f"_{time.perf_counter() - started:.0f} s, {args.threads} scoring thread(s)_")
    return 0


if __name__ == "__main__":
    sys.exit(main())
