"""Reading metric files for replay: CSVs in NAB format (``timestamp,value``) or long format
(``series,timestamp,value``), and the JSON exports SREs pull from Prometheus and CloudWatch
(:mod:`stream.sources.exports`); single files or folders searched recursively, ``.gz`` too.

Rows are parsed in bulk; rows that cannot become points are kept as :class:`RejectedRow` with
their line number and reason rather than dropped. A file that cannot be read at all (empty,
binary, another encoding, no timestamp/value columns) raises :class:`SourceError`, which the
replay reports and skips.

Text files are UTF-8 unless ``encoding`` says otherwise; a byte-order mark (UTF-8, UTF-16,
UTF-32) is recognised. The delimiter (``,`` ``;`` tab or ``|``) is the one the header line holds
most of. Column names are matched without regard to case or surrounding spaces.

Series ids: a NAB-format file is one series named by its relative path without the suffix
(``team_a/cpu.csv`` -> ``team_a/cpu``). In a long-format file the series column (plus the
``label_columns``, as ``name{label="value",...}``) names the series within that file, scoped to
it (``team_a/metrics.csv`` row ``api`` -> ``team_a/metrics/api``), so that two files holding a
series of the same name do not mix, unless ``join_series`` says they are one series.
"""

from __future__ import annotations

import codecs
import dataclasses
import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from stream.point import epoch_seconds

__all__ = [
    "CsvFile",
    "ReadOptions",
    "RejectedRow",
    "SourceError",
    "discover_input_files",
    "discover_csv_files",
    "output_relpath",
    "read_csv_file",
    "read_head",
    "text_encoding",
    "in_time_order",
    "parse_timestamp_column",
]

#: What a metric file may be called (any case, optionally gzipped).
DATA_SUFFIXES = (".csv", ".tsv", ".json")
DELIMITERS = (",", ";", "\t", "|")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SNIFF_BYTES = 65536


class SourceError(Exception):
    """A file that cannot be read as metric data at all (empty, binary, another encoding,
    missing columns, not a known export)."""


@dataclasses.dataclass(frozen=True, slots=True)
class RejectedRow:
    path: str
    line: int
    reason: str
    raw: str


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """How to read input files (``lookout replay`` / ``evaluate`` flags of the same names).

    ``encoding`` None means UTF-8 with byte-order marks recognised; the column names are
    matched case-insensitively; ``label_columns`` join the series column in a long-format
    series' name; ``join_series`` makes same-named series of different files one series.
    """

    encoding: str | None = None
    timestamp_column: str = "timestamp"
    value_column: str = "value"
    series_column: str = "series"
    label_columns: tuple[str, ...] = ()
    join_series: bool = False


@dataclasses.dataclass(slots=True)
class CsvFile:
    """The parsed rows of one input file (or one series of an export), in file order.

    ``series`` holds one id per row (scoped to the file, see the module docstring);
    ``written_series`` the series column as written, which long-format results repeat;
    ``raw_timestamps`` are the timestamps exactly as written (replay output repeats them);
    ``lines`` are 1-based line numbers in the file (for an export: the point's position in
    its series). ``relpath`` is the input's relative path; ``out_relpath`` where its results go.
    """

    relpath: str
    long_format: bool
    series: np.ndarray
    raw_timestamps: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray
    lines: np.ndarray
    rejected: list[RejectedRow]
    written_series: np.ndarray | None = None
    out_relpath: str = ""
    labels: dict[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.out_relpath:
            self.out_relpath = output_relpath(self.relpath)
        if self.written_series is None:
            self.written_series = self.series

    def take(self, rows: np.ndarray) -> CsvFile:
        """The same file with only ``rows`` (indexes), in that order."""
        return dataclasses.replace(
            self,
            series=self.series[rows],
            written_series=self.written_series[rows],
            raw_timestamps=self.raw_timestamps[rows],
            timestamps=self.timestamps[rows],
            values=self.values[rows],
            lines=self.lines[rows],
        )


def _data_suffix(name: str) -> str | None:
    """The data suffix of a file name (lower case, ``.gz`` excluded), or None."""
    lower = name.lower().removesuffix(".gz")
    return next((suffix for suffix in DATA_SUFFIXES if lower.endswith(suffix)), None)


def is_data_file(path: Path) -> bool:
    """
    >>> [is_data_file(Path(n)) for n in ("a.csv", "b.CSV", "c.csv.gz", "d.json", "e.txt")]
    [True, True, True, True, False]
    """
    return _data_suffix(path.name) is not None


def output_relpath(relpath: str) -> str:
    """Where the results of an input file go, relative to the output folder: its path with
    ``.csv`` for its suffix (and no ``.gz``), since results are always comma-separated CSV.

    >>> output_relpath("team/cpu.csv.gz"), output_relpath("team/DISK.TSV"), output_relpath("x.csv")
    ('team/cpu.csv', 'team/DISK.csv', 'x.csv')
    """
    return series_name(relpath) + ".csv"


def discover_input_files(root: Path, exclude: Path | None = None) -> list[tuple[Path, str]]:
    """``(path, relative name)`` of every data file under ``root``, sorted; a file maps to its
    name. Files under ``exclude`` (the replay's output folder) are left out."""
    if root.is_file():
        return [(root, root.name)]
    if not root.is_dir():
        raise SourceError(f"{root}: no such file or directory")
    skip = exclude.resolve() if exclude is not None else None
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and is_data_file(p)
        and (skip is None or not p.resolve().is_relative_to(skip))
    )
    return [(p, p.relative_to(root).as_posix()) for p in files]


def discover_csv_files(root: Path) -> list[tuple[Path, str]]:
    """:func:`discover_input_files` without exclusions (kept for ``lookout produce``)."""
    return discover_input_files(root)


def series_name(relpath: str) -> str:
    """The series id of a NAB-format file: its relative path without the data suffix.

    >>> series_name("realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv")
    'realAWSCloudwatch/ec2_cpu_utilization_53ea38'
    >>> series_name("exports/node.JSON.gz")
    'exports/node'
    """
    name = relpath[:-3] if relpath.lower().endswith(".gz") else relpath
    suffix = _data_suffix(name)
    return name[: -len(suffix)] if suffix else name


def read_head(path: Path) -> bytes:
    """The first bytes of the (decompressed) file."""
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as file:
                return file.read(_SNIFF_BYTES)
        with open(path, "rb") as file:
            return file.read(_SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise SourceError(f"{path}: cannot read: {exc}") from exc


def text_encoding(path: Path, head: bytes, encoding: str | None) -> str:
    """The file's encoding: the given one, else what its byte-order mark says, else UTF-8.
    A file with NUL bytes and no UTF-16/32 mark is binary."""
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}") from None
        return encoding
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    if b"\0" in head:
        raise SourceError(f"{path}: binary data, not a text file")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not a character cut at the end of the sniffed bytes
            raise SourceError(
                f"{path}: not UTF-8 (byte {exc.start}); give its encoding with --encoding, "
                "e.g. --encoding latin-1"
            ) from None
    return "utf-8"


def _delimiter(header: str) -> str:
    r"""The delimiter the header line holds most of (a comma if none).

    >>> _delimiter("timestamp;value"), _delimiter("time\tvalue"), _delimiter("timestamp")
    (';', '\t', ',')
    """
    counts = {sep: header.count(sep) for sep in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _series_ids(
    frame: pd.DataFrame, relpath: str, options: ReadOptions, series_col: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, names as written) of a long-format file's rows."""
    if series_col is not None:
        written = frame[series_col].str.strip()
    else:
        written = pd.Series("", index=frame.index)
    for k, column in enumerate(options.label_columns):
        key = column.strip()
        part = (key + '="' + frame[column.strip().lower()].str.strip() + '"').astype(object)
        written = written + ("{" if k == 0 else ",") + part
    if options.label_columns:
        written = written + "}"
    written_array = written.to_numpy(dtype=object)
    if options.join_series:
        return written_array, written_array
    scope = series_name(relpath) + "/"
    ids = (scope + written).where(written != "", "").to_numpy(dtype=object)
    return ids, written_array


def read_csv_file(
    path: Path,
    relpath: str,
    options: ReadOptions = ReadOptions(),
    encoding: str | None = None,
    head: str | None = None,
) -> CsvFile:
    """Parse one CSV file; invalid rows are returned in ``rejected`` with their reason."""
    if head is None:
        raw_head = read_head(path)
        if not raw_head.strip():
            raise SourceError(f"{path}: empty file")
        encoding = text_encoding(path, raw_head, options.encoding)
        head = raw_head.decode(encoding, errors="replace").lstrip("\ufeff")
    header = head.splitlines()[0] if head.strip() else ""
    separator = _delimiter(header)
    try:
        frame = pd.read_csv(
            path,
            sep=separator,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            encoding=encoding,
            compression="gzip" if path.name.lower().endswith(".gz") else None,
        )
    except UnicodeError as exc:
        raise SourceError(
            f"{path}: not {encoding} ({exc.reason} at byte {getattr(exc, 'start', '?')}); give "
            "its encoding with --encoding, e.g. --encoding latin-1"
        ) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as exc:
        raise SourceError(f"{path}: cannot read as CSV: {exc}") from exc
    frame.columns = [str(c).strip().lstrip("\ufeff").strip().lower() for c in frame.columns]
    wanted = {
        "timestamp": options.timestamp_column.strip().lower(),
        "value": options.value_column.strip().lower(),
    }
    missing = [name for name in wanted.values() if name not in frame.columns]
    missing += [c for c in options.label_columns if c.strip().lower() not in frame.columns]
    if missing:
        raise SourceError(
            f"{path}: no column {', '.join(repr(m) for m in missing)} in the header "
            f"{header.strip()[:200]!r} (read with delimiter {separator!r}); expected "
            "'timestamp,value' or 'series,timestamp,value', or name the columns with "
            "--timestamp-column, --value-column, --series-column"
        )
    series_col = options.series_column.strip().lower()
    series_col = series_col if series_col in frame.columns else None
    long_format = series_col is not None or bool(options.label_columns)
    timestamp_text = frame[wanted["timestamp"]]
    value_text = frame[wanted["value"]]
    lines = np.arange(2, len(frame) + 2)
    raw_ts = timestamp_text.to_numpy(dtype=object)
    raw_values = value_text.to_numpy(dtype=object)
    if long_format:
        series, written = _series_ids(frame, relpath, options, series_col)
    else:
        series = written = np.full(len(frame), series_name(relpath), dtype=object)

    timestamps = parse_timestamp_column(timestamp_text)
    if separator == ";":  # Excel's export where the comma is the decimal mark: "12,5"
        value_text = value_text.where(
            value_text.str.contains(".", regex=False), value_text.str.replace(",", ".")
        )
    values = pd.to_numeric(value_text, errors="coerce").to_numpy(dtype=float)
    non_finite = ~np.isfinite(values)
    bad_timestamps = np.isnan(timestamps)
    missing_series = written == "" if series_col is not None else np.zeros(len(frame), bool)
    if not (non_finite | bad_timestamps | missing_series).any():  # usually no row needs a reason
        return CsvFile(relpath, long_format, series, raw_ts, timestamps, values, lines, [], written)

    reasons = np.full(len(frame), "", dtype=object)
    reasons[non_finite] = "non_finite_value"
    # Only rows that did not parse need a closer look at their text (usually none).
    unparsed = np.flatnonzero(np.isnan(values))
    if len(unparsed):
        text = value_text.iloc[unparsed].str.strip()
        spelled_out = text.str.lower().isin(["nan", "inf", "-inf", "+inf", "infinity", "-infinity"])
        reasons[unparsed[~spelled_out.to_numpy()]] = "bad_value"
        reasons[unparsed[(text == "").to_numpy()]] = "missing_value"
    reasons[bad_timestamps] = "bad_timestamp"
    reasons[missing_series] = "missing_series"

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
        written_series=written[good],
    )


def in_time_order(parsed: CsvFile) -> tuple[CsvFile, int]:
    """``parsed`` with each series in time order (a stable sort: rows of equal time keep their
    file order), and how many rows moved. A file whose series are each in order already comes
    back as it is, whatever the order of its series among each other.

    >>> f = CsvFile("a.csv", False, np.array(["a"] * 3, dtype=object), np.array(["3", "1", "2"]),
    ...             np.array([3.0, 1.0, 2.0]), np.ones(3), np.arange(2, 5), [])
    >>> ordered, moved = in_time_order(f)
    >>> ordered.timestamps.tolist(), ordered.lines.tolist(), moved
    ([1.0, 2.0, 3.0], [3, 4, 2], 3)
    """
    stamps = parsed.timestamps
    if len(stamps) < 2 or not (np.diff(stamps) < 0).any():
        return parsed, 0
    if parsed.long_format:
        codes = pd.factorize(parsed.series)[0]
        by_series = np.argsort(codes, kind="stable")
        same = codes[by_series][1:] == codes[by_series][:-1]
        if not (np.diff(stamps[by_series])[same] < 0).any():
            return parsed, 0
    order = np.argsort(stamps, kind="stable")
    moved = int(np.count_nonzero(order != np.arange(len(order))))
    return parsed.take(order), moved


def parse_timestamp_column(column: pd.Series) -> np.ndarray:
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
    seconds = _plain_seconds(column.to_numpy(dtype=object))
    if seconds is None:
        return _pandas_iso_seconds(column)
    seconds[seconds < 0] = np.nan  # before 1970, as parse_timestamp
    return seconds


def _pandas_iso_seconds(column: pd.Series) -> np.ndarray:
    parsed = pd.to_datetime(column, errors="coerce", utc=True, format="ISO8601")
    seconds = (parsed - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(seconds=1)
    seconds = seconds.to_numpy(dtype=float, copy=True)
    seconds[seconds < 0] = np.nan  # before 1970, as parse_timestamp
    return seconds


# "YYYY-MM-DD hh:mm:ss" (or with "T"): where each digit and separator of the plain form stands
_PLAIN_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_PLAIN_SEPARATORS = {4: b"-", 7: b"-", 13: b":", 16: b":"}


def _plain_seconds(texts: np.ndarray) -> np.ndarray | None:
    """Epoch seconds of a column of timestamps all in the plain form ``YYYY-MM-DD hh:mm:ss``
    (or with ``T``; no zone: UTC) and all valid dates and times, parsed by numpy at once; None
    when any is not, and pandas' ISO 8601 parser, which reads these alike, reads the column.

    >>> _plain_seconds(np.array(["1970-01-02 00:00:01", "2016-02-29T12:00:00"], dtype=object))
    array([8.6401000e+04, 1.4567472e+09])
    >>> _plain_seconds(np.array(["2015-02-29 00:00:00"], dtype=object)) is None  # no such day
    True
    """
    try:
        fixed = texts.astype("S")  # bytes, as wide as the longest (non-ASCII: not plain)
    except (UnicodeEncodeError, TypeError, ValueError):
        return None
    if fixed.dtype.itemsize != 19 or not len(texts):
        return None
    chars = fixed.view(np.uint8).reshape(len(texts), 19)
    plain = ((chars[:, _PLAIN_DIGITS] - np.uint8(ord("0"))) <= 9).all()  # below "0" wraps
    for at, separator in _PLAIN_SEPARATORS.items():
        plain &= (chars[:, at] == ord(separator)).all()
    plain &= ((chars[:, 10] == ord(" ")) | (chars[:, 10] == ord("T"))).all()
    if not plain:
        return None
    try:  # numpy refuses a day, month, hour, minute or second out of range, as pandas does
        return fixed.astype("datetime64[s]").astype(np.int64).astype(np.float64)
    except ValueError:
        return None


def iter_csv_files(paths: list[Path]) -> Iterator[tuple[Path, str]]:
    for root in paths:
        yield from discover_input_files(root)
