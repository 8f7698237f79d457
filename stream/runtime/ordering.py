"""Event-time order per series: a detector must see each series' points in time order, once.

The policy, per series, with a reorder window of ``W`` seconds of event time (0 by default):

- the series' *watermark* is its latest timestamp seen minus ``W``;
- a point is held back until the watermark reaches it, then released with the other held points
  in timestamp order (with ``W = 0`` every point is released at once);
- a point earlier than the last released one of its series arrived too late to be put in order:
  it is refused as ``out_of_order``;
- a point repeating a timestamp already released or held is a ``duplicate_timestamp``: the first
  one wins, so re-delivery is idempotent (``keep_duplicates=True`` admits it after the others).

So any arrival order in which no point comes more than ``W`` seconds (of event time) after a later
point of its series releases the same points in the same order as the sorted stream.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from stream.point import InvalidPoint

__all__ = ["OrderGuard", "ADMITTED", "OUT_OF_ORDER", "DUPLICATE"]

#: What :meth:`OrderGuard.admit_run` decided about each timestamp.
ADMITTED, OUT_OF_ORDER, DUPLICATE = 0, 1, 2


class _SeriesOrder:
    """One series: last released timestamp, latest timestamp seen, the held points."""

    __slots__ = ("last", "latest", "held", "held_stamps")

    def __init__(self) -> None:
        self.last: float | None = None
        self.latest: float | None = None
        self.held: list[tuple[float, int, Any]] = []  # a heap of (timestamp, arrival, item)
        self.held_stamps: set[float] | None = None


class OrderGuard:
    """Admits each series' points in event-time order; holds early arrivals for ``reorder_window``.

    Parameters
    ----------
    keep_duplicates
        Admit points whose timestamp a point of the series already had (counted in
        ``kept_duplicates``), after the earlier ones. Meant for files, where row order is the
        truth and a repeated timestamp is a clock artefact (NAB's AWS exports repeat the hour of
        a daylight-saving change); live, the first point wins.
    reorder_window
        Seconds of event time a point waits for earlier points of its series (see the module
        docstring).

    Examples
    --------
    >>> guard = OrderGuard()
    >>> guard.admit("cpu", 10.0)
    [(10.0, None)]
    >>> try:
    ...     guard.admit("cpu", 10.0)
    ... except InvalidPoint as error:
    ...     print(error.reason)
    duplicate_timestamp

    With a window, points wait until the series has moved on by the window:

    >>> guard = OrderGuard(reorder_window=60)
    >>> guard.admit("cpu", 120.0, "b"), guard.admit("cpu", 70.0, "a")
    ([], [])
    >>> guard.admit("cpu", 190.0, "c")  # the watermark moves to 130
    [(70.0, 'a'), (120.0, 'b')]
    >>> guard.held_count("cpu"), guard.drain("cpu")
    (1, [(190.0, 'c')])
    """

    def __init__(self, keep_duplicates: bool = False, reorder_window: float = 0.0):
        if not reorder_window >= 0:
            raise ValueError(f"reorder_window must be >= 0 seconds, got {reorder_window}")
        self.keep_duplicates = keep_duplicates
        self.reorder_window = float(reorder_window)
        self.kept_duplicates = 0
        self._series: dict[str, _SeriesOrder] = {}
        self._arrivals = itertools.count()  # ties between kept duplicates: arrival order
        # Kept up to date rather than summed: a metrics scrape reads it from another thread.
        self._held_total = 0

    def admit(self, series: str, timestamp: float, item: Any = None) -> list[tuple[float, Any]]:
        """Accept ``timestamp`` for ``series`` or raise :class:`InvalidPoint`; return the
        ``(timestamp, item)`` pairs now released, in timestamp order (possibly none)."""
        order = self._series.get(series)
        if order is None:
            order = self._series[series] = _SeriesOrder()
        last = order.last
        if last is not None and timestamp <= last:
            if timestamp < last:
                raise InvalidPoint(
                    "out_of_order",
                    f"timestamp {timestamp} before {last}, the last point scored in series "
                    f"{series!r} (reorder window {self.reorder_window:g} s)",
                )
            self._duplicate(series, timestamp)
        if not self.reorder_window:
            order.last = order.latest = timestamp
            return [(timestamp, item)]

        if order.held_stamps is None:
            order.held_stamps = set()
        if timestamp in order.held_stamps:
            self._duplicate(series, timestamp)
        order.held_stamps.add(timestamp)
        heapq.heappush(order.held, (timestamp, next(self._arrivals), item))
        self._held_total += 1
        if order.latest is None or timestamp > order.latest:
            order.latest = timestamp
        return self._release(order, order.latest - self.reorder_window)

    def admit_run(self, series: str, timestamps: np.ndarray) -> np.ndarray:
        """:meth:`admit` for many timestamps of one series, without a reorder window.

        Returns a code per timestamp: :data:`ADMITTED`, :data:`OUT_OF_ORDER` or
        :data:`DUPLICATE` (refused), exactly as one :meth:`admit` call per timestamp decides.

        >>> guard = OrderGuard()
        >>> guard.admit_run("cpu", np.array([1.0, 2.0, 2.0, 1.5, 3.0])).tolist()
        [0, 0, 2, 1, 0]
        """
        if self.reorder_window:
            raise TypeError("admit_run decides at once: it needs reorder_window=0")
        order = self._series.get(series)
        if order is None:
            order = self._series[series] = _SeriesOrder()
        start = -math.inf if order.last is None else order.last
        # Refused timestamps never exceed the running maximum, so the last admitted timestamp
        # before each point is the running maximum of all the points before it.
        previous = np.maximum.accumulate(np.concatenate(([start], timestamps)))[:-1]
        codes = np.where(timestamps < previous, OUT_OF_ORDER, ADMITTED).astype(np.int8)
        duplicate = timestamps == previous
        if self.keep_duplicates:
            self.kept_duplicates += int(np.count_nonzero(duplicate))
        else:
            codes[duplicate] = DUPLICATE
        if len(timestamps):
            order.last = order.latest = max(start, float(timestamps.max()))
        return codes

    def _duplicate(self, series: str, timestamp: float) -> None:
        if not self.keep_duplicates:
            raise InvalidPoint(
                "duplicate_timestamp", f"timestamp {timestamp} repeated in series {series!r}"
            )
        self.kept_duplicates += 1

    def _release(self, order: _SeriesOrder, watermark: float) -> list[tuple[float, Any]]:
        released = []
        held = order.held
        while held and held[0][0] <= watermark:
            timestamp, _, item = heapq.heappop(held)
            released.append((timestamp, item))
        if released:
            self._held_total -= len(released)
            order.last = released[-1][0]
            stamps = order.held_stamps
            if stamps is not None:
                stamps.difference_update(timestamp for timestamp, _ in released)
        return released

    def drain(self, series: str) -> list[tuple[float, Any]]:
        """Release every held point of ``series`` now (end of input), in timestamp order."""
        order = self._series.get(series)
        if order is None:
            return []
        return self._release(order, float("inf"))

    def held_count(self, series: str | None = None) -> int:
        """Points held back, of ``series`` or of all series."""
        if series is not None:
            order = self._series.get(series)
            return len(order.held) if order is not None else 0
        return self._held_total

    def last(self, series: str) -> float | None:
        """The timestamp of the last point released for ``series`` (None: none yet)."""
        order = self._series.get(series)
        return order.last if order is not None else None

    def forget(self, series: str) -> None:
        """Drop what is known of ``series``, held points included."""
        order = self._series.pop(series, None)
        if order is not None:
            self._held_total -= len(order.held)

    def state(self, series: str) -> dict[str, Any]:
        """The order state of ``series`` as plain data: ``last``, ``latest`` and ``held``, the
        held ``[timestamp, item]`` pairs in release order."""
        order = self._series.get(series)
        if order is None:
            return {"last": None, "latest": None, "held": []}
        held = [[timestamp, item] for timestamp, _, item in sorted(order.held)]
        return {"last": order.last, "latest": order.latest, "held": held}

    def load(
        self,
        series: str,
        last: float | None,
        latest: float | None,
        held: Iterable[tuple[float, Any]] = (),
    ) -> None:
        """Replace the order state of ``series`` by one from :meth:`state`."""
        order = _SeriesOrder()
        order.last = last
        order.latest = latest
        for timestamp, item in held:
            heapq.heappush(order.held, (timestamp, next(self._arrivals), item))
        if order.held:
            order.held_stamps = {timestamp for timestamp, _, _ in order.held}
        self.forget(series)
        self._series[series] = order
        self._held_total += len(order.held)
