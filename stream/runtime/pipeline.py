"""One detector stack per series, created on first sight, fed in event-time order, bounded.

The stacks of all series live in one :class:`~detectors.bank.StackBank` (compiled, one row of
arrays per series), built with the parameters of the ``stack_factory``'s
:class:`~detectors.DetectorStack`; :meth:`Pipeline.push_many` scores a whole batch of points in
one call of its kernel.

Bounds (see ``docs/live.md``, "Bounded resources and time"):

- ``max_series``: at most this many series have detector state. A point of a *new* series beyond
  it is refused as ``series_limit`` (and counted); series already tracked keep being scored. A
  flood of new label values cannot evict what was learned about the series that matter.
- ``idle_ttl``: :meth:`Pipeline.evict_idle` forgets series that accepted no point for this many
  seconds of the pipeline's ``clock`` (monotonic wall time, not event time: a backlog consumed
  after an outage carries old timestamps but is not idle, and one point from a wrong clock far
  in the future cannot make every other series look idle).
- ``reorder_window``: seconds of event time a point waits for earlier points of its series
  (see :mod:`stream.runtime.ordering`).

A series' state (:meth:`Pipeline.snapshot_series`) is its detector state (the bank's
:meth:`~detectors.bank.StackBank.export_slot` as a :mod:`detectors.state` snapshot), its last
scored and latest seen timestamps, and the points held for reordering, so restoring it
mid-stream continues exactly where it stopped.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd

from detectors import Assessment, DetectorStack, state_format
from detectors.bank import BankResults, StackBank
from detectors.parts.sampling import warm_up_points
from detectors.stack import assessment_at
from detectors.state import SnapshotError, restore, snapshot
from stream.outputs.alerts import AlertEvent
from stream.outputs.paging import Pager
from stream.point import InvalidPoint, MetricPoint
from stream.runtime.ordering import ADMITTED, OUT_OF_ORDER, OrderGuard

__all__ = [
    "Admitted",
    "Pipeline",
    "Scored",
    "ScoredBatch",
    "assessment_at",
    "SERIES_STATE_FORMAT",
    "SERIES_STATE_VERSION",
]

#: Series sampled faster than this many seconds page more often (see README, "Where it pages
#: too often"): replay's summary names them, the live runtime counts them.
FAST_STEP = 60.0
SERIES_STATE_FORMAT = "lookout-series-state"
# The version of the series state: that of the detector state (detectors.state_format, which
# says what each version changed, how long old ones are read, and upgrades them).
SERIES_STATE_VERSION = state_format.VERSION

_NO_LABELS: Mapping[str, str] = {}
_REFUSED_SERIES = -1  # push_arrays: a new series beyond max_series


@dataclasses.dataclass(frozen=True, slots=True)
class Scored:
    """A point released in event-time order and what its series' stack made of it."""

    point: MetricPoint
    labels: Mapping[str, str]
    assessment: Assessment
    event: AlertEvent | None  # the alert event (after policy) at this point


@dataclasses.dataclass(frozen=True)
class ScoredBatch:
    """Points released in event-time order and the bank's results for them, as arrays; the
    per-point :class:`Scored` objects are built only when asked for (:meth:`scored`)."""

    series: list[str]
    timestamps: np.ndarray
    values: np.ndarray
    labels: list[Mapping[str, str] | None] | None  # None: no labels at all
    results: BankResults
    detector_names: tuple[str, ...]  # of the bits of results.agreeing
    # row -> the alert event there, after the pipeline's policy (stream.outputs.paging)
    events: Mapping[int, AlertEvent] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.series)

    def __getitem__(self, rows: slice) -> ScoredBatch:
        """The points ``rows`` (a slice) of the batch."""
        results = BankResults(
            **{f.name: getattr(self.results, f.name)[rows] for f in dataclasses.fields(BankResults)}
        )
        labels = self.labels[rows] if self.labels is not None else None
        first, stop, step = rows.indices(len(self))
        if step != 1:
            raise ValueError("a batch is sliced in steps of 1")
        events = {i - first: e for i, e in self.events.items() if first <= i < stop}
        return ScoredBatch(
            self.series[rows],
            self.timestamps[rows],
            self.values[rows],
            labels,
            results,
            self.detector_names,
            events,
        )

    def scored(self) -> list[Scored]:
        return [self.scored_at(index) for index in range(len(self))]

    def scored_at(self, index: int) -> Scored:
        point = MetricPoint(
            self.series[index], self.timestamps.item(index), self.values.item(index)
        )
        labels = self.labels[index] if self.labels is not None else None
        assessment = assessment_at(
            self.results, index, point.timestamp, point.value, self.detector_names
        )
        event = self.events.get(index)
        return Scored(point, labels if labels is not None else _NO_LABELS, assessment, event)

    def transitions(self) -> list[Scored]:
        """The points where an alert paged or resolved (``event`` set), in order: the
        detectors' incidents as the policy lets them through (:mod:`stream.outputs.paging`)."""
        return self._transitions

    @functools.cached_property
    def _transitions(self) -> list[Scored]:  # replay and the runner both read them
        return [self.scored_at(i) for i in sorted(self.events)]


@dataclasses.dataclass(frozen=True)
class Admitted:
    """Points :meth:`Pipeline.admit_arrays` let in, in order, with their series' bank slots,
    and ``(index, error)`` of those it refused."""

    series: list[str]
    slots: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray
    labels: Sequence[Mapping[str, str] | None] | None
    refused: list[tuple[int, InvalidPoint]]


class Pipeline:
    """Routes points to their series' detector stack, in event-time order, within bounds.

    Parameters
    ----------
    stack_factory
        Builds a stack whose parameters every series gets (e.g.
        ``functools.partial(DetectorStack, ...)``); called once.
    keep_duplicates
        Score repeated timestamps in arrival order instead of rejecting them (see
        :class:`~stream.runtime.ordering.OrderGuard`).
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
    threads
        1 or 2: threads that score a batch (:meth:`StackBank.process`); the results are the same.
    pager
        Decides which of the detectors' incidents page (policy, budget, alert text); default:
        every incident pages (:class:`~stream.outputs.paging.Pager`).

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
        threads: int = 1,
        pager: Pager | None = None,
    ):
        if max_series is not None and max_series < 1:
            raise ValueError(f"max_series must be at least 1 (or None), got {max_series}")
        if idle_ttl is not None and not idle_ttl > 0:
            raise ValueError(f"idle_ttl must be positive seconds (or None), got {idle_ttl}")
        self.stack_factory = stack_factory
        self.bank = StackBank(**stack_factory().parameters())
        self.keep_duplicates = keep_duplicates
        self.max_series = max_series
        self.idle_ttl = idle_ttl
        self.reorder_window = reorder_window
        self.clock = clock
        if threads not in (1, 2):
            raise ValueError(f"threads must be 1 or 2, got {threads}")
        self.threads = threads
        self.order = OrderGuard(keep_duplicates, reorder_window)
        self.slots: dict[str, int] = {}  # series -> its row in the bank
        # series -> clock time of its last accepted point, least recently seen first
        self._seen: collections.OrderedDict[str, float] = collections.OrderedDict()
        self.evicted_total = 0
        self.dropped_new_series_total = 0
        self.pager = pager if pager is not None else Pager(base_threshold=self.bank.threshold)

    @property
    def series_count(self) -> int:
        return len(self.slots)

    @property
    def held_count(self) -> int:
        """Points held for reordering, over all series."""
        return self.order.held_count() if self.reorder_window else 0

    def series_ids(self) -> list[str]:
        return list(self.slots)

    def series_faster_than(self, seconds: float) -> list[str]:
        """Series whose points come more often than every ``seconds`` (as far as known)."""
        fast = self._sampled_faster_than(seconds).tolist()
        return [series for series, is_fast in zip(self.slots, fast, strict=True) if is_fast]

    @property
    def fast_series_count(self) -> int:
        """Series sampled faster than once a minute (:data:`FAST_STEP`): they page more often
        (the detectors count points and were tuned on 1- to 5-minute data)."""
        return int(np.count_nonzero(self._sampled_faster_than(FAST_STEP)))

    @property
    def warm_up_points(self) -> int:
        """Points a series sampled every 5 minutes or faster learns before its stack can page
        at all: the calibrators pass no score before ``grace_period`` points (the range break,
        when on, pages from then on); without the range break, the recalibration holds the
        combined score at 0 for ``recalibration_grace`` more. Slower series need fewer, see
        :meth:`warm_up_points_at`."""
        return int(self.warm_up_points_at(np.zeros(1))[0])

    def warm_up_points_at(self, steps: np.ndarray) -> np.ndarray:
        """:attr:`warm_up_points` of series sampled every ``steps`` seconds (0: not known
        yet), each grace cut to the bank's ``warm_up_time`` of the series' own time as the
        calibrations cut it (:func:`~detectors.parts.sampling.warm_up_points`): an hourly series
        is warm after two days, not after ten.

        >>> pipeline = Pipeline(lambda: DetectorStack(grace_period=250))
        >>> pipeline.warm_up_points_at(np.array([0.0, 60.0, 3600.0])).tolist()
        [250, 250, 48]
        """
        bank = self.bank
        both = not bank.range_break and bank.recalibration_grace

        def at(step: float) -> int:
            grace = warm_up_points(bank.grace_period, step, bank.warm_up_time)
            if not both:
                return grace
            return grace + warm_up_points(bank.recalibration_grace, step, bank.warm_up_time) + 1

        distinct, where = np.unique(np.asarray(steps, np.float64), return_inverse=True)
        return np.array([at(float(step)) for step in distinct], np.int64)[where.ravel()]

    def points_learned(self, series: Sequence[str]) -> list[int | None]:
        """Points each of ``series`` has learned (scored, then learned), None for a series
        without state. Read-only; safe to call from a scrape thread.

        >>> pipeline = Pipeline(lambda: DetectorStack(grace_period=5))
        >>> _ = [pipeline.process(MetricPoint("cpu", 60.0 * t, t % 4)) for t in range(7)]
        >>> pipeline.points_learned(["cpu", "mem"]), pipeline.warming(["cpu", "mem"])
        ([7, None], [False, None])
        """
        slots = [self.slots.get(name) for name in series]
        known = [slot for slot in slots if slot is not None]
        counts = iter(self.bank.points_seen(np.array(known, np.int64)).tolist())
        return [None if slot is None else next(counts) for slot in slots]

    @property
    def warming_count(self) -> int:
        """Series with state that cannot page yet (see :meth:`warming`), over all series."""
        slots = np.array(list(self.slots.values()), np.int64)  # one atomic copy (scrape thread)
        learned = self.bank.points_seen(slots)
        ready = self.warm_up_points_at(self.bank.sampling_intervals(slots))
        return int(np.count_nonzero(learned < ready))

    def warming(self, series: Sequence[str]) -> list[bool | None]:
        """Per series: True while it has learned fewer than its :meth:`warm_up_points_at`
        points (it cannot page yet), None without state."""
        slots = [self.slots.get(name) for name in series]
        known = np.array([slot for slot in slots if slot is not None], np.int64)
        learned = iter(self.bank.points_seen(known).tolist())
        ready = iter(self.warm_up_points_at(self.bank.sampling_intervals(known)).tolist())
        return [None if slot is None else next(learned) < next(ready) for slot in slots]

    def _sampled_faster_than(self, seconds: float) -> np.ndarray:
        """Per series, in ``slots`` order: sampled more often than every ``seconds``?"""
        steps = self.bank.sampling_intervals(np.fromiter(self.slots.values(), np.int64))
        return (steps > 0) & (steps < seconds)

    # --- scoring -----------------------------------------------------------------------------

    def push(self, point: MetricPoint, labels: Mapping[str, str] | None = None) -> list[Scored]:
        """Admit one point; score and learn every point it releases, in timestamp order.

        Raises ``InvalidPoint`` (``out_of_order``, ``duplicate_timestamp``, ``series_limit``)
        for a point that will never be scored; nothing about its series changes then.
        """
        slot, released = self._admit(point, labels)
        return self._score([(slot, item) for _, item in released]).scored()

    def push_many(
        self, points: Sequence[tuple[MetricPoint, Mapping[str, str] | None]]
    ) -> tuple[ScoredBatch, list[tuple[int, InvalidPoint]]]:
        """:meth:`push` for a batch of ``(point, labels)``, scored in one call of the bank.

        Returns what was scored, in the order :meth:`push` one by one would have scored it,
        and ``(index in points, error)`` for every point refused. Without a reorder window the
        scored points are the points not refused, in order.
        """
        released: list[tuple[int, tuple[MetricPoint, Mapping[str, str] | None]]] = []
        refused: list[tuple[int, InvalidPoint]] = []
        for index, (point, labels) in enumerate(points):
            try:
                slot, items = self._admit(point, labels)
            except InvalidPoint as exc:
                refused.append((index, exc))
                continue
            released.extend((slot, item) for _, item in items)
        return self._score(released), refused

    def _admit(self, point: MetricPoint, labels: Mapping[str, str] | None):
        series = point.series
        slot = self.slots.get(series)
        if slot is None:
            if self.max_series is not None and len(self.slots) >= self.max_series:
                self.dropped_new_series_total += 1
                raise self._refusal(_REFUSED_SERIES, series, point.timestamp)
            released = self.order.admit(series, point.timestamp, (point, labels))
            # only once admitted: a refused point leaves no trace
            slot = self.slots[series] = self.bank.add_series()
        else:
            released = self.order.admit(series, point.timestamp, (point, labels))
        self._seen[series] = self.clock()
        self._seen.move_to_end(series)
        return slot, released

    def push_arrays(
        self,
        series: Sequence[str],
        timestamps: np.ndarray,
        values: np.ndarray,
        labels: Sequence[Mapping[str, str] | None] | None = None,
    ) -> tuple[ScoredBatch, list[tuple[int, InvalidPoint]]]:
        """:meth:`push_many` for points given as columns (files, column messages), without a
        reorder window.

        Timestamps and values must be finite (as parsed files and decoded messages are). The
        order checks run per series on whole arrays, so no per-point Python is left but the
        series lookup. The same as :meth:`admit_arrays`, :meth:`score_admitted` and
        :meth:`finish_admitted` in turn.

        >>> pipeline = Pipeline(lambda: DetectorStack(grace_period=10))
        >>> batch, refused = pipeline.push_arrays(
        ...     ["cpu", "cpu", "mem", "cpu"], np.array([60.0, 30.0, 60.0, 120.0]), np.ones(4))
        >>> batch.series, [(index, error.reason) for index, error in refused]
        (['cpu', 'mem', 'cpu'], [(1, 'out_of_order')])
        """
        admitted = self.admit_arrays(series, timestamps, values, labels)
        return self.finish_admitted(admitted, self.score_admitted(admitted))

    def admit_arrays(
        self,
        series: Sequence[str],
        timestamps: np.ndarray,
        values: np.ndarray,
        labels: Sequence[Mapping[str, str] | None] | None = None,
    ) -> Admitted:
        """The first step of :meth:`push_arrays`: the order checks and the series' slots (new
        series get one), nothing scored yet. :meth:`score_admitted` scores the result, then
        :meth:`finish_admitted` decides its alerts; batches must go through both in the order
        they were admitted, before the next one is admitted."""
        if self.reorder_window:
            raise TypeError("with a reorder window points may wait: use push_many()")
        timestamps = np.asarray(timestamps, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        codes, names = pd.factorize(np.asarray(series, dtype=object))
        decisions = np.zeros(len(codes), dtype=np.int8)
        slot_of = np.empty(len(names), dtype=np.int64)
        now = self.clock()
        refused: list[tuple[int, InvalidPoint]] = []
        # Each series' rows, in order: one stable sort instead of a scan per series.
        by_series = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[by_series], np.arange(len(names) + 1))
        for code, name in enumerate(names.tolist()):
            rows = by_series[bounds[code] : bounds[code + 1]]
            slot = self.slots.get(name)
            if slot is None:
                if self.max_series is not None and len(self.slots) >= self.max_series:
                    self.dropped_new_series_total += len(rows)  # one per refused point
                    decisions[rows] = _REFUSED_SERIES
                    continue
                slot = self.slots[name] = self.bank.add_series()
            slot_of[code] = slot
            decisions[rows] = self.order.admit_run(name, timestamps[rows])
            self._seen[name] = now
            self._seen.move_to_end(name)
        accepted = decisions == ADMITTED
        if not accepted.all():
            for index in np.flatnonzero(~accepted).tolist():
                refused.append(
                    (index, self._refusal(decisions[index], series[index], timestamps[index]))
                )
            rows = np.flatnonzero(accepted)
            series = [series[i] for i in rows.tolist()]
            if labels is not None:
                labels = [labels[i] for i in rows.tolist()]
            codes, timestamps, values = codes[rows], timestamps[rows], values[rows]
        return Admitted(list(series), slot_of[codes], timestamps, values, labels, refused)

    def score_admitted(self, admitted: Admitted) -> BankResults:
        """The bank's results for :meth:`admit_arrays`' points. The kernel releases the GIL:
        this may run on another thread while the caller reads or writes, but at once with no
        other call of this pipeline (admitting may grow the bank's arrays)."""
        return self.bank.process(admitted.slots, admitted.timestamps, admitted.values, self.threads)

    def finish_admitted(
        self, admitted: Admitted, results: BankResults
    ) -> tuple[ScoredBatch, list[tuple[int, InvalidPoint]]]:
        """What :meth:`push_arrays` returns, from the points admitted and their results (the
        pager decides their alerts)."""
        batch = self._batch(
            admitted.series, admitted.timestamps, admitted.values, admitted.labels, results
        )
        return batch, admitted.refused

    def _refusal(self, decision: int, series: str, timestamp: float) -> InvalidPoint:
        if decision == _REFUSED_SERIES:
            return InvalidPoint(
                "series_limit",
                f"series {series!r} is new and {self.max_series} series are tracked already",
            )
        if decision == OUT_OF_ORDER:
            return InvalidPoint(
                "out_of_order",
                f"timestamp {timestamp} before the last point scored in series {series!r}",
            )
        return InvalidPoint(
            "duplicate_timestamp", f"timestamp {timestamp} repeated in series {series!r}"
        )

    def _score(
        self, items: list[tuple[int, tuple[MetricPoint, Mapping[str, str] | None]]]
    ) -> ScoredBatch:
        points = [point for _, (point, _) in items]
        timestamps = np.fromiter((p.timestamp for p in points), np.float64, len(items))
        values = np.fromiter((p.value for p in points), np.float64, len(items))
        results = self.bank.process(
            np.fromiter((slot for slot, _ in items), np.int64, len(items)),
            timestamps,
            values,
            self.threads,
        )
        labels = [labels for _, (_, labels) in items]
        return self._batch([p.series for p in points], timestamps, values, labels, results)

    def _batch(self, series, timestamps, values, labels, results: BankResults) -> ScoredBatch:
        """The scored batch, with the alert events its pager lets through."""
        labels = None if labels is None else list(labels)
        names = self.bank.detector_names
        events = self.pager.process(
            series, timestamps, values, labels, results, names, len(self.slots)
        )
        return ScoredBatch(series, timestamps, values, labels, results, names, events)

    def open_alert(self, series: str) -> tuple[AlertEvent, Mapping[str, str]] | None:
        """The firing event of ``series``' paged incident and its labels, while it lasts."""
        return self.pager.open_alert(series)

    def mute_open_alert(self, series: str) -> None:
        """``series``' open alert opened on history, which never pages: it is kept open but
        muted (:meth:`~stream.outputs.paging.Pager.mute`), so neither its later points nor
        its resolve nor a restart sends it."""
        self.pager.mute(series)

    def process(self, point: MetricPoint) -> tuple[Assessment, AlertEvent | None]:
        """Score and learn one point at once (no reorder window); raises ``InvalidPoint``."""
        if self.reorder_window:
            raise TypeError("with a reorder window points may wait: use push(), then flush()")
        (scored,) = self.push(point)
        return scored.assessment, scored.event

    def flush(self, series: str | None = None) -> list[Scored]:
        """Score every held point now, of ``series`` or of all series (the end of the input)."""
        names = [series] if series is not None else list(self.slots)
        items = []
        for name in names:
            slot = self.slots.get(name)
            if slot is not None:
                items.extend((slot, item) for _, item in self.order.drain(name))
        return self._score(items).scored()

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
        slot = self.slots.pop(series, None)
        if slot is not None:
            self.bank.remove_series(slot)
        self.order.forget(series)
        self._seen.pop(series, None)
        self.pager.forget(series)

    # --- state -------------------------------------------------------------------------------

    def snapshot_series(self, series: str) -> bytes:
        """The state of ``series``: a JSON header line (format, version, series, timestamps,
        held points) followed by the :func:`detectors.state.snapshot` of its bank slot.

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
        slot = self.slots[series]
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
        opened = self.pager.open_alert(series)
        if opened is not None:  # so that a restart can tell Alertmanager it still fires
            header["alert"] = _alert_entry(*opened)
        incident = self.pager.state(series, self.bank.detector_names)
        if incident is not None:  # paged or held back by the policy
            header["incident"] = incident
        # orjson never writes a raw newline, so the first one ends the header.
        return orjson.dumps(header) + b"\n" + snapshot(self.bank.export_slot(slot))

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
        version = header.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise SnapshotError(
                f"series state version {version!r}, expected {SERIES_STATE_VERSION}"
            )
        if header.get("series") != series:
            raise SnapshotError(f"state of series {header.get('series')!r}, not {series!r}")
        last, latest = (
            _timestamp_or_none(header.get("last")),
            _timestamp_or_none(header.get("latest")),
        )
        held = [_held_point(series, item) for item in _list(header.get("held"))]
        opened = _opened_alert(series, header["alert"]) if "alert" in header else None
        try:
            incident = self.pager.restored(
                series, header.get("incident"), opened, self.bank.detector_names
            )
        except ValueError as exc:
            raise SnapshotError(f"malformed series state: its incident ({exc})") from exc
        state = restore(body)
        if not isinstance(state, dict):
            raise SnapshotError(f"series state holds a {type(state).__name__}, not a slot state")
        try:
            state = state_format.upgrade(state, version, self.bank)
            slot = self.bank.import_slot(state)
        except state_format.UnreadableStateError as exc:
            raise SnapshotError(str(exc)) from exc
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise SnapshotError(f"series state does not fit this detector stack: {exc}") from exc
        self.drop_series(series)
        self.slots[series] = slot
        self.order.load(series, last, latest, held)
        self._seen[series] = self.clock()
        self._seen.move_to_end(series)
        self.pager.put(series, incident)


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


# AlertEvent fields that are floats, NaN when unknown (JSON: null).
_ALERT_FLOATS = ("peak_score", "value", "expected", "lower", "upper", "anomaly_score")
# Fields added with the pager (stream/outputs/paging.py): absent from older states, then defaults.
_ALERT_LATER_FLOATS = ("peak_value",)
_ALERT_LATER_TEXTS = ("severity", "rule", "summary", "description", "runbook_url", "dashboard_url")


def _alert_entry(event: AlertEvent, labels: Mapping[str, str]) -> dict:
    """The series state's record of its firing alert: the opening event, its point's labels."""
    fields = dataclasses.asdict(event)
    for name in _ALERT_FLOATS + _ALERT_LATER_FLOATS:
        if math.isnan(fields[name]):
            fields[name] = None
    fields["detectors"] = list(event.detectors)
    return {"event": fields, "labels": dict(labels)}


def _opened_alert(series: str, entry: Any) -> tuple[AlertEvent, Mapping[str, str]]:
    """The inverse of :func:`_alert_entry`, checked."""
    try:
        fields, labels = dict(entry["event"]), entry["labels"]
        for name in _ALERT_FLOATS:
            fields[name] = math.nan if fields[name] is None else float(fields[name])
        for name in _ALERT_LATER_FLOATS:
            value = fields.get(name)
            fields[name] = math.nan if value is None else float(value)
        for name in _ALERT_LATER_TEXTS:
            if not isinstance(fields.get(name, ""), str):
                raise ValueError(f"{name} is not a string")
        fields["detectors"] = tuple(str(name) for name in fields["detectors"])
        for name in ("start", "peak_at", "at"):
            fields[name] = _timestamp_or_none(fields[name])
        fields["peak_value_at"] = _timestamp_or_none(fields.get("peak_value_at"))
        event = AlertEvent(**fields)
    except (TypeError, KeyError, ValueError) as exc:
        raise SnapshotError(f"malformed series state: its alert ({exc})") from exc
    if event.series != series or not event.firing or None in (event.start, event.at):
        raise SnapshotError("malformed series state: its alert is not this series' firing one")
    if not _string_labels(labels):
        raise SnapshotError("malformed series state: alert labels are not strings")
    return event, labels


def _string_labels(labels: Any) -> bool:
    return isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())


def _held_point(series: str, item: Any) -> tuple[float, tuple[MetricPoint, Mapping[str, str]]]:
    if not isinstance(item, list) or len(item) != 3:
        raise SnapshotError(
            "malformed series state: a held point is not [timestamp, value, labels]"
        )
    timestamp, value, labels = item
    timestamp = _timestamp_or_none(timestamp)
    if timestamp is None or _timestamp_or_none(value) is None:
        raise SnapshotError("malformed series state: a held point has no timestamp or value")
    if labels is not None and not _string_labels(labels):
        raise SnapshotError("malformed series state: held labels are not strings")
    return timestamp, (MetricPoint(series, timestamp, float(value)), labels)
