"""The unit of data: one metric point of one series, and the parsing of its timestamp."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

__all__ = ["MetricPoint", "InvalidPoint", "parse_timestamp", "format_timestamp"]


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


def parse_timestamp(value: object) -> float:
    """Epoch seconds from epoch seconds (int/float/numeric string) or an ISO 8601 / RFC 3339 string.

    Naive timestamps are taken as UTC.

    Examples
    --------
    >>> parse_timestamp("2014-02-14 14:30:00")
    1392388200.0
    >>> parse_timestamp("2014-02-14T15:30:00+01:00")
    1392388200.0
    >>> parse_timestamp(1392388200)
    1392388200.0
    """
    if isinstance(value, bool) or value is None:
        raise InvalidPoint("bad_timestamp", f"timestamp is {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidPoint(
                    "bad_timestamp", f"timestamp {value!r} is not RFC 3339"
                ) from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            seconds = parsed.timestamp()
    else:
        raise InvalidPoint("bad_timestamp", f"timestamp {value!r} has type {type(value).__name__}")
    if not math.isfinite(seconds):
        raise InvalidPoint("bad_timestamp", f"timestamp is {seconds}")
    return seconds


def format_timestamp(seconds: float) -> str:
    """RFC 3339 UTC text of epoch seconds.

    >>> format_timestamp(1392388200.0)
    '2014-02-14T14:30:00Z'
    """
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")
