"""Reading metric CSVs for replay: NAB format (``timestamp,value``) or long format
(``series,timestamp,value``), single files or folders searched recursively, ``.csv.gz`` too.

Rows are parsed in bulk; rows that cannot become points are kept as :class:`RejectedRow` with
their line number and reason rather than dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from stream.point import epoch_seconds

__all__ = ["CsvFile", "RejectedRow", "discover_csv_files", "read_csv_file", "SourceError"]

CSV_SUFFIXES = (".csv", ".csv.gz")


class SourceError(Exception):
    """A file that cannot be read as metric CSV at all (missing columns, not a CSV)."""


@dataclasses.dataclass(frozen=True, slots=True)
class RejectedRow:
    path: str
    line: int
    reason: str
    raw: str


@dataclasses.dataclass(slots=True)
class CsvFile:
    """The parsed rows of one CSV file, in file order.

    ``series`` holds one id per row; ``raw_timestamps`` are the timestamps exactly as written
    (replay output repeats them); ``lines`` are 1-based line numbers in the file.
    """

    relpath: str
    long_format: bool
    series: np.ndarray
    raw_timestamps: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray
    lines: np.ndarray
    rejected: list[RejectedRow]


def is_csv(path: Path) -> bool:
    return path.name.endswith(CSV_SUFFIXES)


def discover_csv_files(root: Path) -> list[tuple[Path, str]]:
    """``(path, relative name)`` of every CSV under ``root``, sorted; a file maps to its name."""
    if root.is_file():
        return [(root, root.name)]
    if not root.is_dir():
        raise SourceError(f"{root}: no such file or directory")
    files = sorted(p for p in root.rglob("*") if p.is_file() and is_csv(p))
    return [(p, p.relative_to(root).as_posix()) for p in files]


def series_name(relpath: str) -> str:
    """The series id of a NAB-format file: its relative path without the CSV suffix.

    >>> series_name("realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv")
    'realAWSCloudwatch/ec2_cpu_utilization_53ea38'
    """
    for suffix in CSV_SUFFIXES[::-1]:
        if relpath.endswith(suffix):
            return relpath[: -len(suffix)]
    return relpath


def read_csv_file(path: Path, relpath: str) -> CsvFile:
    """Parse one file; invalid rows are returned in ``rejected`` with their reason."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise SourceError(f"{path}: cannot read as CSV: {exc}") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = {"timestamp", "value"} - set(frame.columns)
    if missing:
        raise SourceError(
            f"{path}: missing column(s) {sorted(missing)}; expected 'timestamp,value' "
            "or 'series,timestamp,value'"
        )
    long_format = "series" in frame.columns
    lines = np.arange(2, len(frame) + 2)
    raw_ts = frame["timestamp"].to_numpy(dtype=object)
    raw_values = frame["value"].to_numpy(dtype=object)
    if long_format:
        series = frame["series"].str.strip().to_numpy(dtype=object)
    else:
        series = np.full(len(frame), series_name(relpath), dtype=object)

    timestamps = _parse_timestamps(frame["timestamp"])
    values = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=float)

    reasons = np.full(len(frame), "", dtype=object)
    reasons[~np.isfinite(values)] = "non_finite_value"
    # Only rows that did not parse need a closer look at their text (usually none).
    unparsed = np.flatnonzero(np.isnan(values))
    if len(unparsed):
        text = frame["value"].iloc[unparsed].str.strip()
        spelled_out = text.str.lower().isin(["nan", "inf", "-inf", "+inf", "infinity", "-infinity"])
        reasons[unparsed[~spelled_out.to_numpy()]] = "bad_value"
        reasons[unparsed[(text == "").to_numpy()]] = "missing_value"
    reasons[np.isnan(timestamps)] = "bad_timestamp"
    if long_format:
        reasons[series == ""] = "missing_series"

    bad = reasons != ""
    rejected = [
        RejectedRow(relpath, int(line), str(reason), f"{ts},{value}")
        for line, reason, ts, value in zip(
            lines[bad], reasons[bad], raw_ts[bad], raw_values[bad], strict=True
        )
    ]
    good = ~bad
    return CsvFile(
        relpath=relpath,
        long_format=long_format,
        series=series[good],
        raw_timestamps=raw_ts[good],
        timestamps=timestamps[good],
        values=values[good],
        lines=lines[good],
        rejected=rejected,
    )


def _parse_timestamps(column: pd.Series) -> np.ndarray:
    """Epoch seconds; NaN where unparsable. Numbers are epoch s, ms, us or ns (told apart by
    magnitude, :func:`stream.point.epoch_seconds`), text is ISO 8601.

    A column whose first entry is a number is read as numbers first (what does not parse is
    tried as ISO 8601); otherwise as ISO 8601 first, which spares parsing every timestamp of
    an ISO column as a number just to see it fail (a lone bare year there is read as a year).
    """
    if _is_number(column.iloc[0] if len(column) else ""):
        seconds = _epoch_seconds(column)
        retry, parse = np.isnan(seconds), _iso_seconds
    else:
        seconds = _iso_seconds(column)
        retry, parse = np.isnan(seconds), _epoch_seconds
    if retry.any():
        seconds[retry] = parse(column[retry])
    seconds[~np.isfinite(seconds)] = np.nan
    return seconds


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _epoch_seconds(column: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(column.str.strip(), errors="coerce").to_numpy(dtype=float)
    return epoch_seconds(numbers)


def _iso_seconds(column: pd.Series) -> np.ndarray:
    parsed = pd.to_datetime(column, errors="coerce", utc=True, format="ISO8601")
    seconds = (parsed - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(seconds=1)
    seconds = seconds.to_numpy(dtype=float, copy=True)
    seconds[seconds < 0] = np.nan  # before 1970, as parse_timestamp
    return seconds


def iter_csv_files(paths: list[Path]) -> Iterator[tuple[Path, str]]:
    for root in paths:
        yield from discover_csv_files(root)
