"""File sinks for replay: per-input result CSVs and JSON-lines logs (alerts, rejected rows)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import IO

import orjson

from detectors import Assessment

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


class ResultCsvWriter:
    """Writes one result row per scored point; long format puts ``series`` first."""

    def __init__(self, path: Path, long_format: bool):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.long_format = long_format
        self._file: IO[str] = open(path, "w", newline="")  # noqa: SIM115 - closed in close()
        self._writer = csv.writer(self._file, lineterminator="\n")
        header = (("series",) if long_format else ()) + RESULT_COLUMNS
        self._writer.writerow(header)

    def write(self, series: str, raw_timestamp: str, a: Assessment) -> None:
        row = [
            raw_timestamp,
            repr(a.value),
            repr(a.anomaly_score),
            "1" if a.alert else "0",
            repr(a.zscore),
            repr(a.hst_score),
            repr(a.forecast_score),
            _number(a.expected),
            _number(a.lower),
            _number(a.upper),
        ]
        if self.long_format:
            row.insert(0, series)
        self._writer.writerow(row)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ResultCsvWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class JsonLinesWriter:
    """Appends one JSON document per line (alerts, dead letters)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.count = 0
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()

    def write(self, document: dict) -> None:
        self._file.write(orjson.dumps(document) + b"\n")
        self.count += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
