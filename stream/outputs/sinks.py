"""File sinks for replay: per-input result CSVs and JSON-lines logs (alerts, rejected rows)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
import orjson

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


# Characters that make the csv module quote a field (QUOTE_MINIMAL with the default dialect).
_NEEDS_QUOTES = (",", '"', "\n", "\r")


def _float_fields(values: np.ndarray, missing: str = "nan") -> list[bytes]:
    """Shortest round-trip text of every float, one C call for the column (orjson), instead of
    a ``repr`` per value; NaN becomes ``missing`` and infinities ``inf`` / ``-inf``.

    >>> _float_fields(np.array([0.1, 2.0, 1e-07, np.nan, -np.inf]), missing="")
    [b'0.1', b'2.0', b'1e-7', b'', b'-inf']
    """
    if not len(values):
        return []
    values = np.ascontiguousarray(values, dtype=np.float64)  # orjson needs C order
    fields = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
    for i in np.flatnonzero(~np.isfinite(values)).tolist():  # orjson writes them as null
        x = values.item(i)
        fields[i] = missing.encode() if x != x else repr(x).encode()
    return fields


def _text_fields(texts: Sequence[str]) -> list[bytes]:
    """UTF-8 CSV fields, quoted as the csv module would where they hold a comma, quote or
    line break (rare: checked for the column at once)."""
    joined = "\0".join(texts)
    if not any(char in joined for char in _NEEDS_QUOTES):
        return joined.encode().split(b"\0") if texts else []
    return [_quoted(text).encode() for text in texts]


def _quoted(text: str) -> str:
    if any(char in text for char in _NEEDS_QUOTES):
        return '"' + text.replace('"', '""') + '"'
    return text


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
            _text_fields(raw_timestamps),
            _float_fields(batch.values),
            _float_fields(results.anomaly_score),
            [b"1" if firing else b"0" for firing in results.alert.tolist()],
            _float_fields(results.zscore),
            _float_fields(results.hst_score),
            _float_fields(results.forecast_score),
            _float_fields(results.expected, missing=""),
            _float_fields(results.lower, missing=""),
            _float_fields(results.upper, missing=""),
            _float_fields(results.onset_score),
        ]
        if self.long_format:
            columns.insert(0, _text_fields(series))
        rows = map(b",".join, zip(*columns, strict=True))
        self._file.write(b"\n".join(rows) + b"\n")

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
