"""The Kafka message contract: decoding points, rejecting bad input with a reason, encoding."""

import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.point import MetricPoint
from stream.sources.messages import (
    REASONS,
    Rejection,
    dead_letter,
    decode_message,
    encode_points,
    plan_messages,
)


def reasons(value: bytes | None, key: bytes | None = b"cpu", **limits) -> list[str]:
    return [r.reason for r in decode_message(key, value, **limits).rejections]


def points(value: bytes, key: bytes | None = b"cpu") -> list[MetricPoint]:
    return [p.point for p in decode_message(key, value).points]


def test_single_point_with_rfc3339_or_epoch_timestamp():
    rfc = b'{"series": "api", "timestamp": "2024-01-01T00:00:00Z", "value": 1.5}'
    epoch = b'{"series": "api", "timestamp": 1704067200, "value": 1.5}'
    offset = b'{"series": "api", "timestamp": "2024-01-01T01:00:00+01:00", "value": 1.5}'

    expected = [MetricPoint("api", 1704067200.0, 1.5)]
    assert points(rfc) == points(epoch) == points(offset) == expected


def test_series_comes_from_the_point_else_from_the_key():
    assert points(b'{"timestamp": 1, "value": 2}', key=b"from-key")[0].series == "from-key"
    assert points(b'{"series": "own", "timestamp": 1, "value": 2}', key=b"k")[0].series == "own"
    assert reasons(b'{"timestamp": 1, "value": 2}', key=None) == ["missing_field"]


def test_batched_message_keeps_valid_points_and_rejects_each_bad_one_with_its_index():
    value = orjson.dumps(
        [
            {"timestamp": 0, "value": 1},
            {"timestamp": 60, "value": "NaN"},
            {"timestamp": 120, "value": 3, "labels": {"team": "web"}},
            {"timestamp": 180},
            "not an object",
        ]
    )
    decoded = decode_message(b"cpu", value)

    assert [(p.point.timestamp, p.index) for p in decoded.points] == [(0.0, 0), (120.0, 2)]
    assert decoded.points[1].labels == {"team": "web"}
    assert [(r.reason, r.index) for r in decoded.rejections] == [
        ("non_finite_value", 1),
        ("missing_field", 3),
        ("not_a_point", 4),
    ]
    # The dead letter of a batched point carries that point, not the whole message.
    assert decoded.rejections[0].item == {"timestamp": 60, "value": "NaN"}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b'{"timestamp": 1, "value": NaN}', "malformed_json"),
        (None, "empty_message"),
        (b"42", "not_a_point"),
        (b'"text"', "not_a_point"),
        (b"[1]", "not_a_point"),
        (b'{"value": 1}', "missing_field"),
        (b'{"timestamp": 1}', "missing_field"),
        (b'{"series": "", "timestamp": 1, "value": 1}', "bad_series"),
        (b'{"series": 7, "timestamp": 1, "value": 1}', "bad_series"),
        (b'{"series": "' + b"x" * 300 + b'", "timestamp": 1, "value": 1}', "bad_series"),
        (b'{"timestamp": "yesterday", "value": 1}', "bad_timestamp"),
        (b'{"timestamp": null, "value": 1}', "bad_timestamp"),
        (b'{"timestamp": true, "value": 1}', "bad_timestamp"),
        (b'{"timestamp": 1, "value": "high"}', "bad_value"),
        (b'{"timestamp": 1, "value": null}', "bad_value"),
        (b'{"timestamp": 1, "value": false}', "bad_value"),
        (b'{"timestamp": 1, "value": "inf"}', "non_finite_value"),
        (b'{"timestamp": 1, "value": 1e308, "labels": []}', "bad_labels"),
        (b'{"timestamp": 1, "value": 1, "labels": {"1bad": "x"}}', "bad_labels"),
        (b'{"timestamp": 1, "value": 1, "labels": {"__name__": "x"}}', "bad_labels"),
        (b'{"timestamp": 1, "value": 1, "labels": {"team": 3}}', "bad_labels"),
    ],
)
def test_invalid_input_is_rejected_with_a_bounded_reason(value, reason):
    assert reasons(value) == [reason]
    assert reason in REASONS


def test_size_limits_reject_the_whole_message_as_too_large():
    batch = orjson.dumps([{"timestamp": t, "value": 1} for t in range(11)])
    assert reasons(batch, max_points=10) == ["too_large"]
    assert len(points(batch)) == 11
    assert reasons(batch, max_bytes=len(batch) - 1) == ["too_large"]


def test_extra_fields_are_ignored_for_forward_compatibility():
    value = b'{"timestamp": 1, "value": 2, "unit": "ms", "host": "a"}'
    assert points(value) == [MetricPoint("cpu", 1.0, 2.0)]


def test_dead_letter_names_reason_source_and_an_excerpt_of_the_message():
    source = {"topic": "metrics", "partition": 2, "offset": 41, "key": "cpu"}
    whole = orjson.loads(dead_letter(Rejection("malformed_json", "oops"), source, b"{bad"))
    assert whole == {
        "reason": "malformed_json",
        "detail": "oops",
        "source": source,
        "message": "{bad",
        "truncated": False,
    }

    huge = b"x" * 100_000
    letter = dead_letter(Rejection("too_large", "big"), source, huge)
    assert len(letter) < 10_000
    assert orjson.loads(letter)["truncated"] is True

    item = {"timestamp": 60, "value": "NaN"}
    batched = orjson.loads(
        dead_letter(Rejection("non_finite_value", "nan", item, 3), source, b"[]")
    )
    assert batched["point"] == item and batched["index"] == 3 and "message" not in batched


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(
    series=st.text(min_size=1, max_size=50),
    rows=st.lists(st.tuples(st.floats(0, 4e9), finite), min_size=1, max_size=20),
)
def test_encoded_points_decode_to_the_same_points(series, rows):
    timestamps = [t for t, _ in rows]
    values = [v for _, v in rows]
    decoded = decode_message(series.encode(), encode_points(series, timestamps, values))

    assert decoded.rejections == []
    assert [p.point for p in decoded.points] == [
        MetricPoint(series, t, v) for t, v in zip(timestamps, values, strict=True)
    ]


def test_plan_batches_per_series_and_keeps_each_series_in_input_order():
    plan = plan_messages(
        [("a", [0, 10, 20, 5], [1, 2, 3, 4]), ("b", [1, 2, 3], [7, 8, 9])], batch_size=2
    )
    assert [(m.key, m.n_points) for m in plan] == [(b"b", 2), (b"b", 1), (b"a", 2), (b"a", 2)]
    a_timestamps = [
        p.point.timestamp
        for m in plan
        if m.key == b"a"
        for p in decode_message(m.key, m.value).points
    ]
    assert a_timestamps == [0, 10, 20, 5]  # the out-of-order row stays where the file had it
    assert sum(m.n_points for m in plan) == 7
    with pytest.raises(ValueError, match="batch_size"):
        plan_messages([("a", [0], [1])], batch_size=0)
    with pytest.raises(ValueError, match="non-finite"):
        plan_messages([("a", [math.nan], [1])])


UNIFORM = [{"timestamp": 1_700_000_000 + 60 * k, "value": 0.5 * k} for k in range(20)]
VARIANTS = {
    "uniform": {},
    "rfc 3339 timestamp": {"timestamp": "2023-11-14T22:13:20Z"},
    "millisecond timestamp": {"timestamp": 1_700_000_000_000},
    "integer value": {"value": 7},
    "numeric string value": {"value": "7.5"},
    "boolean value": {"value": True},
    "null value": {"value": None},
    "labels": {"labels": {"team": "web"}},
    "bad labels": {"labels": {"__name__": "x"}},
    "another series": {"series": "mem"},
    "bad series": {"series": ""},
    "no timestamp": {"timestamp": None},
    "no series": {"series": None},
    "an extra field": {"unit": "ms"},
}


@pytest.mark.parametrize("named", [False, True], ids=["key", "named"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_batch_decodes_as_its_points_one_by_one(variant, named):
    """Batches of one series with plain numbers decode column by column (no object per point),
    any other batch point by point: either way, as each point alone would (the series given
    by the message key, or named by every point)."""
    items = [{"series": "cpu", **item} if named else dict(item) for item in UNIFORM]
    items[7].update(VARIANTS[variant])
    items = [{k: v for k, v in item.items() if v is not None} for item in items]
    batch = decode_message(b"cpu", orjson.dumps(items))
    alone = [decode_message(b"cpu", orjson.dumps(item)) for item in items]
    assert [(p.point, p.labels, p.index) for p in batch.points] == [
        (p.point, p.labels, index) for index, d in enumerate(alone) for p in d.points
    ]
    assert [(r.reason, r.index) for r in batch.rejections] == [
        (r.reason, index) for index, d in enumerate(alone) for r in d.rejections
    ]
    assert len(batch.columns) == {"another series": 3, "labels": 3}.get(variant, 1)
