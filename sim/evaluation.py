"""A detector's results against labeled windows: NAB scores and classification metrics together.

The glue behind ``lookout evaluate`` and ``lookout report``. :func:`load_result_set` pairs every
data file of a NAB-style folder with its result file (a ``lookout replay`` output folder, or a
NAB results folder whose files carry a ``<detector>_`` prefix) and checks that they match;
:func:`evaluate_results` then computes:

* the NAB normalized score per cost profile, in one of three modes: ``optimized`` (NAB's
  threshold sweep, per profile), ``fixed`` (one given threshold) or ``alert`` (the 0/1 ``alert``
  column scored directly, i.e. what the alert policy actually paged);
* point-wise and event-wise classification metrics (:mod:`sim.classification`) twice: on the
  ``alert`` column, and on ``anomaly_score >= threshold``. That threshold is, in order: the one
  an :mod:`~sim.thresholds` objective picks (``max-f1``, ``recall:R``, ``fp-per-day:N``), the
  fixed threshold, or the threshold NAB's sweep found best for the first profile (``standard``).

Missing scores (NaN) never count as a detection.

Errors that come from the inputs (a results folder that does not match the data, missing
columns, labels for other files) are raised as :class:`EvaluationError` with a message meant for
the person who ran the command.

Examples
--------
>>> import tempfile
>>> import numpy as np
>>> stamps = pd.date_range("2024-01-01", periods=200, freq="5min")
>>> scores = np.where(np.arange(200) == 150, 0.9, 0.1)  # 12:30, the start of the window
>>> results = pd.DataFrame({"timestamp": stamps, "anomaly_score": scores, "alert": scores > 0.5})
>>> with tempfile.TemporaryDirectory() as tmp:
...     root = Path(tmp)
...     for folder in ("data/cat", "results/cat"):
...         (root / folder).mkdir(parents=True)
...     results.assign(value=1.0).drop(columns=["anomaly_score", "alert"]).to_csv(
...         root / "data/cat/a.csv", index=False)
...     results.astype({"alert": int}).to_csv(root / "results/cat/a.csv", index=False)
...     _ = (root / "windows.json").write_text(
...         '{"cat/a.csv": [["2024-01-01 12:30:00", "2024-01-01 12:50:00"]]}')
...     result_set = load_result_set(root / "results", root / "data", root / "windows.json")
>>> evaluation = evaluate_results(result_set, load_profiles(BUNDLED_PROFILES))
>>> evaluation.nab["standard"]["score"], evaluation.nab["standard"]["mode"]
(100.0, 'optimized')
>>> evaluation.alert_report.event_recall, evaluation.score_threshold
(1.0, 0.9)

"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from sim.classification import ClassificationReport, ScoredSeries, evaluate
from sim.nab_corpus import (
    CostProfile,
    NabCorpus,
    Window,
    labels_from_windows,
    load_profiles,
    load_windows,
    match_result_files,
    read_timeseries,
)
from sim.nab_scoring import detection_scores, nab_scores
from sim.thresholds import MaxF1, MaxFalseAlertsPerDay, MinRecall, Objective, tune_threshold

__all__ = [
    "BUNDLED_PROFILES",
    "SNAPSHOT_FILES",
    "Evaluation",
    "EvaluationError",
    "ResultSet",
    "describe_objective",
    "evaluate_results",
    "find_state_snapshot",
    "load_profiles",
    "load_result_set",
    "parse_objective",
    "report_frames",
]

BUNDLED_PROFILES = Path(str(resources.files("sim") / "data" / "nab_profiles.json"))
# What a results folder may hold as a detector state snapshot, first found wins.
SNAPSHOT_FILES = ("state_snapshot.json", "state_snapshot.bin")
# A result file sharing fewer of its timestamps with its data file was made from other data.
MIN_SHARED_TIMESTAMPS = 0.5
MAX_LISTED_FILES = 10


class EvaluationError(ValueError):
    """Results, data and labels that cannot be evaluated together; the message says why."""


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED_FILES])
    more = len(names) - MAX_LISTED_FILES
    return shown + (f" and {more} more" if more > 0 else "")


# --- loading ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class ResultSet:
    """Result frames paired with their data files' label windows, keyed by data relative path.

    Attributes
    ----------
    results
        Per data file, the result rows: ``timestamp``, ``value`` (taken from the data file when
        the results lack it), ``anomaly_score``, and ``alert`` when the results carry it.
    windows
        Label windows per data file (empty list: no incident in that file).
    missing
        Data files without a result file (only when they were allowed).
    """

    results: dict[str, pd.DataFrame]
    windows: dict[str, list[Window]]
    missing: tuple[str, ...] = ()

    @property
    def has_alerts(self) -> bool:
        """Whether every result carries the ``alert`` column (NAB's reference results do not)."""
        return all("alert" in frame for frame in self.results.values())

    def scored_series(self) -> list[ScoredSeries]:
        """One :class:`~sim.classification.ScoredSeries` per file, alerts included if present."""
        return [
            ScoredSeries(
                frame["timestamp"],
                labels=labels_from_windows(frame["timestamp"], self.windows[relpath]),
                scores=frame["anomaly_score"],
                detections=frame["alert"].fillna(0) > 0 if "alert" in frame else None,
                name=relpath,
            )
            for relpath, frame in self.results.items()
        ]


def _read_result(relpath: str, path: Path, data: pd.DataFrame) -> pd.DataFrame:
    try:
        frame = read_timeseries(path)
    except (ValueError, KeyError, pd.errors.ParserError) as exc:
        raise EvaluationError(f"{path}: not a result CSV with a timestamp column ({exc})") from exc
    if "anomaly_score" not in frame:
        raise EvaluationError(
            f"{path}: no anomaly_score column (found {', '.join(map(str, frame.columns))})"
        )
    if "series" in frame and frame["series"].nunique() > 1:
        raise EvaluationError(
            f"{path}: holds several series (long format); evaluation needs one series per file, "
            "as in NAB's layout"
        )
    shared = frame["timestamp"].isin(data["timestamp"]).mean() if len(frame) else 0.0
    if shared < MIN_SHARED_TIMESTAMPS:
        raise EvaluationError(
            f"{path} does not match its data file {relpath}: only {shared:.0%} of its "
            "timestamps appear in the data; were the results made from other data?"
        )
    if "value" not in frame:
        if len(frame) == len(data):
            frame["value"] = data["value"].to_numpy()
        else:
            by_time = data.drop_duplicates("timestamp", keep="last").set_index("timestamp")
            frame["value"] = frame["timestamp"].map(by_time["value"])
    return frame


def load_result_set(
    results_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    windows_path: str | os.PathLike,
    allow_missing: bool = False,
) -> ResultSet:
    """Pair the data files under ``data_dir`` with their results under ``results_dir``.

    Parameters
    ----------
    results_dir
        A ``lookout replay`` output folder (``<relpath>`` per data file) or a NAB results folder
        (``<category>/<detector>_<file>.csv``).
    data_dir
        NAB-style data folder: ``<category>/<file>.csv`` with ``timestamp,value``.
    windows_path
        NAB ``combined_windows.json`` keyed by the data files' relative paths.
    allow_missing
        Evaluate only the data files that have a result file instead of raising. NAB scores
        are then normalized over those files only.

    Raises
    ------
    EvaluationError
        A folder or file is missing, no result matches, some data files lack results (unless
        ``allow_missing``), a result file lacks ``anomaly_score`` or was made from other data,
        or the label file labels none of the matched files.
    """
    results_root, data_root = Path(results_dir), Path(data_dir)
    if not results_root.is_dir():
        raise EvaluationError(f"results folder not found: {results_root}")
    try:
        corpus = NabCorpus(data_root, load_windows(windows_path))
    except FileNotFoundError as exc:
        raise EvaluationError(str(exc)) from exc
    except (ValueError, TypeError) as exc:
        raise EvaluationError(f"{windows_path}: not a NAB label file ({exc})") from exc
    if not len(corpus):
        raise EvaluationError(f"no CSV data files under {data_root}")
    try:
        matched = match_result_files(results_root, corpus.relpaths)
    except ValueError as exc:
        raise EvaluationError(str(exc)) from exc

    if not matched:
        found = sorted(p.relative_to(results_root).as_posix() for p in results_root.rglob("*.csv"))
        raise EvaluationError(
            f"no result file under {results_root} matches a data file under {data_root}; "
            f"expected e.g. {corpus.relpaths[0]} (or <category>/<detector>_<file>.csv); "
            f"found {_listing(found) if found else 'no CSV files'}. "
            "Pass --data with the folder that was replayed."
        )
    missing = [relpath for relpath in corpus.relpaths if relpath not in matched]
    if missing and not allow_missing:
        raise EvaluationError(
            f"{len(missing)} of {len(corpus)} data files under {data_root} have no result file "
            f"under {results_root}: {_listing(missing)}. Replay them, point --data at the folder "
            "that was replayed, or pass --allow-missing to evaluate the matched files only."
        )
    labeled = [relpath for relpath in matched if relpath in corpus.windows]
    if not labeled:
        raise EvaluationError(
            f"{windows_path} labels none of the data files under {data_root} "
            f"(e.g. {next(iter(matched))}); pass --windows with their label file"
        )
    results = {
        relpath: _read_result(relpath, path, corpus.frame(relpath))
        for relpath, path in matched.items()
    }
    windows = {relpath: corpus.windows_of(relpath) for relpath in results}
    if not any(windows.values()):
        raise EvaluationError(
            f"{windows_path} has no incident window in the evaluated files: NAB scores and recall "
            "are undefined"
        )
    return ResultSet(results, windows, tuple(missing))


def find_state_snapshot(results_dir: str | os.PathLike) -> bytes | dict | None:
    """The detector state snapshot saved in a results folder, if any (see ``SNAPSHOT_FILES``).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     print(find_state_snapshot(tmp))
    ...     _ = (Path(tmp) / "state_snapshot.json").write_text('{"points": 3}')
    ...     print(find_state_snapshot(tmp))
    None
    {'points': 3}
    """
    for name in SNAPSHOT_FILES:
        path = Path(results_dir) / name
        if path.is_file():
            return json.loads(path.read_text()) if name.endswith(".json") else path.read_bytes()
    return None


# --- objectives ---------------------------------------------------------------------------------


def parse_objective(text: str) -> Objective:
    """Read a business objective: ``max-f1``, ``recall:R`` or ``fp-per-day:N``.

    ``max-f1`` maximises event-wise F1; ``recall:R`` is the highest threshold still catching a
    share ``R`` of the incidents; ``fp-per-day:N`` the lowest threshold keeping false pages
    within ``N`` a day (see :mod:`sim.thresholds`).

    Examples
    --------
    >>> parse_objective("recall:0.9")
    MinRecall(recall=0.9, kind='event')
    >>> describe_objective(parse_objective("fp-per-day:2"))
    'fp-per-day:2'
    >>> parse_objective("cheap")
    Traceback (most recent call last):
    ...
    ValueError: unknown objective 'cheap'; use max-f1, recall:R (0..1) or fp-per-day:N
    """
    name, _, argument = text.strip().partition(":")
    try:
        if name == "max-f1" and not argument:
            return MaxF1()
        if name == "recall" and argument:
            return MinRecall(float(argument))
        if name == "fp-per-day" and argument:
            return MaxFalseAlertsPerDay(float(argument))
    except ValueError as exc:
        raise ValueError(f"bad objective {text!r}: {exc}") from exc
    raise ValueError(f"unknown objective {text!r}; use max-f1, recall:R (0..1) or fp-per-day:N")


def describe_objective(objective: Objective) -> str:
    """The ``parse_objective`` spelling of an objective."""
    if isinstance(objective, MinRecall):
        return f"recall:{objective.recall:g}"
    if isinstance(objective, MaxFalseAlertsPerDay):
        return f"fp-per-day:{objective.alerts_per_day:g}"
    return "max-f1"


# --- evaluation ---------------------------------------------------------------------------------


def _report_dict(report: ClassificationReport) -> dict[str, Any]:
    return {**report.to_dict(), "confusion_matrix": report.confusion_matrix.tolist()}


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """NAB scores and classification metrics of one result set.

    Attributes
    ----------
    nab
        Per profile: ``score`` (normalized), ``raw_score``, ``threshold`` (None in ``alert``
        mode) and ``mode`` (``optimized``, ``fixed`` or ``alert``).
    alert_report
        Metrics of the ``alert`` column; None when the results carry none.
    score_report
        Metrics of ``anomaly_score >= score_threshold``.
    score_threshold, threshold_source
        The threshold behind ``score_report`` and where it comes from.
    n_files, missing
        Files evaluated, and data files left out for lack of results.
    objective
        The objective that chose ``score_threshold``, as written to ``parse_objective``.
    """

    nab: dict[str, dict[str, Any]]
    alert_report: ClassificationReport | None
    score_report: ClassificationReport
    score_threshold: float
    threshold_source: str
    n_files: int
    missing: tuple[str, ...] = ()
    objective: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``nab``, ``classification`` (``alert``, ``score``), ``objective``, files."""
        score = {
            "threshold": self.score_threshold,
            "threshold_source": self.threshold_source,
            **_report_dict(self.score_report),
        }
        document: dict[str, Any] = {
            "nab": self.nab,
            "classification": {
                "alert": None if self.alert_report is None else _report_dict(self.alert_report),
                "score": score,
            },
        }
        if self.objective is not None:
            document["objective"] = {"name": self.objective, "threshold": self.score_threshold}
        document["files"] = self.n_files
        document["missing_files"] = list(self.missing)
        return document

    def format(self) -> str:
        """Text tables: NAB scores, then metrics on alerts and on thresholded scores."""
        lines = [
            "NAB score (0 = detects nothing, 100 = detects every window at its start)",
            f"{'profile':<22}{'score':>8}  {'threshold':>10}  mode",
        ]
        for name, entry in self.nab.items():
            threshold = "-" if entry["threshold"] is None else f"{entry['threshold']:.6g}"
            lines.append(f"{name:<22}{entry['score']:8.2f}  {threshold:>10}  {entry['mode']}")
        lines += ["", "Alerts (the alert column: what pages people)"]
        if self.alert_report is None:
            lines.append("not available: the results carry no alert column")
        else:
            lines.append(self.alert_report.format_table())
        lines += [
            "",
            f"Scores: anomaly_score >= {self.score_threshold:.6g} ({self.threshold_source})",
            self.score_report.format_table(),
        ]
        summary = f"{self.n_files} files evaluated"
        if self.missing:
            summary += f"; {len(self.missing)} data files without results left out"
        lines += ["", summary]
        return "\n".join(lines)


def _nan_free(results: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    # NAB's scorer refuses missing scores; a detector that has not scored has not detected.
    return {
        relpath: frame.assign(anomaly_score=frame["anomaly_score"].fillna(0.0))
        for relpath, frame in results.items()
    }


def evaluate_results(
    result_set: ResultSet,
    profiles: Mapping[str, CostProfile],
    threshold: float | None = None,
    use_alerts: bool = False,
    objective: Objective | None = None,
) -> Evaluation:
    """NAB scores per profile and classification metrics of a :class:`ResultSet`.

    Parameters
    ----------
    result_set
        From :func:`load_result_set`.
    profiles
        NAB cost profiles by name (:func:`~sim.nab_corpus.load_profiles`); the first one
        (``standard`` in NAB's file) supplies the default score threshold.
    threshold
        Score NAB at this fixed threshold instead of optimizing it per profile; also the
        threshold of the score metrics unless ``objective`` is given.
    use_alerts
        Score NAB on the ``alert`` column (what was paged) instead of thresholding scores.
    objective
        Pick the score metrics' threshold with :func:`sim.thresholds.tune_threshold`.

    Raises
    ------
    EvaluationError
        ``use_alerts`` without an alert column, an objective that cannot be met, or no window.
    ValueError
        Both ``threshold`` and ``use_alerts``, or both ``threshold`` and ``objective``.
    """
    if threshold is not None and use_alerts:
        raise ValueError("give a threshold or use the alert column, not both")
    if threshold is not None and objective is not None:
        raise ValueError("give a threshold or an objective, not both")
    if not profiles:
        raise ValueError("no NAB cost profile given")
    if use_alerts and not result_set.has_alerts:
        raise EvaluationError("the results carry no alert column to score (--use-alerts)")

    results = _nan_free(result_set.results)
    windows = result_set.windows
    first_profile = next(iter(profiles))
    try:
        if use_alerts:
            nab = detection_scores(results, windows, profiles, column="alert")
            mode = "alert"
        else:
            nab = nab_scores(results, windows, profiles, threshold=threshold)
            mode = "optimized" if threshold is None else "fixed"
        if threshold is None and objective is None:
            best = (
                nab
                if mode == "optimized"
                else nab_scores(results, windows, {first_profile: profiles[first_profile]})
            )
            threshold = best[first_profile]["threshold"]
            source = f"NAB {first_profile} optimized threshold"
        elif threshold is not None:
            source = "given threshold"
    except ValueError as exc:  # e.g. no window past NAB's probation period
        raise EvaluationError(f"NAB score undefined: {exc}") from exc
    for entry in nab.values():
        entry["mode"] = mode
        if mode == "alert":
            entry["threshold"] = None

    series = result_set.scored_series()
    if objective is not None:
        try:
            choice = tune_threshold(series, objective)
        except ValueError as exc:
            raise EvaluationError(f"objective {describe_objective(objective)}: {exc}") from exc
        threshold = choice.threshold
        source = f"objective {describe_objective(objective)}"
        if not choice.met:
            source += " not met by any threshold that alerts: the strictest one"
    return Evaluation(
        nab=nab,
        alert_report=evaluate(series) if result_set.has_alerts else None,
        score_report=evaluate(series, threshold),
        score_threshold=float(threshold),
        threshold_source=source,
        n_files=len(results),
        missing=result_set.missing,
        objective=None if objective is None else describe_objective(objective),
    )


def report_frames(result_set: ResultSet, threshold: float) -> dict[str, pd.DataFrame]:
    """Result frames ready for :func:`sim.report.write_report`.

    Results without an ``alert`` column (NAB reference results) get one from
    ``anomaly_score >= threshold``, so the report's confusion matrix shows that threshold.
    """
    if result_set.has_alerts:
        return dict(result_set.results)
    return {
        relpath: frame.assign(alert=(frame["anomaly_score"] >= threshold).astype(int))
        for relpath, frame in result_set.results.items()
    }
