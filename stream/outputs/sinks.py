"""File sinks for replay: per-input result CSVs and JSON-lines logs (alerts, rejected rows)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import orjson

from stream.outputs.csv_rows import flag_fields, float_fields, rows, text_fields

if TYPE_CHECKING:  # for annotations only: outputs do not depend on the runtime
    from stream.runtime.pipeline import ScoredBatch


__all__ = ["RESULT_COLUMNS", "ResultCsvWriter", "JsonLinesWriter"]

# The first four columns are the contract; the rest explain the score. ``anomaly_score`` is
# continuous (how abnormal the point is now), ``onset_score`` the same at onsets only, else 0.
# Files before onset_score had the onsets in anomaly_score and the continuous score in
# combined_score (sim.results reads both layouts).
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
    "onset_score",
)


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
        self._file: IO[bytes] = _reopen(path, resume_at, "wb")
        if resume_at is None:
            header = (("series",) if long_format else ()) + RESULT_COLUMNS
            self._file.write(",".join(header).encode() + b"\n")

    def write_batch(
        self, series: Sequence[str], raw_timestamps: Sequence[str], batch: ScoredBatch
    ) -> None:
        """One row per point of ``batch`` (``RESULT_COLUMNS``, ``series`` first in long
        format), built column by column; NaN expectations are written as empty fields."""
        if not len(batch):
            return
        results = batch.results
        columns = [
            text_fields(raw_timestamps),
            float_fields(batch.values),
            float_fields(results.anomaly_score),
            flag_fields(results.alert),
            float_fields(results.zscore),
            float_fields(results.hst_score),
            float_fields(results.forecast_score),
            float_fields(results.expected, missing=""),
            float_fields(results.lower, missing=""),
            float_fields(results.upper, missing=""),
            float_fields(results.onset_score),
        ]
        if self.long_format:
            columns.insert(0, text_fields(series))
        self._file.write(rows(columns))

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
