"""A detector's results: what paged, and against labeled windows, NAB scores and metrics.

The glue behind ``lookout evaluate`` and ``lookout report``. :func:`load_result_set` reads a
results folder (a ``lookout replay`` output folder, or a NAB results folder whose files carry a
``<detector>_`` prefix), pairs it with the data files it was made from when given (and checks
that they match), splits long-format files into their series and finds each series' labels
(:func:`match_labels`); :func:`evaluate_results` then computes:

* what paged, labels or not: every alert and the alerts per day of every series
  (:mod:`sim.pages`);
* on the labelled series, the NAB normalized score per cost profile, in one of three modes:
  ``optimized`` (NAB's threshold sweep, per profile), ``fixed`` (one given threshold) or
  ``alert`` (the 0/1 ``alert`` column scored directly, i.e. what the alert policy actually
  paged);
* on the labelled series, point-wise and event-wise classification metrics
  (:mod:`sim.classification`) twice: on the ``alert`` column, and on
  ``anomaly_score >= threshold``. That threshold is, in order: the one an :mod:`~sim.thresholds`
  objective picks (``max-f1``, ``recall:R``, ``fp-per-day:N``), the fixed threshold, or the
  threshold NAB's sweep found best for the first profile (``standard``).

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
    Window,
    labels_from_windows,
    load_profiles,
    load_windows,
    match_result_files,
    read_timeseries,
)
from sim.nab_scoring import detection_scores, nab_scores
from sim.pages import alert_table, pages_per_day
from sim.thresholds import MaxF1, MaxFalseAlertsPerDay, MinRecall, Objective, tune_threshold

__all__ = [
    "BUNDLED_PROFILES",
    "SERIES_SEPARATOR",
    "SNAPSHOT_FILES",
    "Evaluation",
    "EvaluationError",
    "ResultSet",
    "describe_objective",
    "evaluate_results",
    "find_state_snapshot",
    "load_profiles",
    "load_result_set",
    "match_labels",
    "parse_objective",
    "report_frames",
]

BUNDLED_PROFILES = Path(str(resources.files("sim") / "data" / "nab_profiles.json"))
# What a results folder may hold as a detector state snapshot, first found wins.
SNAPSHOT_FILES = ("state_snapshot.json", "state_snapshot.bin")
# A result file sharing fewer of its timestamps with its data file was made from other data.
MIN_SHARED_TIMESTAMPS = 0.5
MAX_LISTED_FILES = 10
# CSV files ``lookout report`` writes, never read back as results.
REPORT_CSV_FILES = ("top_anomalies.csv", "alerts.csv", "pages.csv")


class EvaluationError(ValueError):
    """Results, data and labels that cannot be evaluated together; the message says why."""


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED_FILES])
    more = len(names) - MAX_LISTED_FILES
    return shown + (f" and {more} more" if more > 0 else "")


# --- loading ------------------------------------------------------------------------------------

# A long-format result file holds several series; each is named ``<file>::<series>``.
SERIES_SEPARATOR = "::"


@dataclasses.dataclass(frozen=True, eq=False)
class ResultSet:
    """Result frames, one per series, with the label windows of the series that have labels.

    Attributes
    ----------
    results
        Per series, the result rows: ``timestamp``, ``value`` (taken from the data file when
        the results lack it), ``anomaly_score``, and ``alert`` when the results carry it. A
        series is named by its result file's relative path, and by ``<path>::<series>`` when
        the file is in long format.
    windows
        Label windows of the labelled series only (an empty list: labelled, no incident). A
        series missing here is unlabeled: it pages, but is left out of the scores.
    missing
        Data files without a result file (only when they were allowed).
    n_files
        Result files read.
    """

    results: dict[str, pd.DataFrame]
    windows: dict[str, list[Window]]
    missing: tuple[str, ...] = ()
    n_files: int = 0

    @property
    def has_alerts(self) -> bool:
        """Whether every result carries the ``alert`` column (NAB's reference results do not)."""
        return all("alert" in frame for frame in self.results.values())

    @property
    def has_labels(self) -> bool:
        """Whether some series have labels (then scores can be computed on them)."""
        return bool(self.windows)

    def scored_series(self) -> list[ScoredSeries]:
        """One :class:`~sim.classification.ScoredSeries` per labelled series, alerts included
        if present."""
        return [
            ScoredSeries(
                frame["timestamp"],
                labels=labels_from_windows(frame["timestamp"], self.windows[name]),
                scores=frame["anomaly_score"],
                detections=frame["alert"].fillna(0) > 0 if "alert" in frame else None,
                name=name,
            )
            for name, frame in self.results.items()
            if name in self.windows
        ]


def _is_csv(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and (name.endswith(".csv") or name.endswith(".csv.gz"))


def _without_gz(relpath: str) -> str:
    return relpath[:-3] if relpath.lower().endswith(".gz") else relpath


def _data_files(data_root: Path) -> dict[str, Path]:
    """The data files under a folder (``.csv`` and ``.csv.gz``, any case) by the relative path
    their results take (``lookout replay`` drops ``.gz``)."""
    return {
        _without_gz(path.relative_to(data_root).as_posix()): path
        for path in sorted(data_root.rglob("*"))
        if _is_csv(path)
    }


def _read_result(path: Path) -> pd.DataFrame:
    try:
        frame = read_timeseries(path)
    except (ValueError, KeyError, pd.errors.ParserError) as exc:
        raise EvaluationError(f"{path}: not a result CSV with a timestamp column ({exc})") from exc
    if "anomaly_score" not in frame:
        raise EvaluationError(
            f"{path}: no anomaly_score column (found {', '.join(map(str, frame.columns))})"
        )
    return frame


def _paired(relpath: str, path: Path, frame: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
    """A result checked against its data file, with the data's values if it has none."""
    shared = frame["timestamp"].isin(data["timestamp"]).mean() if len(frame) else 0.0
    if shared < MIN_SHARED_TIMESTAMPS:
        raise EvaluationError(
            f"{path} does not match its data file {relpath}: only {shared:.0%} of its "
            "timestamps appear in the data; were the results made from other data?"
        )
    if "value" not in frame:
        if "series" in frame:
            raise EvaluationError(f"{path}: a long-format result needs its value column")
        if len(frame) == len(data):
            frame["value"] = data["value"].to_numpy()
        else:
            by_time = data.drop_duplicates("timestamp", keep="last").set_index("timestamp")
            frame["value"] = frame["timestamp"].map(by_time["value"])
    return frame


def _series_frames(relpath: str, frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One frame per series: the file itself, or each series of a long-format file."""
    if "series" not in frame:
        return {relpath: frame}
    return {
        f"{relpath}{SERIES_SEPARATOR}{series}": part.drop(columns="series").reset_index(drop=True)
        for series, part in frame.groupby(frame["series"].astype(str), sort=True)
    }


def _key_rank(key_path: str, key_series: str | None, path: str, series: str | None) -> int | None:
    """How well a label key names a series: 0 exactly, 1 as its whole file, 2 as its file from
    a subfolder or a parent folder, None not at all."""
    if key_path == path:
        return 0 if key_series == series else 1 if key_series is None else None
    nested = path.endswith("/" + key_path) or key_path.endswith("/" + path)
    return 2 if nested and key_series in (None, series) else None


def match_labels(names: list[str], windows: Mapping[str, list[Window]]) -> dict[str, list[Window]]:
    """The windows of each series that a key of the label file names.

    A key names a series by its result path (``cat/a.csv``; ``.gz`` may be kept), a series of a
    long-format file by ``<path>::<series>``, or every series of that file by ``<path>``. A key
    may be written relative to a subfolder (``a.csv`` for ``cat/a.csv``: labels kept beside a
    subfolder's data) or from a parent folder, as long as it names one file. The exact key wins.

    Examples
    --------
    >>> window = [(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02"))]
    >>> labels = match_labels(["web/a.csv", "web/b.csv", "db/m.csv::cpu"],
    ...                       {"a.csv.gz": window, "db/m.csv": []})
    >>> {name: len(spans) for name, spans in labels.items()}
    {'web/a.csv': 1, 'db/m.csv::cpu': 0}
    """
    keys = []
    for key in windows:
        path, separator, series = key.partition(SERIES_SEPARATOR)
        keys.append((key, _without_gz(path), series if separator else None))
    matched: dict[str, list[Window]] = {}
    files_of_key: dict[str, set[str]] = {}
    for name in names:
        path, separator, series = name.partition(SERIES_SEPARATOR)
        series = series if separator else None
        ranked = [(_key_rank(kp, ks, path, series), key) for key, kp, ks in keys]
        for rank in range(3):
            found = [key for key_rank, key in ranked if key_rank == rank]
            if len(found) > 1:
                raise EvaluationError(f"several label keys name {name}: {', '.join(found)}")
            if found:
                matched[name] = windows[found[0]]
                files_of_key.setdefault(found[0], set()).add(path)
                break
    for key, files in files_of_key.items():
        if len(files) > 1:
            raise EvaluationError(
                f"label key {key!r} names several files ({_listing(sorted(files))}); write "
                "its path as in the results folder"
            )
    return matched


def _result_files(results_root: Path, data_root: Path | None, allow_missing: bool):
    """``{relpath: result path}`` and the data files left out; with ``data_root``, paired
    with the data files' paths too."""
    if data_root is None:
        found = {
            path.relative_to(results_root).as_posix(): path
            for path in sorted(results_root.rglob("*"))
            if _is_csv(path) and path.name not in REPORT_CSV_FILES
        }
        if not found:
            raise EvaluationError(f"no result CSV files under {results_root}")
        return found, {}, []
    if not data_root.is_dir():
        raise EvaluationError(f"data folder not found: {data_root}")
    data_files = _data_files(data_root)
    if not data_files:
        raise EvaluationError(f"no CSV data files under {data_root}")
    relpaths = sorted(data_files)
    try:
        matched = match_result_files(results_root, relpaths)
    except ValueError as exc:
        raise EvaluationError(str(exc)) from exc
    if not matched:
        found = sorted(p.relative_to(results_root).as_posix() for p in results_root.rglob("*.csv"))
        raise EvaluationError(
            f"no result file under {results_root} matches a data file under {data_root}; "
            f"expected e.g. {relpaths[0]} (or <category>/<detector>_<file>.csv); "
            f"found {_listing(found) if found else 'no CSV files'}. "
            "Pass --data with the folder that was replayed."
        )
    missing = [relpath for relpath in relpaths if relpath not in matched]
    if missing and not allow_missing:
        raise EvaluationError(
            f"{len(missing)} of {len(relpaths)} data files under {data_root} have no result "
            f"file under {results_root}: {_listing(missing)}. Replay them, point --data at the "
            "folder that was replayed, or pass --allow-missing to evaluate the matched files only."
        )
    return matched, data_files, missing


def load_result_set(
    results_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    windows_path: str | os.PathLike | None = None,
    allow_missing: bool = False,
) -> ResultSet:
    """Read the results under ``results_dir``, paired with their data files and labels if given.

    Parameters
    ----------
    results_dir
        A ``lookout replay`` output folder (``<relpath>`` per data file, ``.gz`` dropped) or a
        NAB results folder (``<category>/<detector>_<file>.csv``).
    data_dir
        The data folder that was replayed (``.csv`` or ``.csv.gz`` files, one series per file
        or long format). Without it, every result CSV under ``results_dir`` is read on its own
        (replay results carry their values).
    windows_path
        Label file: ``{"<relpath>": [[start, end], ...]}`` as NAB's ``combined_windows.json``
        (see :func:`match_labels` for the keys). Without it, no series is labelled.
    allow_missing
        Evaluate only the data files that have a result file instead of raising. NAB scores
        are then normalized over those files only.

    Raises
    ------
    EvaluationError
        A folder or file is missing, no result matches, some data files lack results (unless
        ``allow_missing``), a result file lacks ``anomaly_score`` or was made from other data,
        or the label file labels none of the series, or labels no incident in them.
    """
    results_root = Path(results_dir)
    if not results_root.is_dir():
        raise EvaluationError(f"results folder not found: {results_root}")
    windows: dict[str, list[Window]] = {}
    if windows_path is not None:
        try:
            windows = load_windows(windows_path)
        except FileNotFoundError as exc:
            raise EvaluationError(str(exc)) from exc
        except (ValueError, TypeError, AttributeError) as exc:
            raise EvaluationError(f"{windows_path}: not a NAB label file ({exc})") from exc
    data_root = None if data_dir is None else Path(data_dir)
    files, data_files, missing = _result_files(results_root, data_root, allow_missing)

    results: dict[str, pd.DataFrame] = {}
    for relpath, path in files.items():
        frame = _read_result(path)
        if relpath in data_files:
            frame = _paired(relpath, path, frame, read_timeseries(data_files[relpath]))
        elif "value" not in frame:
            raise EvaluationError(f"{path}: no value column; pass --data with the replayed data")
        results.update(_series_frames(relpath, frame))

    labeled = match_labels(list(results), windows)
    if windows and not labeled:
        where = data_root if data_root is not None else results_root
        raise EvaluationError(
            f"{windows_path} labels none of the data files under {where} "
            f"(e.g. {next(iter(results))}); pass --windows with their label file"
        )
    if labeled and not any(labeled.values()):
        raise EvaluationError(
            f"{windows_path} has no incident window in the evaluated files: NAB scores and recall "
            "are undefined"
        )
    return ResultSet(results, labeled, tuple(missing), n_files=len(files))


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


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-able rows: times as ISO 8601, durations in seconds, NaN as None."""
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    for row in rows:
        for key, value in row.items():
            if isinstance(value, pd.Timestamp):
                row[key] = value.isoformat()
            elif isinstance(value, pd.Timedelta):
                row[key] = value.total_seconds()
    return rows


# Alerts listed by ``Evaluation.format``; the JSON and the report list them all.
MAX_LISTED_ALERTS = 20


@dataclasses.dataclass(frozen=True, eq=False)
class Evaluation:
    """What paged, and with labels, NAB scores and classification metrics of one result set.

    Attributes
    ----------
    alerts, pages
        Every alert (:func:`sim.pages.alert_table`) and the alerts per day of every series
        (:func:`sim.pages.pages_per_day`); they need no labels.
    nab
        Per profile: ``score`` (normalized), ``raw_score``, ``threshold`` (None in ``alert``
        mode) and ``mode`` (``optimized``, ``fixed`` or ``alert``). Empty without labels.
    alert_report
        Metrics of the ``alert`` column; None when the results carry none, or without labels.
    score_report
        Metrics of ``anomaly_score >= score_threshold``; None without labels.
    score_threshold, threshold_source
        The threshold behind ``score_report`` and where it comes from (None without labels
        unless a threshold was given).
    n_files, missing
        Result files evaluated, and data files left out for lack of results.
    n_series, n_labeled
        Series read (a long-format file holds several), and how many of them have labels.
    objective, objective_met
        The objective that chose ``score_threshold``, as written to ``parse_objective``, and
        whether that threshold meets it (False: no threshold does; the closest was taken).
    """

    nab: dict[str, dict[str, Any]]
    alert_report: ClassificationReport | None
    score_report: ClassificationReport | None
    score_threshold: float | None
    threshold_source: str | None
    n_files: int
    missing: tuple[str, ...] = ()
    objective: str | None = None
    objective_met: bool | None = None
    n_series: int = 0
    n_labeled: int = 0
    alerts: pd.DataFrame = dataclasses.field(default_factory=lambda: alert_table({}))
    pages: pd.DataFrame = dataclasses.field(
        default_factory=lambda: pages_per_day({}, alert_table({}))
    )

    @property
    def has_labels(self) -> bool:
        return self.score_report is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``nab``, ``classification`` (``alert``, ``score``), ``objective``, files,
        ``series``, ``labeled_series``, ``pages`` and ``alerts`` (durations in seconds)."""
        document: dict[str, Any] = {"nab": self.nab}
        if self.score_report is None:
            document["classification"] = None
        else:
            score = {
                "threshold": self.score_threshold,
                "threshold_source": self.threshold_source,
                **_report_dict(self.score_report),
            }
            document["classification"] = {
                "alert": None if self.alert_report is None else _report_dict(self.alert_report),
                "score": score,
            }
        if self.objective is not None:
            document["objective"] = {
                "name": self.objective,
                "threshold": self.score_threshold,
                "met": self.objective_met,
            }
        document["files"] = self.n_files
        document["missing_files"] = list(self.missing)
        document["series"] = self.n_series
        document["labeled_series"] = self.n_labeled
        document["pages"] = _records(self.pages)
        document["alerts"] = _records(self.alerts)
        return document

    def format_pages(self) -> str:
        """Text tables: alerts per day per series, then the first alerts."""
        lines = [
            f"Pages (the alert column: {len(self.alerts)} alerts in {self.n_series} series)",
            f"{'series':<44}{'days':>7}{'alerts':>8}{'per day':>9}{'hours alerting':>16}",
        ]
        for row in self.pages.itertuples(index=False):
            per_day = "-" if pd.isna(row.pages_per_day) else f"{row.pages_per_day:.2f}"
            lines.append(
                f"{row.series:<44}{row.days:7.2f}{row.alerts:8d}{per_day:>9}"
                f"{row.hours_alerting:16.2f}"
            )
        if len(self.alerts):
            shown = self.alerts.head(MAX_LISTED_ALERTS)
            lines += [
                "",
                f"{'series':<44}{'start':<21}{'duration':>10}{'peak':>7}{'actual':>12}"
                f"{'expected':>12}  label",
            ]
            labels = {True: "incident", False: "false alert"}
            for row in shown.itertuples(index=False):
                minutes = row.duration / pd.Timedelta(minutes=1)
                lines.append(
                    f"{row.series:<44}{row.start.strftime('%Y-%m-%d %H:%M:%S'):<21}"
                    f"{minutes:9.0f}m{row.peak_score:7.3f}{row.actual:12.5g}{row.expected:12.5g}"
                    f"  {labels.get(row.incident, '-')}"
                )
            if len(self.alerts) > len(shown):
                lines.append(f"... {len(self.alerts) - len(shown)} more (--json, or the report)")
        return "\n".join(lines)

    def format(self) -> str:
        """Text tables: NAB scores, then metrics on alerts and on thresholded scores (with
        labels), then what paged."""
        if not self.has_labels:
            summary = f"{self.n_files} files, {self.n_series} series evaluated, none labelled"
            return "\n".join(
                [
                    "No labels: NAB scores, precision and recall need labelled windows "
                    "(--windows); what paged follows.",
                    "",
                    self.format_pages(),
                    "",
                    summary,
                ]
            )
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
            "",
            self.format_pages(),
        ]
        summary = f"{self.n_files} files evaluated"
        if self.n_labeled < self.n_series:
            summary += f"; {self.n_labeled} of {self.n_series} series labelled (scores on those)"
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
    if not result_set.has_labels:
        if objective is not None:
            raise EvaluationError(
                f"objective {describe_objective(objective)} needs labelled windows (--windows)"
            )
        return _evaluation_of_pages(result_set, threshold)

    results = _nan_free({name: result_set.results[name] for name in result_set.windows})
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
    paged = _evaluation_of_pages(result_set, threshold)
    return dataclasses.replace(
        paged,
        nab=nab,
        alert_report=evaluate(series) if result_set.has_alerts else None,
        score_report=evaluate(series, threshold),
        score_threshold=float(threshold),
        threshold_source=source,
        objective=None if objective is None else describe_objective(objective),
        objective_met=None if objective is None else choice.met,
    )


def _evaluation_of_pages(result_set: ResultSet, threshold: float | None) -> Evaluation:
    """The part of an evaluation that needs no labels: what paged."""
    frames = report_frames(result_set, threshold)
    alerts = alert_table(frames, result_set.windows)
    return Evaluation(
        nab={},
        alert_report=None,
        score_report=None,
        score_threshold=threshold,
        threshold_source=None if threshold is None else "given threshold",
        n_files=result_set.n_files,
        missing=result_set.missing,
        n_series=len(result_set.results),
        n_labeled=len(result_set.windows),
        alerts=alerts,
        pages=pages_per_day(frames, alerts, result_set.windows),
    )


def report_frames(result_set: ResultSet, threshold: float | None) -> dict[str, pd.DataFrame]:
    """Result frames ready for :func:`sim.report.write_report` and :mod:`sim.pages`.

    Results without an ``alert`` column (NAB reference results) get one from
    ``anomaly_score >= threshold`` when there is a threshold, so the report's alerts and
    confusion matrix show that threshold.
    """
    if result_set.has_alerts or threshold is None:
        return dict(result_set.results)
    return {
        name: frame.assign(alert=(frame["anomaly_score"] >= threshold).astype(int))
        if "alert" not in frame
        else frame
        for name, frame in result_set.results.items()
    }
