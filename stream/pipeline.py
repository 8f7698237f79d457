"""One detector stack per series, created on first sight, fed in event-time order, bounded.

Bounds (see ``docs/live.md``, "Bounded resources and time"):

- ``max_series``: at most this many series have detector state. A point of a *new* series beyond
  it is refused as ``series_limit`` (and counted); series already tracked keep being scored. A
  flood of new label values cannot evict what was learned about the series that matter.
- ``idle_ttl``: :meth:`Pipeline.evict_idle` forgets series that accepted no point for this many
  seconds of the pipeline's ``clock`` (monotonic wall time, not event time: a backlog consumed
  after an outage carries old timestamps but is not idle, and one point from a wrong clock far
  in the future cannot make every other series look idle).
- ``reorder_window``: seconds of event time a point waits for earlier points of its series
  (see :mod:`stream.ordering`).

A series' state (:meth:`Pipeline.snapshot_series`) is its detector stack (a
:mod:`detectors.state` snapshot), its last scored and latest seen timestamps, and the points
held for reordering, so restoring it mid-stream continues exactly where it stopped.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from detectors import Assessment, DetectorStack
from detectors.state import SnapshotError, restore, snapshot
from stream.alerts import AlertEvent
from stream.ordering import OrderGuard
from stream.point import InvalidPoint, MetricPoint

__all__ = ["Pipeline", "Scored", "SERIES_STATE_FORMAT", "SERIES_STATE_VERSION"]

SERIES_STATE_FORMAT = "lookout-series-state"
SERIES_STATE_VERSION = 1

_NO_LABELS: Mapping[str, str] = {}


@dataclasses.dataclass(frozen=True, slots=True)
class Scored:
    """A point released in event-time order and what its series' stack made of it."""

    point: MetricPoint
    labels: Mapping[str, str]
    assessment: Assessment
    event: AlertEvent | None


class Pipeline:
    """Routes points to their series' detector stack, in event-time order, within bounds.

    Parameters
    ----------
    stack_factory
        Builds a fresh stack for a new series (e.g. ``functools.partial(DetectorStack, ...)``).
    keep_duplicates
        Score repeated timestamps in arrival order instead of rejecting them (see
        :class:`~stream.ordering.OrderGuard`).
    max_series
        Most series with detector state; points of further new series raise
        ``InvalidPoint("series_limit")``. None: no limit.
    idle_ttl
        Seconds (of ``clock``) without an accepted point after which :meth:`evict_idle` forgets a
        series. None: never.
    reorder_window
        Seconds of event time a point is held for earlier points of its series (0: none).
    clock
        Monotonic seconds, read once per accepted point to know when each series was last seen.

    Examples
    --------
    >>> pipeline = Pipeline(lambda: DetectorStack(grace_period=10), max_series=1)
    >>> for t in range(50):
    ...     assessment, event = pipeline.process(MetricPoint("cpu", float(t), 1.0 + t % 3))
    >>> pipeline.series_count, assessment.alert
    (1, False)
    >>> try:
    ...     pipeline.process(MetricPoint("mem", 0.0, 1.0))
    ... except InvalidPoint as error:
    ...     print(error.reason, pipeline.dropped_new_series_total)
    series_limit 1

    With a reorder window, :meth:`push` returns what is released, in timestamp order:

    >>> pipeline = Pipeline(lambda: DetectorStack(grace_period=10), reorder_window=120)
    >>> [s.point.timestamp for s in pipeline.push(MetricPoint("cpu", 60.0, 1.0))]
    []
    >>> [s.point.timestamp for s in pipeline.push(MetricPoint("cpu", 0.0, 1.0))]
    []
    >>> [s.point.timestamp for s in pipeline.push(MetricPoint("cpu", 180.0, 1.0))]
    [0.0, 60.0]
    """

    def __init__(
        self,
        stack_factory: Callable[[], DetectorStack] = DetectorStack,
        keep_duplicates: bool = False,
        max_series: int | None = None,
        idle_ttl: float | None = None,
        reorder_window: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if max_series is not None and max_series < 1:
            raise ValueError(f"max_series must be at least 1 (or None), got {max_series}")
        if idle_ttl is not None and not idle_ttl > 0:
            raise ValueError(f"idle_ttl must be positive seconds (or None), got {idle_ttl}")
        self.stack_factory = stack_factory
        self.keep_duplicates = keep_duplicates
        self.max_series = max_series
        self.idle_ttl = idle_ttl
        self.reorder_window = reorder_window
        self.clock = clock
        self.order = OrderGuard(keep_duplicates, reorder_window)
        self.stacks: dict[str, DetectorStack] = {}
        # series -> clock time of its last accepted point, least recently seen first
        self._seen: collections.OrderedDict[str, float] = collections.OrderedDict()
        self.evicted_total = 0
        self.dropped_new_series_total = 0

    @property
    def series_count(self) -> int:
        return len(self.stacks)

    @property
    def held_count(self) -> int:
        """Points held for reordering, over all series."""
        return self.order.held_count() if self.reorder_window else 0

    def series_ids(self) -> list[str]:
        return list(self.stacks)

    # --- scoring -----------------------------------------------------------------------------

    def push(self, point: MetricPoint, labels: Mapping[str, str] | None = None) -> list[Scored]:
        """Admit one point; score and learn every point it releases, in timestamp order.

        Raises ``InvalidPoint`` (``out_of_order``, ``duplicate_timestamp``, ``series_limit``)
        for a point that will never be scored; nothing about its series changes then.
        """
        series = point.series
        stack = self.stacks.get(series)
        if stack is None:
            if self.max_series is not None and len(self.stacks) >= self.max_series:
                self.dropped_new_series_total += 1
                raise InvalidPoint(
                    "series_limit",
                    f"series {series!r} is new and {self.max_series} series are tracked already",
                )
            stack = self.stack_factory()
            released = self.order.admit(series, point.timestamp, (point, labels))
            self.stacks[series] = stack  # only once admitted: a refused point leaves no trace
        else:
            released = self.order.admit(series, point.timestamp, (point, labels))
        self._seen[series] = self.clock()
        self._seen.move_to_end(series)
        return [self._score(stack, *item) for _, item in released]

    def _score(
        self, stack: DetectorStack, point: MetricPoint, labels: Mapping[str, str] | None
    ) -> Scored:
        assessment = stack.process(point.timestamp, point.value)
        event = None
        if assessment.transition is not None:
            event = AlertEvent.from_assessment(point.series, assessment)
        return Scored(point, labels if labels is not None else _NO_LABELS, assessment, event)

    def process(self, point: MetricPoint) -> tuple[Assessment, AlertEvent | None]:
        """Score and learn one point at once (no reorder window); raises ``InvalidPoint``."""
        if self.reorder_window:
            raise TypeError("with a reorder window points may wait: use push(), then flush()")
        (scored,) = self.push(point)
        return scored.assessment, scored.event

    def flush(self, series: str | None = None) -> list[Scored]:
        """Score every held point now, of ``series`` or of all series (the end of the input)."""
        names = [series] if series is not None else list(self.stacks)
        scored = []
        for name in names:
            stack = self.stacks.get(name)
            if stack is None:
                continue
            scored.extend(self._score(stack, *item) for _, item in self.order.drain(name))
        return scored

    # --- bounds ------------------------------------------------------------------------------

    def evict_idle(self, now: float | None = None) -> list[str]:
        """Forget the series without an accepted point for ``idle_ttl`` seconds before ``now``
        (default: ``clock()``); their held points are dropped with them. Returns their ids."""
        if self.idle_ttl is None:
            return []
        cutoff = (self.clock() if now is None else now) - self.idle_ttl
        evicted = []
        seen = self._seen
        while seen:
            series, last_seen = next(iter(seen.items()))
            if last_seen >= cutoff:
                break
            self.drop_series(series)
            evicted.append(series)
        self.evicted_total += len(evicted)
        return evicted

    def drop_series(self, series: str) -> None:
        """Forget ``series`` entirely (e.g. its partition was revoked); a no-op if unknown."""
        self.stacks.pop(series, None)
        self.order.forget(series)
        self._seen.pop(series, None)

    # --- state -------------------------------------------------------------------------------

    def snapshot_series(self, series: str) -> bytes:
        """The state of ``series``: a JSON header line (format, version, series, timestamps,
        held points) followed by its stack's :func:`detectors.state.snapshot`.

        Raises ``KeyError`` for a series without state.

        Examples
        --------
        >>> pipeline = Pipeline(lambda: DetectorStack(grace_period=5))
        >>> _ = [pipeline.process(MetricPoint("cpu", 60.0 * t, t % 4)) for t in range(30)]
        >>> twin = Pipeline(lambda: DetectorStack(grace_period=5))
        >>> twin.restore_series("cpu", pipeline.snapshot_series("cpu"))
        >>> point = MetricPoint("cpu", 1800.0, 2.0)
        >>> repr(twin.process(point)) == repr(pipeline.process(point))
        True
        """
        stack = self.stacks[series]
        order = self.order.state(series)
        header = {
            "format": SERIES_STATE_FORMAT,
            "version": SERIES_STATE_VERSION,
            "series": series,
            "last": order["last"],
            "latest": order["latest"],
            "held": [
                [timestamp, point.value, dict(labels) if labels else None]
                for timestamp, (point, labels) in order["held"]
            ],
        }
        # orjson never writes a raw newline, so the first one ends the header.
        return orjson.dumps(header) + b"\n" + snapshot(stack)

    def restore_series(self, series: str, data: bytes) -> None:
        """Replace the state of ``series`` by :meth:`snapshot_series` bytes.

        Not subject to ``max_series``: state restored for the partitions this process owns is
        kept (new series are refused until the count is back under the limit). Raises
        :class:`~detectors.state.SnapshotError` on data that is not such a snapshot of
        ``series``; the current state is then left as it was.
        """
        head, newline, body = bytes(data).partition(b"\n")
        if not newline:
            raise SnapshotError("not a Lookout series state (no header line)")
        try:
            header = orjson.loads(head)
        except orjson.JSONDecodeError as exc:
            raise SnapshotError(f"series state header is not JSON: {exc}") from exc
        if not isinstance(header, dict) or header.get("format") != SERIES_STATE_FORMAT:
            raise SnapshotError("not a Lookout series state")
        if header.get("version") != SERIES_STATE_VERSION:
            raise SnapshotError(
                f"series state version {header.get('version')!r}, expected {SERIES_STATE_VERSION}"
            )
        if header.get("series") != series:
            raise SnapshotError(f"state of series {header.get('series')!r}, not {series!r}")
        last, latest = (
            _timestamp_or_none(header.get("last")),
            _timestamp_or_none(header.get("latest")),
        )
        held = [_held_point(series, item) for item in _list(header.get("held"))]
        stack = restore(body)
        if not isinstance(stack, DetectorStack):
            raise SnapshotError(f"series state holds a {type(stack).__name__}, not a stack")
        self.stacks[series] = stack
        self.order.load(series, last, latest, held)
        self._seen[series] = self.clock()
        self._seen.move_to_end(series)


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise SnapshotError("malformed series state: held points are not a list")
    return value


def _timestamp_or_none(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SnapshotError(f"malformed series state: timestamp {value!r}")
    return float(value)


def _held_point(series: str, item: Any) -> tuple[float, tuple[MetricPoint, Mapping[str, str]]]:
    if not isinstance(item, list) or len(item) != 3:
        raise SnapshotError(
            "malformed series state: a held point is not [timestamp, value, labels]"
        )
    timestamp, value, labels = item
    timestamp = _timestamp_or_none(timestamp)
    if timestamp is None or _timestamp_or_none(value) is None:
        raise SnapshotError("malformed series state: a held point has no timestamp or value")
    if labels is not None and not (
        isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())
    ):
        raise SnapshotError("malformed series state: held labels are not strings")
    return timestamp, (MetricPoint(series, timestamp, float(value)), labels)
