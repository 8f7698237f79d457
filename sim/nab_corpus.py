"""The Numenta Anomaly Benchmark (NAB) corpus on disk: data files, label windows, cost profiles
and detector result files.

The layout is NAB's own::

    <nab_dir>/data/<category>/<file>.csv          timestamp,value
    <nab_dir>/labels/combined_windows.json        {"<category>/<file>.csv": [[start, end]]}
    <nab_dir>/profiles.json                       {"standard": {"CostMatrix": {...}}}
    <results>/<category>/<detector>_<file>.csv    timestamp,anomaly_score,...

Every file is keyed by its path relative to the data folder with forward slashes, e.g.
``realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv``, the key NAB uses in its label file.
Nothing here scores anything; `sim.nab_scoring` does.

References
----------
Lavin, A. and Ahmad, S., 2015. Evaluating Real-time Anomaly Detection Algorithms -- the
Numenta Anomaly Benchmark. IEEE ICMLA. https://github.com/numenta/NAB
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "CostProfile",
    "NabCorpus",
    "Window",
    "labels_from_windows",
    "load_profiles",
    "load_results",
    "load_windows",
    "match_result_files",
    "read_timeseries",
]

Window = tuple[pd.Timestamp, pd.Timestamp]


@dataclasses.dataclass(frozen=True)
class CostProfile:
    """Weights of one NAB application profile (NAB calls it a cost matrix).

    Parameters
    ----------
    tp_weight
        Reward for detecting a window at its very start.
    fp_weight
        Cost of a detection far from any window.
    fn_weight
        Cost of a window without any detection.
    tn_weight
        Kept for completeness: NAB reads it but true negatives score zero.

    Examples
    --------
    >>> CostProfile.from_cost_matrix({"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0})
    CostProfile(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0, tn_weight=1.0)
    """

    tp_weight: float = 1.0
    fp_weight: float = 0.11
    fn_weight: float = 1.0
    tn_weight: float = 1.0

    @classmethod
    def from_cost_matrix(cls, cost_matrix: dict[str, float]) -> CostProfile:
        """Build a profile from NAB's ``CostMatrix`` dictionary (camelCase keys)."""
        return cls(
            tp_weight=float(cost_matrix["tpWeight"]),
            fp_weight=float(cost_matrix["fpWeight"]),
            fn_weight=float(cost_matrix["fnWeight"]),
            tn_weight=float(cost_matrix.get("tnWeight", 1.0)),
        )


def load_profiles(path: str | os.PathLike) -> dict[str, CostProfile]:
    """Read NAB's ``profiles.json`` into named cost profiles, in file order.

    Examples
    --------
    >>> import json, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "profiles.json"
    ...     _ = path.write_text(json.dumps({"standard": {"CostMatrix": {
    ...         "tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}}}))
    ...     load_profiles(path)["standard"].fp_weight
    0.11
    """
    with open(path, encoding="utf-8") as file:
        raw = json.load(file)
    return {name: CostProfile.from_cost_matrix(entry["CostMatrix"]) for name, entry in raw.items()}


def load_windows(path: str | os.PathLike) -> dict[str, list[Window]]:
    """Read NAB's ``combined_windows.json``: relative data path -> sorted (start, end) windows.

    Both ends of a window are inclusive and are timestamps of rows of the data file.

    Examples
    --------
    >>> import json, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "windows.json"
    ...     _ = path.write_text(json.dumps({"cat/a.csv": [
    ...         ["2014-04-10 07:15:00.000000", "2014-04-11 16:45:00.000000"]], "cat/b.csv": []}))
    ...     windows = load_windows(path)
    >>> windows["cat/a.csv"]
    [(Timestamp('2014-04-10 07:15:00'), Timestamp('2014-04-11 16:45:00'))]
    >>> windows["cat/b.csv"]
    []
    """
    with open(path, encoding="utf-8") as file:
        raw = json.load(file)
    return {
        relpath: sorted((pd.Timestamp(start), pd.Timestamp(end)) for start, end in limits)
        for relpath, limits in raw.items()
    }


def read_timeseries(path: str | os.PathLike) -> pd.DataFrame:
    """Read a NAB-style CSV (data or detector results) with a parsed ``timestamp`` column.

    Examples
    --------
    >>> import io
    >>> frame = read_timeseries(io.StringIO("timestamp,value\\n2014-02-14 14:30:00,1.5\\n"))
    >>> frame["timestamp"].iloc[0], float(frame["value"].iloc[0])
    (Timestamp('2014-02-14 14:30:00'), 1.5)
    """
    frame = pd.read_csv(path)
    frame["timestamp"] = parse_times(frame["timestamp"])
    return frame


def parse_times(column: pd.Series) -> pd.Series:
    """Datetimes of a timestamp column: ISO 8601 text, or epoch numbers in s, ms, us or ns
    told apart by magnitude as ``lookout replay`` reads them (so results keep their input's
    timestamps as written and still evaluate).

    Examples
    --------
    >>> parse_times(pd.Series([1392388200000, 1392388500000])).tolist()
    [Timestamp('2014-02-14 14:30:00'), Timestamp('2014-02-14 14:35:00')]
    >>> parse_times(pd.Series(["2014-02-14 14:30:00"])).tolist()
    [Timestamp('2014-02-14 14:30:00')]
    """
    if pd.api.types.is_numeric_dtype(column):
        from stream.point import epoch_seconds

        seconds = epoch_seconds(column.to_numpy(dtype=float))
        return pd.Series(pd.to_datetime(seconds, unit="s"), index=column.index, name=column.name)
    return pd.to_datetime(column, format="ISO8601")


def labels_from_windows(timestamps: Iterable, windows: list[Window]) -> np.ndarray:
    """Label each row 1 if its timestamp lies in a window (ends included), else 0.

    Examples
    --------
    >>> stamps = pd.date_range("2024-01-01", periods=6, freq="5min")
    >>> labels_from_windows(stamps, [(stamps[2], stamps[3])])
    array([0, 0, 1, 1, 0, 0], dtype=int8)
    """
    stamps = pd.DatetimeIndex(timestamps).as_unit("ns").asi8
    labels = np.zeros(len(stamps), dtype=np.int8)
    for start, end in windows:
        labels[(stamps >= pd.Timestamp(start).value) & (stamps <= pd.Timestamp(end).value)] = 1
    return labels


class NabCorpus:
    """The data files of a NAB-style folder, discovered recursively and read on first use.

    Parameters
    ----------
    data_dir
        Folder holding ``<category>/<file>.csv`` data files (NAB's ``data/``).
    windows
        Label windows per relative path, as returned by `load_windows`. Files without an entry
        have no windows.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = Path(tmp) / "data" / "cat"
    ...     folder.mkdir(parents=True)
    ...     stamps = pd.date_range("2024-01-01", periods=5, freq="5min")
    ...     pd.DataFrame({"timestamp": stamps, "value": range(5)}).to_csv(
    ...         folder / "a.csv", index=False)
    ...     corpus = NabCorpus(Path(tmp) / "data", {"cat/a.csv": [(stamps[1], stamps[2])]})
    ...     print(corpus.relpaths, corpus.label_series("cat/a.csv"))
    ['cat/a.csv'] [0 1 1 0 0]
    """

    def __init__(self, data_dir: str | os.PathLike, windows: dict[str, list[Window]] | None = None):
        self.data_dir = Path(data_dir)
        self.windows = dict(windows or {})
        if not self.data_dir.is_dir():
            raise FileNotFoundError(f"NAB data folder not found: {self.data_dir}")
        self.relpaths = sorted(
            path.relative_to(self.data_dir).as_posix() for path in self.data_dir.rglob("*.csv")
        )
        self._frames: dict[str, pd.DataFrame] = {}

    @classmethod
    def from_nab_dir(cls, nab_dir: str | os.PathLike) -> NabCorpus:
        """Open NAB's layout: ``<nab_dir>/data`` and ``<nab_dir>/labels/combined_windows.json``."""
        nab_dir = Path(nab_dir)
        return cls(nab_dir / "data", load_windows(nab_dir / "labels" / "combined_windows.json"))

    def __len__(self) -> int:
        return len(self.relpaths)

    def __contains__(self, relpath: object) -> bool:
        return relpath in self.relpaths

    def path(self, relpath: str) -> Path:
        """Absolute path of a data file."""
        if relpath not in self:
            raise KeyError(f"no data file {relpath!r} under {self.data_dir}")
        return self.data_dir / relpath

    def frame(self, relpath: str) -> pd.DataFrame:
        """The file's rows (``timestamp``, ``value``), read once and cached."""
        if relpath not in self._frames:
            self._frames[relpath] = read_timeseries(self.path(relpath))
        return self._frames[relpath]

    def windows_of(self, relpath: str) -> list[Window]:
        """The file's label windows (empty when it has none)."""
        return self.windows.get(relpath, [])

    def label_series(self, relpath: str) -> np.ndarray:
        """Per-row labels: 1 inside a window, 0 elsewhere."""
        return labels_from_windows(self.frame(relpath)["timestamp"], self.windows_of(relpath))


def match_result_files(
    results_root: str | os.PathLike,
    data_relpaths: Iterable[str],
    detector_prefix: str | None = None,
) -> dict[str, Path]:
    """Find the result file of each data file under a detector's results folder.

    A result file matches a data file when it sits at the same relative path, either under the
    same name or, as NAB writes them, under ``<detector>_<name>``. With ``detector_prefix=None``
    the prefix is inferred from the files found; it has to be the same for the whole folder.
    Data files without a result file are left out of the returned mapping.

    Parameters
    ----------
    results_root
        A detector's results folder, e.g. NAB's ``results/numenta``.
    data_relpaths
        Relative paths of the data files, e.g. `NabCorpus.relpaths`.
    detector_prefix
        Prefix of the result file names without the underscore (``"numenta"``), or None.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     (Path(tmp) / "cat").mkdir()
    ...     _ = (Path(tmp) / "cat" / "numenta_a.csv").write_text("timestamp,anomaly_score\\n")
    ...     found = match_result_files(tmp, ["cat/a.csv", "cat/b.csv"])
    ...     {relpath: path.name for relpath, path in found.items()}
    {'cat/a.csv': 'numenta_a.csv'}
    """
    root = Path(results_root)
    prefix = detector_prefix
    matched: dict[str, Path] = {}
    for relpath in data_relpaths:
        folder, name = os.path.split(relpath)
        same_name = root / folder / name
        if same_name.is_file():
            matched[relpath] = same_name
            continue
        if prefix is None:
            candidates = (
                sorted((root / folder).glob(f"*_{name}")) if (root / folder).is_dir() else []
            )
            if len(candidates) > 1:
                raise ValueError(
                    f"several result files end in _{name} under {root / folder}: "
                    f"{[path.name for path in candidates]}; pass detector_prefix"
                )
            if candidates:
                prefix = candidates[0].name[: -len(name) - 1]
        if prefix is not None and (root / folder / f"{prefix}_{name}").is_file():
            matched[relpath] = root / folder / f"{prefix}_{name}"
    return matched


def load_results(
    results_root: str | os.PathLike,
    data_relpaths: Iterable[str],
    detector_prefix: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Read a detector's result files (see `match_result_files`) keyed by data relative path."""
    matched = match_result_files(results_root, data_relpaths, detector_prefix)
    return {relpath: read_timeseries(path) for relpath, path in matched.items()}
