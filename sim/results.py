"""Results folders: the result series they hold, paired with data files and labels.

:func:`load_result_set` reads a results folder (a ``lookout replay`` output folder, or a NAB
results folder whose files carry a ``<detector>_`` prefix), pairs it with the data files it was
made from when given (and checks that they match), splits long-format files into their series
(``<file>::<series>``) and finds each series' label windows (:func:`match_labels`). Series no
label names are unlabeled: they page, and are left out of every score.

Every result frame carries ``anomaly_score`` (continuous: what ROC and PR curves rank by, and
what a threshold is applied to) and ``onset_score`` (what NAB's scorer rewards: the score where an
incident starts, 0 elsewhere), read from any of three layouts (:func:`score_columns`): Lookout's
(both columns), Lookout's before ``onset_score`` (onsets in ``anomaly_score``, the continuous
score in ``combined_score``) and another detector's (NAB's reference results: one
``anomaly_score``, which is then both).

Errors that come from the inputs (a results folder that does not match the data, missing
columns, labels for other files) are raised as :class:`EvaluationError` with a message meant for
the person who ran the command.

Examples
--------
>>> import tempfile
>>> stamps = pd.date_range("2024-01-01", periods=3, freq="min")
>>> rows = pd.DataFrame({"series": ["a", "b", "a"], "timestamp": stamps, "value": [1.0, 2, 3],
...                      "anomaly_score": 0.0, "alert": 0})
>>> with tempfile.TemporaryDirectory() as tmp:
...     rows.to_csv(Path(tmp) / "hosts.csv", index=False)
...     result_set = load_result_set(tmp)
>>> {name: len(frame) for name, frame in result_set.results.items()}, result_set.has_labels
({'hosts.csv::a': 2, 'hosts.csv::b': 1}, False)

"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from sim.classification import ScoredSeries
from sim.nab_corpus import (
    Window,
    labels_from_windows,
    load_windows,
    match_result_files,
    read_timeseries,
)
from sim.nab_scoring import ONSET_SCORE

__all__ = [
    "EvaluationError",
    "ONSET_SCORE",
    "ResultSet",
    "SERIES_SEPARATOR",
    "SNAPSHOT_FILES",
    "find_state_snapshot",
    "load_result_set",
    "match_labels",
    "score_columns",
]

# What a results folder may hold as a detector state snapshot, first found wins.
SNAPSHOT_FILES = ("state_snapshot.json", "state_snapshot.bin")
# A result file sharing fewer of its timestamps with its data file was made from other data.
MIN_SHARED_TIMESTAMPS = 0.5
MAX_LISTED_FILES = 10
# CSV files ``lookout report`` writes, never read back as results.
REPORT_CSV_FILES = ("top_anomalies.csv", "alerts.csv", "pages.csv")


class EvaluationError(ValueError):
    """Results, data and labels that cannot be evaluated together; the message says why."""


# The continuous score's column in Lookout's result files before ONSET_SCORE existed.
_OLD_CONTINUOUS = "combined_score"


def score_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a continuous ``anomaly_score`` and an ``onset_score``, from any layout.

    Examples
    --------
    Lookout's before ``onset_score``, and another detector's:

    >>> old = pd.DataFrame({"anomaly_score": [0.0, 0.6, 0.0], "combined_score": [0.1, 0.6, 0.4]})
    >>> score_columns(old)
       anomaly_score  onset_score
    0            0.1          0.0
    1            0.6          0.6
    2            0.4          0.0
    >>> score_columns(pd.DataFrame({"anomaly_score": [0.2, 0.7]}))["onset_score"].tolist()
    [0.2, 0.7]
    """
    if ONSET_SCORE in frame:
        return frame
    if _OLD_CONTINUOUS in frame:
        onsets = frame["anomaly_score"]
        frame = frame.drop(columns=_OLD_CONTINUOUS).assign(anomaly_score=frame[_OLD_CONTINUOUS])
        return frame.assign(onset_score=onsets)
    return frame.assign(onset_score=frame["anomaly_score"])


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
        the results lack it), ``anomaly_score`` and ``onset_score`` (:func:`score_columns`),
        and ``alert`` when the results carry it. A
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
    return score_columns(frame)


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
