"""Epoch units told apart by magnitude, impossible times refused, and every time printable."""

import datetime
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.point import InvalidPoint, format_timestamp, parse_timestamp
from stream.sources.csv_files import parse_timestamp_column
from stream.sources.messages import decode_message

SECOND = 1_700_012_000  # 2023-11-15


@pytest.mark.parametrize("per_second", [1, 1_000, 1_000_000, 1_000_000_000])
def test_each_epoch_unit_is_the_same_time(per_second):
    assert parse_timestamp(SECOND * per_second) == SECOND
    assert parse_timestamp(str(SECOND * per_second)) == SECOND


@pytest.mark.parametrize("bad", [1e308, -1.0, -1_700_012_000_000, 1e20, "1e308", float("inf")])
def test_impossible_times_are_bad_timestamps(bad):
    with pytest.raises(InvalidPoint) as caught:
        parse_timestamp(bad)
    assert caught.value.reason == "bad_timestamp"


@given(st.one_of(st.floats(), st.integers(min_value=-(10**40), max_value=10**40), st.text()))
def test_parsing_any_timestamp_raises_nothing_but_invalid_point(raw):
    try:
        seconds = parse_timestamp(raw)
    except InvalidPoint:
        return
    assert 0 <= seconds <= 253402300799
    assert format_timestamp(seconds).endswith("Z")


@given(st.floats())
def test_every_float_formats(seconds):
    text = format_timestamp(seconds)
    assert isinstance(text, str) and text


def test_epoch_milliseconds_in_a_message_and_a_csv_column():
    decoded = decode_message(b"api", b'{"timestamps": [1700012000000, 1e308], "values": [101, 1]}')
    assert decoded.columns[0].timestamps.tolist() == [SECOND]
    assert [r.reason for r in decoded.rejections] == ["bad_timestamp"]
    decoded = decode_message(b"api", b'{"timestamp": 1700012000000, "value": 101}')
    assert decoded.points[0].point.timestamp == SECOND

    column = pd.Series(["1700012000000", "1700012060000", "99999999999999999999999"])
    seconds = parse_timestamp_column(column)
    assert seconds[:2].tolist() == [SECOND, SECOND + 60]
    assert math.isnan(seconds[2])
    assert np.isnan(parse_timestamp_column(pd.Series(["1969-12-31T00:00:00Z"]))).all()


plain_times = st.datetimes(
    min_value=datetime.datetime(1960, 1, 1), max_value=datetime.datetime(2300, 1, 1)
).map(lambda t: t.strftime("%Y-%m-%d %H:%M:%S"))
# a plain timestamp with one character replaced (a day 30 of February, a month 13, a letter...)
near_plain = st.tuples(plain_times, st.integers(0, 18), st.sampled_from("0123456789-: Tx")).map(
    lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1 :]
)


@given(
    st.one_of(
        st.lists(plain_times, min_size=1, max_size=30),  # all read from their digits at once
        st.lists(st.one_of(plain_times, near_plain), min_size=1, max_size=30),
    )
)
def test_plain_timestamps_read_from_their_digits_as_pandas_reads_them(texts):
    column = pd.Series(texts, dtype=object)
    parsed = pd.to_datetime(column, errors="coerce", utc=True, format="ISO8601")
    epoch = pd.Timestamp("1970-01-01", tz="UTC")  # as csv_files computes it
    expected = ((parsed - epoch) / pd.Timedelta(seconds=1)).to_numpy(float, copy=True)
    expected[expected < 0] = np.nan
    np.testing.assert_array_equal(parse_timestamp_column(column), expected)
