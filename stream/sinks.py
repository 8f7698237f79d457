"""File sinks for replay: per-input result CSVs and JSON-lines logs (alerts, rejected rows)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np
import orjson

from stream.pipeline import ScoredBatch

__all__ = ["RESULT_COLUMNS", "ResultCsvWriter", "JsonLinesWriter"]

# The first four columns are the contract; the rest explain the score.
RESULT_COLUMNS = (
    "timestamp",
    "value",
    "anomaly_score",
    "alert",
    "zscore",
    "hst_score",
    "forecast_score",
    "expected",
    "lower",
    "upper",
)


def _number(x: float) -> str:
    return "" if math.isnan(x) else repr(float(x))


def _reprs(values: np.ndarray) -> list[str]:
    return [repr(x) for x in values.tolist()]


def _numbers(values: np.ndarray) -> list[str]:
    return ["" if x != x else repr(x) for x in values.tolist()]


def _reopen(path: Path, resume_at: int | None, mode: str, **options) -> IO:
    """``path`` opened to write from the start, or from byte ``resume_at`` (what follows it, a
    run's output after its last checkpoint, is cut off)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if resume_at is None:
        return open(path, mode, **options)  # noqa: SIM115 - the writers close it
    with open(path, "r+b") as file:
        file.truncate(resume_at)
    return open(path, mode.replace("w", "a"), **options)  # noqa: SIM115


class ResultCsvWriter:
    """Writes one result row per scored point; long format puts ``series`` first.

    ``resume_at``: continue a file written before, from that byte (see :meth:`flush`), without
    a new header.
    """

    def __init__(self, path: Path, long_format: bool, resume_at: int | None = None):
        self.path = path
        self.long_format = long_format
        self._file: IO[str] = _reopen(path, resume_at, "w", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        if resume_at is None:
            header = (("series",) if long_format else ()) + RESULT_COLUMNS
            self._writer.writerow(header)

    def write_batch(
        self, series: Sequence[str], raw_timestamps: Sequence[str], batch: ScoredBatch
    ) -> None:
        """One row per point of ``batch`` (``RESULT_COLUMNS``, ``series`` first in long
        format), built column by column; NaN expectations are written as empty fields."""
        results = batch.results
        columns = [
            raw_timestamps,
            _reprs(batch.values),
            _reprs(results.anomaly_score),
            ["1" if firing else "0" for firing in results.alert.tolist()],
            _reprs(results.zscore),
            _reprs(results.hst_score),
            _reprs(results.forecast_score),
            _numbers(results.expected),
            _numbers(results.lower),
            _numbers(results.upper),
        ]
        if self.long_format:
            columns.insert(0, series)
        self._writer.writerows(zip(*columns, strict=True))

    def flush(self) -> int:
        """Hand what was written to the OS; the file's size in bytes."""
        self._file.flush()
        return self._file.tell()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ResultCsvWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class JsonLinesWriter:
    """Appends one JSON document per line (alerts, dead letters); ``resume_at`` continues a file
    written before from that byte (see :meth:`flush`)."""

    def __init__(self, path: Path, resume_at: int | None = None):
        self.path = path
        self.count = 0
        self._file = _reopen(path, resume_at, "wb")

    def write(self, document: dict) -> None:
        self._file.write(orjson.dumps(document) + b"\n")
        self.count += 1

    def flush(self) -> int:
        """Hand what was written to the OS; the file's size in bytes."""
        self._file.flush()
        return self._file.tell()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
