"""The Kafka message contract: JSON metric points in, points or dead letters out.

A message's key is the series id (UTF-8) and its value is JSON, either one point or an array of
points (a batched message)::

    {"series": "api.latency", "timestamp": "2024-01-01T00:00:00Z", "value": 12.5,
     "labels": {"team": "payments"}}

``timestamp`` is an RFC 3339 string or epoch seconds; ``labels`` is optional. A point without
``series`` takes the message key. Fields not listed here are ignored, so producers can add some.

Many points of one series travel best as columns (a column message), which decode without a
Python object per point::

    {"series": "api.latency", "timestamps": [1704067200, 1704067260], "values": [12.5, 13.1],
     "labels": {"team": "payments"}}

Nothing here raises on bad input: :func:`decode_message` returns the valid points and one
:class:`Rejection` per invalid message or point, with a reason from :data:`REASONS` (a short,
bounded set, so that it can label a counter). :func:`dead_letter` turns a rejection into the
document written to the dead-letter topic. The other direction, :func:`encode_points` and
:func:`plan_messages`, is what ``lookout produce`` publishes.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat

import numpy as np
import orjson

from detectors import Assessment
from stream.point import (
    InvalidPoint,
    MetricPoint,
    epoch_seconds,
    format_timestamp,
    parse_timestamp,
    parse_value,
)

__all__ = [
    "REASONS",
    "MAX_MESSAGE_BYTES",
    "MAX_BATCH_POINTS",
    "MAX_SERIES_LENGTH",
    "LabeledPoint",
    "Rejection",
    "Decoded",
    "decode_message",
    "dead_letter",
    "point_document",
    "score_document",
    "encode_points",
    "encode_columns",
    "Columns",
    "OutgoingMessage",
    "plan_messages",
]

#: Every reason a message or point can be rejected for; anything else is counted as ``other``.
REASONS = (
    "malformed_json",  # the value is not JSON (or not UTF-8)
    "empty_message",  # no value at all (a tombstone)
    "not_a_point",  # JSON, but neither an object nor an array of objects
    "too_large",  # more bytes than max_bytes, or more points than max_points
    "missing_field",  # no timestamp, no value, or no series and no key
    "bad_series",  # series not a non-empty string of at most MAX_SERIES_LENGTH characters
    "bad_timestamp",  # neither RFC 3339 nor epoch s/ms/us/ns from 1970 to the year 9999
    "future_timestamp",  # later than the clock plus the allowed skew (--max-future-skew)
    "bad_value",  # not a number
    "non_finite_value",  # NaN or infinite
    "bad_labels",  # labels not an object of Prometheus-style names to strings
    "duplicate_timestamp",  # the series already had a point at this time (re-delivery)
    "out_of_order",  # earlier than the series' last scored point (beyond the reorder window)
    "series_limit",  # a new series while --max-series series are tracked
    "processing_error",  # decoding, scoring or writing the outputs of this record failed
    "other",
)

MAX_MESSAGE_BYTES = 1 << 20
MAX_BATCH_POINTS = 10_000
MAX_SERIES_LENGTH = 256
MAX_LABELS = 32
MAX_LABEL_VALUE_LENGTH = 256
# Enough of a rejected message to see what went wrong, without copying megabytes into the DLQ.
DEAD_LETTER_EXCERPT = 4096

# Up to this many point objects, timestamps are converted one by one (a numpy call costs more).
_FEW_POINTS = 8
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_REQUIRED = ("timestamp", "value")
_SERIES, _TIMESTAMP, _VALUE = map(operator.itemgetter, ("series", "timestamp", "value"))


@dataclasses.dataclass(frozen=True, slots=True)
class LabeledPoint:
    """A valid point, its optional labels, and its index in a batched message (0 if single)."""

    point: MetricPoint
    labels: Mapping[str, str]
    index: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message, or one point of a batched message, was not scored.

    ``item`` is the offending JSON element of a batch (None when the whole message is rejected);
    ``index`` its position in the batch.
    """

    reason: str
    detail: str
    item: object = None
    index: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Columns:
    """The valid points of a column message: one series, its labels, finite epoch-second
    timestamps and finite values, and each point's index in the message."""

    series: str
    labels: Mapping[str, str]
    timestamps: np.ndarray
    values: np.ndarray
    indices: np.ndarray

    def points(self) -> list[LabeledPoint]:
        """The same points one by one."""
        return [
            LabeledPoint(MetricPoint(self.series, t, v), self.labels, i)
            for t, v, i in zip(
                self.timestamps.tolist(), self.values.tolist(), self.indices.tolist(), strict=True
            )
        ]


@dataclasses.dataclass(slots=True)
class Decoded:
    """The valid points of a message as runs of one series and one label set (``columns``, in
    message order: a batched message of one series is one run), and its rejections."""

    columns: list[Columns]
    rejections: list[Rejection]

    @property
    def points(self) -> list[LabeledPoint]:
        """The valid points one by one, in message order."""
        return [p for c in self.columns for p in c.points()]

    @property
    def n_points(self) -> int:
        return sum(len(c.values) for c in self.columns)


def decode_message(
    key: bytes | None,
    value: bytes | None,
    max_bytes: int = MAX_MESSAGE_BYTES,
    max_points: int = MAX_BATCH_POINTS,
    latest: float | None = None,
) -> Decoded:
    """Decode one message into valid points and rejections; never raises on bad input.

    In a batched message each point stands alone: the valid ones are kept, each invalid one is
    rejected with its index. A point later than ``latest`` (epoch seconds: the clock plus the
    allowed skew) is a ``future_timestamp``: scored, it would make its series refuse every
    point before it as ``out_of_order``.

    Examples
    --------
    >>> decoded = decode_message(b"cpu", b'[{"timestamp": 60, "value": 0.5},'
    ...                                   b' {"timestamp": "soon", "value": 1}]')
    >>> [p.point for p in decoded.points]
    [MetricPoint(series='cpu', timestamp=60.0, value=0.5)]
    >>> [(r.reason, r.index) for r in decoded.rejections]
    [('bad_timestamp', 1)]
    >>> decode_message(b"cpu", b"{oops").rejections[0].reason
    'malformed_json'

    A column message:

    >>> decoded = decode_message(b"cpu", b'{"timestamps": [60, 120, 180], "values": [1, null, 2]}')
    >>> (columns,) = decoded.columns
    >>> columns.values.tolist(), columns.indices.tolist(), decoded.rejections[0].reason
    ([1.0, 2.0], [0, 2], 'bad_value')

    A point from the future:

    >>> decoded = decode_message(b"cpu", b'{"timestamp": 7200, "value": 1}', latest=3600.0)
    >>> decoded.points, decoded.rejections[0].reason, decoded.rejections[0].detail
    ([], 'future_timestamp', 'timestamp 7200.0 is 3600 s past the latest allowed')
    """
    decoded = _decode(key, value, max_bytes, max_points)
    if latest is not None:
        _reject_future(decoded, latest)
    return decoded


def _decode(key: bytes | None, value: bytes | None, max_bytes: int, max_points: int) -> Decoded:
    if value is None:
        return Decoded([], [Rejection("empty_message", "the message has no value")])
    if len(value) > max_bytes:
        return Decoded(
            [], [Rejection("too_large", f"{len(value)} bytes, more than the {max_bytes} allowed")]
        )
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return Decoded([], [Rejection("malformed_json", str(exc))])

    if isinstance(document, dict) and "timestamps" in document and "values" in document:
        return _decode_columns(document, _key_text(key), max_points)
    if isinstance(document, dict):
        items, batched = [document], False
    elif isinstance(document, list):
        if len(document) > max_points:
            return Decoded(
                [],
                [Rejection("too_large", f"{len(document)} points, more than {max_points} allowed")],
            )
        items, batched = document, True
    else:
        kind = type(document).__name__
        return Decoded([], [Rejection("not_a_point", f"JSON {kind}, not an object or array")])

    return _decode_points(items, _key_text(key), batched)


def _reject_future(decoded: Decoded, latest: float) -> None:
    """Move the points of ``decoded`` later than ``latest`` to its rejections."""
    for number, columns in enumerate(decoded.columns):
        late = columns.timestamps > latest
        if not late.any():
            continue
        for t, v, i in zip(
            columns.timestamps[late].tolist(),
            columns.values[late].tolist(),
            columns.indices[late].tolist(),
            strict=True,
        ):
            item = point_document(MetricPoint(columns.series, t, v))
            decoded.rejections.append(_future(t, latest, item, i))
        keep = ~late
        decoded.columns[number] = dataclasses.replace(
            columns,
            timestamps=columns.timestamps[keep],
            values=columns.values[keep],
            indices=columns.indices[keep],
        )
    decoded.columns = [c for c in decoded.columns if len(c.values)]
    decoded.rejections.sort(key=_index)


def _future(timestamp: float, latest: float, item: object, index: int) -> Rejection:
    detail = f"timestamp {timestamp!r} is {timestamp - latest:.0f} s past the latest allowed"
    return Rejection("future_timestamp", detail, item, index)


def _decode_columns(document: dict, default_series: str | None, max_points: int) -> Decoded:
    timestamps, values = document["timestamps"], document["values"]
    try:
        if not isinstance(timestamps, list) or not isinstance(values, list):
            raise InvalidPoint("not_a_point", "timestamps and values must be arrays")
        if len(timestamps) != len(values):
            raise InvalidPoint(
                "not_a_point", f"{len(timestamps)} timestamps but {len(values)} values"
            )
        if len(values) > max_points:
            raise InvalidPoint("too_large", f"{len(values)} points, more than {max_points} allowed")
        series = _checked_series(document.get("series", default_series))
        labels = _parse_labels(document.get("labels"))
    except InvalidPoint as exc:
        return Decoded([], [Rejection(exc.reason, exc.detail)])
    rejections: list[Rejection] = []
    seconds = _column(timestamps, parse_timestamp, epoch_seconds, "bad_timestamp", rejections)
    numbers = _column(values, parse_value, _as_is, "non_finite_value", rejections)
    valid = np.isfinite(seconds) & np.isfinite(numbers)
    # One rejection per point, the timestamp's first (as a point object is checked).
    rejections = list({r.index: r for r in reversed(sorted(rejections, key=_index))}.values())
    rejections.sort(key=_index)
    indices = np.flatnonzero(valid)
    columns = Columns(series, labels, seconds[indices], numbers[indices], indices)
    return Decoded([columns] if len(indices) else [], rejections)


def _as_is(numbers: np.ndarray) -> np.ndarray:
    return numbers


def _index(rejection: Rejection) -> int:
    return rejection.index if rejection.index is not None else -1


def _column(items: list, parse, convert, invalid: str, rejections: list[Rejection]) -> np.ndarray:
    """``items`` as floats (NaN where invalid, with a rejection for each). Plain numbers, the
    common case, go through ``convert`` in one numpy call (NaN where ``invalid``); anything
    else one by one through ``parse``."""
    if all(type(item) is float or type(item) is int for item in items):
        try:
            numbers = convert(np.array(items, dtype=np.float64))
        except OverflowError:  # an int too large for a float: parse says why
            pass
        else:
            for index in np.flatnonzero(~np.isfinite(numbers)).tolist():
                rejections.append(
                    Rejection(invalid, f"point {index} is {items[index]!r}", None, index)
                )
            return numbers
    numbers = np.empty(len(items))
    for index, item in enumerate(items):
        try:
            numbers[index] = parse(item)
        except InvalidPoint as exc:
            numbers[index] = math.nan
            rejections.append(Rejection(exc.reason, exc.detail, item, index))
    return numbers


def _key_text(key: bytes | None) -> str | None:
    if not key:
        return None
    try:
        return key.decode()
    except UnicodeDecodeError:
        return None


def _epoch_timestamps(items: list) -> list[float]:
    """The epoch seconds of the items' plain-number timestamps, converted in one numpy call
    (a scalar call costs as much as thousands of points); NaN where a timestamp is anything
    else or out of range, which :func:`_decode_points` then parses (and explains) one by one.

    >>> items = [{"timestamp": 60}, {"timestamp": "soon"}, 3, {"timestamp": 6e12}] * 2
    >>> _epoch_timestamps(items)[:4]
    [60.0, nan, nan, 6000000000.0]

    A few points are left to :func:`_decode_points` (NaN), whose scalar conversion is faster:

    >>> _epoch_timestamps([{"timestamp": 60}])
    [nan]
    """
    if len(items) < _FEW_POINTS:
        return [math.nan] * len(items)
    numbers = [
        item.get("timestamp") if type(item) is dict else None  # bool is not a number here
        for item in items
    ]
    numbers = [x if type(x) is float or type(x) is int else math.nan for x in numbers]
    try:
        return epoch_seconds(np.array(numbers, dtype=np.float64)).tolist()
    except OverflowError:  # an int too large for a float: parsed (and refused) one by one
        return [math.nan] * len(items)


def _decode_points(items: list, default_series: str | None, batched: bool) -> Decoded:
    """The point objects ``items`` as runs of consecutive points of one series and one label
    set, without a Python object per point; each invalid item is rejected with its index (and,
    in a batch, its JSON element). A run's series and labels are checked once.

    >>> decoded = _decode_points([{"timestamp": 60, "value": 1}, {"timestamp": 120, "value": 2},
    ...                           {"series": "mem", "timestamp": 60, "value": 3}], "cpu", True)
    >>> [(c.series, c.timestamps.tolist(), c.indices.tolist()) for c in decoded.columns]
    [('cpu', [60.0, 120.0], [0, 1]), ('mem', [60.0], [2])]
    """
    if len(items) >= _FEW_POINTS:
        uniform = _uniform_run(items, default_series)
        if uniform is not None:
            return Decoded([uniform], [])
    seconds = _epoch_timestamps(items)
    decoded = Decoded([], [])
    run: tuple[str, object, Mapping[str, str]] | None = None  # series, labels as given, checked
    times: list[float] = []
    values: list[float] = []
    indices: list[int] = []
    for index, item in enumerate(items):
        try:
            if type(item) is not dict:
                raise InvalidPoint("not_a_point", f"point {index} is a JSON {type(item).__name__}")
            if "timestamp" not in item or "value" not in item:
                missing = "timestamp" if "timestamp" not in item else "value"
                raise InvalidPoint("missing_field", f"point {index} has no {missing!r}")
            series = item.get("series", default_series)
            given_labels = item.get("labels")
            same_run = run is not None and series == run[0] and given_labels == run[1]
            if not same_run:
                if series is None:
                    raise InvalidPoint(
                        "missing_field", f"point {index} has no 'series' and no message key"
                    )
                series = _checked_series(series)
            timestamp = seconds[index]
            if timestamp != timestamp:  # NaN: not a plain number in range, parsed here
                timestamp = parse_timestamp(item["timestamp"])
            value = item["value"]
            if type(value) is not float or value - value != 0.0:  # not a finite float
                value = parse_value(value)
            if not same_run:
                labels = _parse_labels(given_labels)
        except InvalidPoint as exc:
            decoded.rejections.append(
                Rejection(exc.reason, exc.detail, item if batched else None, index)
            )
            continue
        if not same_run:
            _end_run(decoded, run, times, values, indices)
            run, times, values, indices = (series, given_labels, labels), [], [], []
        times.append(timestamp)
        values.append(value)
        indices.append(index)
    _end_run(decoded, run, times, values, indices)
    return decoded


def _uniform_run(items: list, default_series: str | None) -> Columns | None:
    """A batch as producers write it, one run converted column by column: point objects of
    one valid series and label set, with plain epoch-number timestamps and finite numbers.
    None for anything else, which :func:`_decode_points` checks (and explains) point by point.

    >>> _uniform_run([{"timestamp": 60 * k, "value": k} for k in range(1, 9)], "cpu").values
    array([1., 2., 3., 4., 5., 6., 7., 8.])
    >>> _uniform_run([{"timestamp": "soon", "value": k} for k in range(8)], "cpu") is None
    True
    """
    # Every check maps a C function over the items (no Python loop per point)
    try:  # an item that is not an object raises TypeError, one without the field KeyError
        stamps = list(map(_TIMESTAMP, items))
        numbers = list(map(_VALUE, items))
    except (KeyError, TypeError):
        return None
    first, n = items[0], len(items)
    series = first.get("series", default_series)
    labels = first.get("labels")
    if "series" in first:  # as producers write it: every item names it
        try:
            named = list(map(_SERIES, items))
        except KeyError:
            return None
    else:
        named = list(map(dict.get, items, repeat("series", n), repeat(default_series, n)))
    if named.count(series) != n:
        return None
    # Items of the fields read above only (the same count) have no labels; else compare them.
    plain_items = labels is None and set(map(len, items)) == {2 + ("series" in first)}
    if not plain_items and list(map(dict.get, items, repeat("labels", n))).count(labels) != n:
        return None
    plain = {float, int}  # not bool, not strings: those are parsed one by one
    if not {*map(type, stamps), *map(type, numbers)} <= plain:
        return None
    try:
        seconds = epoch_seconds(np.array(stamps, dtype=np.float64))
        values = np.array(numbers, dtype=np.float64)
        series = _checked_series(series)
        labels = _parse_labels(labels)
    except (OverflowError, InvalidPoint):
        return None
    if not (np.isfinite(seconds).all() and np.isfinite(values).all()):
        return None
    return Columns(series, labels, seconds, values, np.arange(n))


def _end_run(decoded: Decoded, run, times: list, values: list, indices: list) -> None:
    if run is not None and times:
        series, _, labels = run
        decoded.columns.append(
            Columns(
                series,
                labels,
                np.array(times, dtype=np.float64),
                np.array(values, dtype=np.float64),
                np.array(indices, dtype=np.int64),
            )
        )


def _checked_series(series: object) -> str:
    if series is None:
        raise InvalidPoint("missing_field", "no 'series' and no message key")
    if not isinstance(series, str) or not series or len(series) > MAX_SERIES_LENGTH:
        raise InvalidPoint(
            "bad_series",
            f"series must be a non-empty string of at most {MAX_SERIES_LENGTH} characters",
        )
    return series


def _parse_labels(labels: object) -> Mapping[str, str]:
    if labels is None:
        return {}
    if not isinstance(labels, dict) or len(labels) > MAX_LABELS:
        raise InvalidPoint("bad_labels", f"labels must be an object of at most {MAX_LABELS}")
    for name, text in labels.items():
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise InvalidPoint("bad_labels", f"label name {name[:64]!r} is not a Prometheus name")
        if not isinstance(text, str) or len(text) > MAX_LABEL_VALUE_LENGTH:
            raise InvalidPoint("bad_labels", f"label {name!r} is not a string of <= 256 chars")
    return labels


def dead_letter(rejection: Rejection, source: Mapping[str, object], value: bytes | None) -> bytes:
    """The dead-letter document for ``rejection``: reason, detail, where it came from, and the
    offending point (batched messages) or an excerpt of the message.

    ``source`` names the input record (topic, partition, offset, key, timestamp_ms).

    Examples
    --------
    >>> doc = orjson.loads(dead_letter(Rejection("malformed_json", "bad"),
    ...                                {"topic": "metrics", "offset": 7}, b"{oops"))
    >>> doc["reason"], doc["source"]["offset"], doc["message"]
    ('malformed_json', 7, '{oops')
    """
    document: dict[str, object] = {
        "reason": rejection.reason,
        "detail": rejection.detail,
        "source": dict(source),
    }
    if rejection.index is not None:
        document["index"] = rejection.index
    if rejection.item is not None:
        document["point"] = rejection.item
    elif value is not None:
        document["message"] = value[:DEAD_LETTER_EXCERPT].decode(errors="replace")
        document["truncated"] = len(value) > DEAD_LETTER_EXCERPT
    return orjson.dumps(document)


def point_document(point: MetricPoint) -> dict[str, object]:
    """A point as the JSON object of the contract, with an RFC 3339 timestamp."""
    return {
        "series": point.series,
        "timestamp": format_timestamp(point.timestamp),
        "value": point.value,
    }


def score_document(point: MetricPoint, assessment: Assessment) -> bytes:
    """The scores-topic message of a scored point (NaN, e.g. a band in warm-up, becomes null).

    Examples
    --------
    >>> from detectors import DetectorStack
    >>> scored = DetectorStack(grace_period=5).process(60.0, 1.5)
    >>> document = orjson.loads(score_document(MetricPoint("cpu", 60.0, 1.5), scored))
    >>> document["series"], document["timestamp"], document["anomaly_score"], document["expected"]
    ('cpu', 60.0, 0.0, None)
    """
    return orjson.dumps(
        {
            "series": point.series,
            "timestamp": point.timestamp,
            "value": point.value,
            "anomaly_score": assessment.anomaly_score,
            "onset_score": assessment.onset_score,
            "alert": assessment.alert,
            "zscore": _finite_or_none(assessment.zscore),
            "expected": _finite_or_none(assessment.expected),
            "lower": _finite_or_none(assessment.lower),
            "upper": _finite_or_none(assessment.upper),
        }
    )


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def encode_columns(
    series: str,
    timestamps: Sequence[float],
    values: Sequence[float],
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """One column message: the points of one series as two arrays.

    >>> encode_columns("cpu", [60.0, 120.0], [0.5, 0.7])
    b'{"series":"cpu","timestamps":[60.0,120.0],"values":[0.5,0.7]}'
    """
    document: dict[str, object] = {
        "series": series,
        "timestamps": [float(t) for t in timestamps],
        "values": [float(v) for v in values],
    }
    if labels:
        document["labels"] = dict(labels)
    return orjson.dumps(document)


def encode_points(
    series: str,
    timestamps: Sequence[float],
    values: Sequence[float],
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """One message value: a point object when there is one point, else an array of points.

    Timestamps are written as epoch seconds, which round-trip exactly.

    Examples
    --------
    >>> encode_points("cpu", [60.0], [0.5])
    b'{"series":"cpu","timestamp":60.0,"value":0.5}'
    >>> [p.point.value for p in decode_message(b"cpu", encode_points("cpu", [1, 2], [3, 4])).points]
    [3.0, 4.0]
    """
    points = []
    for timestamp, value in zip(timestamps, values, strict=True):
        point: dict[str, object] = {
            "series": series,
            "timestamp": float(timestamp),
            "value": float(value),
        }
        if labels:
            point["labels"] = dict(labels)
        points.append(point)
    return orjson.dumps(points[0] if len(points) == 1 else points)


@dataclasses.dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message to publish: due at event time ``at`` (its last point's timestamp)."""

    at: float
    key: bytes
    value: bytes
    n_points: int


def plan_messages(
    series: Iterable[tuple[str, Sequence[float], Sequence[float]]],
    batch_size: int = 1,
    columns: bool = False,
) -> list[OutgoingMessage]:
    """Cut each series into messages of up to ``batch_size`` points, merged by event time;
    with ``columns``, as column messages (:func:`encode_columns`).

    ``series`` yields ``(series id, timestamps, values)``. A message is due when its last point
    happened, so replaying at real time never sends a point before its time.

    Examples
    --------
    >>> plan = plan_messages([("a", [0, 10, 20], [1, 2, 3]), ("b", [5, 15], [1, 1])], 2)
    >>> [(m.key, m.at, m.n_points) for m in plan]
    [(b'a', 10.0, 2), (b'b', 15.0, 2), (b'a', 20.0, 1)]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    encode = encode_columns if columns else encode_points
    per_series = []
    for name, timestamps, values in series:
        key = name.encode()
        messages = []
        for start in range(0, len(timestamps), batch_size):
            chunk_ts = [float(t) for t in timestamps[start : start + batch_size]]
            chunk_values = values[start : start + batch_size]
            if any(not math.isfinite(t) for t in chunk_ts):
                raise ValueError(f"series {name!r} has a non-finite timestamp")
            messages.append(
                OutgoingMessage(
                    chunk_ts[-1], key, encode(name, chunk_ts, chunk_values), len(chunk_ts)
                )
            )
        per_series.append(messages)
    # A merge, not a sort: each series keeps its input order even where its timestamps do not
    # (the consumer must see what the file says), and ties keep the order of the series.
    return list(heapq.merge(*per_series, key=lambda message: message.at))
