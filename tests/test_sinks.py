"""Result CSVs: what ResultCsvWriter writes reads back, through the csv module, as the points
and scores it was given (floats exactly, NaN expectations as empty fields, odd text quoted); the
compiled row builder writes what formatting one field at a time would."""

from __future__ import annotations

import csv
import math

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.bank import BankResults
from stream.outputs import csv_rows
from stream.outputs.sinks import RESULT_COLUMNS, ResultCsvWriter
from stream.runtime.pipeline import ScoredBatch

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
texts = st.text(alphabet=st.sampled_from('ab1:-, "\n\r\t\u00e9'), max_size=8)


def make_batch(series: list[str], values: list[float], scores: list[float]) -> ScoredBatch:
    n = len(values)
    column = np.array(scores, dtype=np.float64)
    results = BankResults(
        **{
            name: np.zeros(n, dtype=np.int64)
            if name in ("transition", "agreeing")
            else np.zeros(n, dtype=bool)
            if name == "alert"
            else column.copy()
            for name in BankResults.__dataclass_fields__
        }
    )
    results.alert[::2] = True
    return ScoredBatch(series, np.arange(n, dtype=float), np.array(values), None, results, ())


def read_back(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def same_float(text: str, expected: float, missing: str) -> bool:
    if math.isnan(expected):
        return text == missing
    return float(text) == expected and math.copysign(1, float(text)) == math.copysign(1, expected)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(texts, texts, floats, floats), min_size=0, max_size=20),
    long_format=st.booleans(),
)
def test_rows_read_back_as_written(tmp_path_factory, rows, long_format):
    path = tmp_path_factory.mktemp("sinks") / "out.csv"
    series = [row[0] for row in rows]
    raw_timestamps = [row[1] for row in rows]
    values = [row[2] for row in rows]
    scores = [row[3] for row in rows]
    with ResultCsvWriter(path, long_format) as out:
        out.write_batch(series, raw_timestamps, make_batch(series, values, scores))

    header, *written = read_back(path)
    assert header == (["series"] if long_format else []) + list(RESULT_COLUMNS)
    assert len(written) == len(rows)
    for index, fields in enumerate(written):
        if long_format:
            assert fields.pop(0) == series[index]
        record = dict(zip(RESULT_COLUMNS, fields, strict=True))
        assert record["timestamp"] == raw_timestamps[index]
        assert same_float(record["value"], values[index], missing="nan")
        assert record["alert"] == ("1" if index % 2 == 0 else "0")
        for name in ("anomaly_score", "zscore", "hst_score", "forecast_score"):
            assert same_float(record[name], scores[index], missing="nan")
        for name in ("expected", "lower", "upper"):
            assert same_float(record[name], scores[index], missing="")


def test_a_resumed_file_continues_without_a_second_header(tmp_path):
    path = tmp_path / "out.csv"
    with ResultCsvWriter(path, long_format=False) as out:
        out.write_batch(["s"], ["t1"], make_batch(["s"], [1.0], [0.5]))
        size = out.flush()
        out.write_batch(["s"], ["lost"], make_batch(["s"], [9.0], [0.9]))
    with ResultCsvWriter(path, long_format=False, resume_at=size) as out:
        out.write_batch(["s"], ["t2"], make_batch(["s"], [2.0], [0.25]))
    header, first, second = read_back(path)
    assert header[0] == "timestamp"
    assert (first[0], first[1], second[0], second[1]) == ("t1", "1.0", "t2", "2.0")


def naive_row(fields: list) -> bytes:
    """One row the slow way: each field formatted alone, joined by commas."""

    def text(field) -> str:
        if isinstance(field, tuple):  # (float, text of NaN)
            x, missing = field
            if math.isnan(x):
                return missing
            return repr(x) if math.isinf(x) else orjson.dumps(x).decode()
        if isinstance(field, bool):
            return "1" if field else "0"
        return '"' + field.replace('"', '""') + '"' if set(field) & set(',"\n\r') else field

    return ",".join(text(field) for field in fields).encode() + b"\n"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(texts, floats, floats, st.booleans()), min_size=1, max_size=30))
def test_compiled_rows_equal_rows_formatted_one_field_at_a_time(rows):
    labels, values, expected, flags = (list(column) for column in zip(*rows, strict=True))
    built = csv_rows.rows(
        [
            csv_rows.text_fields(labels),
            csv_rows.float_fields(np.array(values)),
            csv_rows.flag_fields(np.array(flags)),
            csv_rows.float_fields(np.array(expected), missing=""),
        ]
    )
    naive = b"".join(
        naive_row([label, (value, "nan"), flag, (guess, "")]) for label, value, guess, flag in rows
    )
    assert bytes(built) == naive
