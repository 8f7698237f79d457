"""The unit of data: one metric point of one series, and the parsing of its timestamp."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np

__all__ = [
    "MetricPoint",
    "InvalidPoint",
    "parse_timestamp",
    "format_timestamp",
    "epoch_seconds",
    "LATEST_TIMESTAMP",
]

#: The last second a timestamp may name (9999-12-31T23:59:59Z): what RFC 3339 can write.
LATEST_TIMESTAMP = 253402300799.0
#: Epoch numbers are told apart by magnitude: below 1e11 seconds (up to the year 5138), below
#: 1e14 milliseconds, below 1e17 microseconds, below 1e20 nanoseconds. (A millisecond time
#: before 1973-03-03, below 1e11, reads as seconds: no real metric is that old.)
_UNIT_BOUNDS = ((1e11, 1.0), (1e14, 1e3), (1e17, 1e6), (1e20, 1e9))  # (bound, per second)


class InvalidPoint(ValueError):
    """A point that cannot be scored; ``reason`` is a short, bounded label for counters."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True, slots=True)
class MetricPoint:
    """One observation: ``series`` id, event time in epoch seconds (UTC), and a finite value.

    Examples
    --------
    >>> MetricPoint.parse("api.latency", "2024-01-01T00:00:00Z", "12.5")
    MetricPoint(series='api.latency', timestamp=1704067200.0, value=12.5)
    >>> try:
    ...     MetricPoint.parse("api.latency", 1704067200, "nan")
    ... except InvalidPoint as error:
    ...     print(error.reason)
    non_finite_value
    """

    series: str
    timestamp: float
    value: float

    @classmethod
    def parse(cls, series: object, timestamp: object, value: object) -> MetricPoint:
        """Validate raw fields into a point, or raise :class:`InvalidPoint`."""
        if not isinstance(series, str) or not series:
            raise InvalidPoint(
                "missing_series", f"series must be a non-empty string, got {series!r}"
            )
        return cls(series, parse_timestamp(timestamp), parse_value(value))


def parse_value(value: object) -> float:
    if isinstance(value, bool) or value is None:
        raise InvalidPoint("bad_value", f"value is {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidPoint("bad_value", f"value {value!r} is not a number") from None
    if not math.isfinite(number):
        raise InvalidPoint("non_finite_value", f"value is {number}")
    return number


def epoch_seconds(numbers: np.ndarray) -> np.ndarray:
    """Epoch seconds of epoch numbers in s, ms, us or ns (told apart by magnitude, see
    ``_UNIT_BOUNDS``); NaN where no unit gives a time from 1970 to the year 9999.

    >>> epoch_seconds(np.array([1700000000, 1700000000123, 1.7e15, 1.7e18, -5, 1e308])).tolist()
    [1700000000.0, 1700000000.123, 1700000000.0, 1700000000.0, nan, nan]
    """
    numbers = np.asarray(numbers, dtype=np.float64)
    if numbers.size and 0.0 <= numbers.min() and numbers.max() < _UNIT_BOUNDS[0][0]:
        return numbers.copy()  # all in seconds, as batches usually are: 2 numpy calls, not 15
    seconds = np.full(numbers.shape, np.nan)
    magnitude = np.abs(numbers)
    below = np.zeros(numbers.shape, dtype=bool)
    for bound, per_second in _UNIT_BOUNDS:
        unit = ~below & (magnitude < bound)
        seconds[unit] = numbers[unit] / per_second
        below |= unit
    seconds[(seconds < 0) | (seconds > LATEST_TIMESTAMP)] = np.nan
    return seconds


def _epoch_second(number: float) -> float:
    """:func:`epoch_seconds` of one number, without numpy (whose calls cost more than this).

    >>> _epoch_second(1700000000123.0), _epoch_second(-5.0)
    (1700000000.123, nan)
    """
    magnitude = abs(number)
    for bound, per_second in _UNIT_BOUNDS:
        if magnitude < bound:
            seconds = number / per_second
            return seconds if 0.0 <= seconds <= LATEST_TIMESTAMP else math.nan
    return math.nan


def parse_timestamp(value: object) -> float:
    """Epoch seconds from an epoch number (int/float/numeric string; seconds, milliseconds,
    microseconds or nanoseconds, told apart by magnitude: :func:`epoch_seconds`) or an
    ISO 8601 / RFC 3339 string. Naive timestamps are taken as UTC. A time before 1970 or after
    the year 9999 is a ``bad_timestamp``.

    Examples
    --------
    >>> parse_timestamp("2014-02-14 14:30:00")
    1392388200.0
    >>> parse_timestamp("2014-02-14T15:30:00+01:00")
    1392388200.0
    >>> parse_timestamp(1392388200)
    1392388200.0
    >>> parse_timestamp(1392388200000)  # milliseconds
    1392388200.0
    """
    if isinstance(value, bool) or value is None:
        raise InvalidPoint("bad_timestamp", f"timestamp is {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return _in_range(_iso_seconds(text, value), value)
    else:
        raise InvalidPoint("bad_timestamp", f"timestamp {value!r} has type {type(value).__name__}")
    seconds = _epoch_second(number)
    if not math.isfinite(seconds):
        raise InvalidPoint(
            "bad_timestamp", f"timestamp {value!r} is no time from 1970 to 9999 in s, ms, us or ns"
        )
    return seconds


def _iso_seconds(text: str, value: object) -> float:
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidPoint("bad_timestamp", f"timestamp {value!r} is not RFC 3339") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _in_range(seconds: float, value: object) -> float:
    if not 0.0 <= seconds <= LATEST_TIMESTAMP:
        raise InvalidPoint("bad_timestamp", f"timestamp {value!r} is before 1970")
    return seconds


def format_timestamp(seconds: float) -> str:
    """RFC 3339 UTC text of epoch seconds; a number RFC 3339 cannot write (before 1970, after
    9999, not finite) comes back as its decimal text, so that no document about a bad point
    fails to be written.

    >>> format_timestamp(1392388200.0)
    '2014-02-14T14:30:00Z'
    >>> format_timestamp(1700012000000.0)
    '1700012000000.0'
    """
    if not 0.0 <= seconds <= LATEST_TIMESTAMP:  # also False for NaN
        return repr(float(seconds))
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")
