"""Event-time order per series: a detector must see each series' points in time order, once."""

from __future__ import annotations

from stream.point import InvalidPoint

__all__ = ["OrderGuard"]


class OrderGuard:
    """Rejects a point whose timestamp is not after the last accepted one of its series.

    An earlier timestamp is ``out_of_order``. A repeated timestamp is a ``duplicate_timestamp``
    (re-delivery, or a double write upstream) and rejected by default, so that the first point
    accepted for a timestamp wins and re-processing is idempotent. With
    ``keep_duplicates=True`` it is admitted and counted instead: in a file, row order is the
    truth, and a repeated timestamp is usually a clock artefact (NAB's AWS exports repeat the
    hour of a daylight-saving change).

    Parameters
    ----------
    keep_duplicates
        Admit points whose timestamp equals the series' last one (counted in ``kept_duplicates``).

    Examples
    --------
    >>> guard = OrderGuard()
    >>> guard.admit("cpu", 10.0)
    >>> try:
    ...     guard.admit("cpu", 10.0)
    ... except InvalidPoint as error:
    ...     print(error.reason)
    duplicate_timestamp
    """

    def __init__(self, keep_duplicates: bool = False):
        self.keep_duplicates = keep_duplicates
        self.kept_duplicates = 0
        self._last: dict[str, float] = {}

    def admit(self, series: str, timestamp: float) -> None:
        """Accept ``timestamp`` for ``series`` or raise :class:`InvalidPoint`."""
        last = self._last.get(series)
        if last is not None and timestamp <= last:
            if timestamp < last:
                raise InvalidPoint(
                    "out_of_order", f"timestamp {timestamp} before {last} in series {series!r}"
                )
            if not self.keep_duplicates:
                raise InvalidPoint(
                    "duplicate_timestamp", f"timestamp {timestamp} repeated in series {series!r}"
                )
            self.kept_duplicates += 1
        self._last[series] = timestamp

    def forget(self, series: str) -> None:
        self._last.pop(series, None)
