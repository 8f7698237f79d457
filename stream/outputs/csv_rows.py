"""CSV rows built column by column: each column's fields as one buffer, interleaved into rows by
one compiled loop, with no Python object per field.

A column is :class:`Fields`: the bytes of its fields back to back and where each one starts
and ends. Floats are written by orjson (shortest round-trip text, one C call per column), text
is joined once; :func:`rows` then copies every field to its place in one pass. NaN, infinities
and flags point into a small table of constant texts instead of into the column's own bytes.

Examples
--------
>>> import numpy as np
>>> columns = [text_fields(["a", "b,c"]), float_fields(np.array([0.5, np.nan]), missing=""),
...            flag_fields(np.array([True, False]))]
>>> bytes(rows(columns))
b'a,0.5,1\\n"b,c",,0\\n'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import orjson
from numba import njit

__all__ = ["Fields", "float_fields", "text_fields", "flag_fields", "rows", "warm_up"]

# Characters that make the csv module quote a field (QUOTE_MINIMAL with the default dialect).
_NEEDS_QUOTES = (",", '"', "\n", "\r")
_COMMA = np.uint8(ord(","))
# The constant texts fields may point into: (start, end) of each in _CONSTANTS.
_CONSTANTS = b"nan-inf01"
_NAN, _EMPTY, _INF, _MINUS_INF = (0, 3), (0, 0), (4, 7), (3, 7)
_ZERO, _ONE = 7, 8


@dataclasses.dataclass(frozen=True)
class Fields:
    """A column: its fields are ``data[starts[i]:ends[i]]``, where ``data`` is the column's
    own bytes, followed by the constant texts (offsets into them are shifted by
    ``len(data)``)."""

    data: bytes
    starts: np.ndarray
    ends: np.ndarray


def _constant(data: bytes, span: tuple[int, int]) -> tuple[int, int]:
    return len(data) + span[0], len(data) + span[1]


def float_fields(values: np.ndarray, missing: str = "nan") -> Fields:
    """The shortest round-trip text of every float (orjson's, e.g. ``1e-7``); NaN is written
    ``missing`` (``"nan"`` or ``""``), infinities ``inf`` and ``-inf``.

    >>> f = float_fields(np.array([0.1, 2.0, 1e-07, np.nan, -np.inf]), missing="")
    >>> [(f.data + _CONSTANTS)[s:e] for s, e in zip(f.starts, f.ends)]
    [b'0.1', b'2.0', b'1e-7', b'', b'-inf']
    """
    if missing not in ("nan", ""):
        raise ValueError(f"missing must be 'nan' or '', got {missing!r}")
    values = np.ascontiguousarray(values, dtype=np.float64)  # orjson needs C order
    if not len(values):
        return Fields(b"", np.zeros(0, np.int64), np.zeros(0, np.int64))
    data = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]  # without [ ]
    starts = np.empty(len(values), np.int64)
    ends = np.empty(len(values), np.int64)
    _split(np.frombuffer(data, np.uint8), starts, ends)
    odd = ~np.isfinite(values)
    if odd.any():  # orjson wrote them as null
        for where, span in (
            (np.isnan(values), _NAN if missing == "nan" else _EMPTY),
            (values == np.inf, _INF),
            (values == -np.inf, _MINUS_INF),
        ):
            starts[where], ends[where] = _constant(data, span)
    return Fields(data, starts, ends)


def text_fields(texts: Sequence[str]) -> Fields:
    """UTF-8 fields, quoted as the csv module would where they hold a comma, quote or line
    break (rare: checked for the column at once).

    >>> f = text_fields(["x", "a,b", "é"])
    >>> [f.data[s:e].decode() for s, e in zip(f.starts, f.ends)]
    ['x', '"a,b"', 'é']
    """
    joined = "".join(texts)
    if any(char in joined for char in _NEEDS_QUOTES):
        texts = [_quoted(text) for text in texts]
        joined = "".join(texts)
    if joined.isascii():
        lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    else:
        lengths = np.fromiter((len(text.encode()) for text in texts), np.int64, len(texts))
    ends = np.cumsum(lengths)
    return Fields(joined.encode(), ends - lengths, ends)


def _quoted(text: str) -> str:
    if any(char in text for char in _NEEDS_QUOTES):
        return '"' + text.replace('"', '""') + '"'
    return text


def flag_fields(flags: np.ndarray) -> Fields:
    """``1`` where ``flags`` is true, else ``0``.

    >>> f = flag_fields(np.array([True, False]))
    >>> [_CONSTANTS[s:e] for s, e in zip(f.starts, f.ends)]
    [b'1', b'0']
    """
    starts = np.where(np.asarray(flags, dtype=bool), _ONE, _ZERO).astype(np.int64)
    return Fields(b"", starts, starts + 1)


def rows(columns: Sequence[Fields]) -> np.ndarray:
    """The CSV rows of ``columns`` (of equal length), each ended by a line break, as bytes
    (a uint8 array)."""
    n_rows = len(columns[0].starts)
    if any(len(column.starts) != n_rows for column in columns):
        raise ValueError("columns of different lengths")
    # One buffer: each column's bytes followed by the constant texts, so that a column's
    # offsets only move by where its bytes start.
    buffer = np.frombuffer(b"".join(column.data + _CONSTANTS for column in columns), np.uint8)
    starts = np.empty((len(columns), n_rows), np.int64)
    ends = np.empty((len(columns), n_rows), np.int64)
    base = 0
    for k, column in enumerate(columns):
        np.add(column.starts, base, out=starts[k])
        np.add(column.ends, base, out=ends[k])
        base += len(column.data) + len(_CONSTANTS)
    size = int(ends.sum() - starts.sum())
    out = np.empty(size + n_rows * len(columns), np.uint8)
    _interleave(buffer, starts, ends, out)
    return out


def warm_up() -> None:
    """Compile (or load from numba's cache) the row loop for the result files' columns (with
    and without ``series``; ``scripts/setup.sh`` runs this)."""
    from stream.outputs.sinks import RESULT_COLUMNS

    for n_columns in (len(RESULT_COLUMNS), len(RESULT_COLUMNS) + 1):
        rows([flag_fields(np.ones(1, bool))] * n_columns)


@njit(cache=True, nogil=True)
def _split(data, starts, ends):  # pragma: no cover - compiled
    """The fields of comma-separated ``data``: ``len(starts)`` of them (each ``starts[i]`` to
    ``ends[i]``)."""
    field = 0
    starts[0] = 0
    for i in range(len(data)):
        if data[i] == 44:  # ","
            ends[field] = i
            field += 1
            starts[field] = i + 1
    ends[field] = len(data)


@njit(cache=True, nogil=True)
def _interleave(buffer, starts, ends, out):  # pragma: no cover - compiled
    """Row after row, each column's field (``buffer[starts[column, row]:ends[column, row]]``)
    then a comma (a line break after the last)."""
    n_columns, n_rows = starts.shape
    at = 0
    for row in range(n_rows):
        for column in range(n_columns):
            start, end = starts[column, row], ends[column, row]
            out[at : at + end - start] = buffer[start:end]
            at += end - start
            out[at] = 10 if column == n_columns - 1 else 44  # "\n" or ","
            at += 1
