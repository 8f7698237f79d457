"""The live loop of ``lookout run``, top to bottom::

    restore(assigned partitions)         # on assignment, before their first record is scored
    while not stopped:
        records = consumer.poll()        # one batch of Kafka messages
        for record in records:           # decode -> score -> gauges; dead letters, scores
            process(record)
        sinks.send(alerts)               # alerts topic, Alertmanager, webhook
        if checkpoint.expired():
            checkpoint.commit()          # outputs flushed -> state written -> offsets committed
        housekeeping()                   # idle series, alert re-sends, lag, broker connection

A checkpoint makes the outputs, the detector state and the offsets agree: a crash at any point
means the records after the last checkpoint are consumed again, scored by the state stored at
that checkpoint, so they score as they did the first time (at-least-once outputs, scores equal to
an uninterrupted run). Each stored series state also records the input offset it reflects, so
points that a crash left uncommitted *after* their state was stored are skipped rather than
scored twice or refused as duplicates (see :class:`Checkpoint`).

The runner sees the consumer and the producer through the small :class:`Source` and
:class:`Sender` protocols (:mod:`stream.runtime.kafka_io` implements them), never a Kafka message,
and the detector state through a :class:`~stream.runtime.state_store.StateStore`.

Threading: kafka-python runs the rebalance callbacks (:meth:`Runner.on_assigned`,
:meth:`Runner.on_revoked`, :meth:`Runner.on_lost`) on its I/O thread, but only while the loop's
thread waits inside ``poll()`` or ``close()``, so they never run concurrently with the loop. They
hold up kafka-python's heartbeats while they run, so the slow part of an assignment, the restore,
is left to the loop (:meth:`Runner.restore_assigned`, before any record is processed); a
revocation's checkpoint has to happen in the callback, before the partitions are given up.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from detectors.state import SnapshotError
from stream.outputs.alert_sinks import Alert, AlertSink
from stream.outputs.metrics import LookoutMetrics
from stream.point import MetricPoint
from stream.runtime.kafka_io import FlushTimeout, KafkaIOError, Record
from stream.runtime.pipeline import Pipeline, ScoredBatch
from stream.runtime.state_store import StateChanges, StateStore, StateStoreError, StoredState
from stream.sources.messages import (
    MAX_BATCH_POINTS,
    MAX_MESSAGE_BYTES,
    Columns,
    Rejection,
    dead_letter,
    decode_message,
    point_document,
    score_document,
)

if TYPE_CHECKING:
    from stream.runtime.warm_start import HistoryBoundary

__all__ = ["Source", "Sender", "Checkpoint", "Runner", "RunSummary"]

log = logging.getLogger(__name__)

Partition = tuple[str, int]

LAG_INTERVAL = 1.0  # seconds between consumer-lag updates
IDLE_SWEEP_INTERVAL = 10.0  # seconds between sweeps for idle series
#: What stops the process: the broker or the state store failing, or no memory left. Any other
#: exception while one record is decoded, scored or written is that record's fault.
INFRASTRUCTURE_ERRORS = (KafkaIOError, StateStoreError, MemoryError)

#: A record and its valid points, as runs of one series (:class:`Columns`).
Decoded = tuple[Record, list[Columns]]


class Source(Protocol):
    """What the runner needs from a consumer (:class:`stream.runtime.kafka_io.Consumer`).

    Optional: ``connected()`` (the group coordinator is known; without it: always),
    ``answering()`` (the broker answered within a few seconds; without it: always) and
    ``end_offsets(partitions)`` (the next offset of each partition; without it there is no replay
    window, see :meth:`Runner._start_replay`).
    """

    on_revoked: Callable[[list[Partition]], None] | None
    on_assigned: Callable[[list[Partition]], None] | None
    on_lost: Callable[[list[Partition]], None] | None

    def poll(self, timeout: float, max_records: int | None = None) -> list[Record]: ...

    def commit(self, offsets: Mapping[Partition, int]) -> bool: ...

    def commit_async(self, offsets: Mapping[Partition, int]) -> None: ...

    def assignment(self) -> set[Partition]: ...

    def lags(self) -> dict[Partition, int]: ...

    def close(self) -> None: ...


class Sender(Protocol):
    """What the runner needs from a producer (:class:`stream.runtime.kafka_io.Producer`)."""

    def send(self, topic: str, key: bytes | None, value: bytes | None) -> None: ...

    def flush(self) -> int:
        """Wait until every message sent is acknowledged; ``DeliveryError`` if one is not.

        :class:`stream.runtime.kafka_io.Producer` also takes ``timeout`` and then raises
        ``FlushTimeout`` with the messages still queued (see ``flush_wait`` of :class:`Runner`).
        """

    def close(self) -> None: ...


def _wait_for(
    flush: Callable[..., object], wait: float | None, on_wait: Callable[[float], None]
) -> None:
    """``flush()``, or with ``wait`` seconds: ``flush(wait)`` until it stops timing out,
    calling ``on_wait(seconds waited so far)`` after each timeout.

    So a broker that went away is waited for (the producer retries until its delivery timeout,
    which then raises ``DeliveryError``) while the runner reports it, instead of blocking
    silently or failing the checkpoint at once.
    """
    if wait is None:
        flush()
        return
    started = time.monotonic()
    while True:
        try:
            flush(wait)
            return
        except FlushTimeout:
            on_wait(time.monotonic() - started)


class Checkpoint:
    """What was processed since the last commit, the state that goes with it, and the commit.

    :meth:`commit` runs in this order (sinks, state, offsets):

    1. **outputs**: flush the producer, so every dead letter, score and alert event of the
       processed records is acknowledged by the broker (a ``DeliveryError`` propagates and
       nothing else happens; an unreachable broker is waited for);
    2. **state**: write to the store the snapshot of every series touched since the last commit,
       a deletion for every series forgotten since (idle), and per partition the offset after
       its last processed record, then wait until that is durable;
    3. **offsets**: commit those offsets to the consumer group.

    A crash between 2 and 3, or in the middle of 2, leaves some state ahead of the committed
    offsets; the offset stored with each series' state (and with each partition) tells the next
    owner which re-delivered points to skip (:meth:`restore`).

    On revocation (a rebalance, or the consumer closing) the revoked partitions are committed
    the same way (offsets asynchronously: a blocking commit is not allowed in a rebalance
    callback) and their series dropped from memory: their new owner restores them from the store
    (without a store they are kept, in case the rebalance gives their partitions back).
    On loss (this member was evicted; another may own the partitions already) their series and
    pending offsets are dropped without writing anything. After a failed commit
    (:meth:`abandon`) every later revocation is treated as a loss.

    Parameters
    ----------
    consumer, producer
        The Kafka ports.
    pipeline
        Holds the series' state.
    store
        Where state goes; None: offsets only (state starts afresh after a restart or a
        rebalance).
    interval
        Seconds between commits (:meth:`expired`); 0: after every batch.
    flush_wait
        Seconds per flush attempt of the producer and the store, see ``_wait_for``; None: one
        flush that waits as long as the producer allows.
    on_wait
        Called with the seconds waited so far while the broker does not acknowledge outputs.
    """

    def __init__(
        self,
        consumer: Source,
        producer: Sender,
        pipeline: Pipeline | None = None,
        store: StateStore | None = None,
        interval: float = 0.0,
        flush_wait: float | None = None,
        on_wait: Callable[[float], None] = lambda seconds: None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.consumer = consumer
        self.producer = producer
        self.pipeline = pipeline
        self.store = store
        self.interval = interval
        self.flush_wait = flush_wait
        self.on_wait = on_wait
        self.monotonic = monotonic
        self._pending: dict[Partition, int] = {}
        self._processed: dict[Partition, int] = {}  # next offset, committed or not
        self._dirty: dict[str, Partition] = {}  # series -> partition, changed since the commit
        self.owner: dict[str, Partition] = {}  # series in memory -> the partition it came from
        # Without a store: partitions revoked but whose series are kept, in case the rebalance
        # gives them back (the series of those it does not are dropped by restore()).
        self._retained: set[Partition] = set()
        self._moved: set[str] = set()
        self._lock = threading.Lock()
        self._started = monotonic()
        self._abandoned = False
        self.commits = 0
        self.failures = 0
        self.states_written = 0
        self.series_deleted = 0

    @property
    def pending(self) -> dict[Partition, int]:
        with self._lock:
            return dict(self._pending)

    @property
    def dirty(self) -> dict[str, Partition]:
        return dict(self._dirty)

    def advance(self, record: Record) -> None:
        """Mark ``record`` processed (its offset is committed by the next :meth:`commit`)."""
        self.advance_to((record.topic, record.partition), record.offset + 1)

    def advance_to(self, partition: Partition, offset: int) -> None:
        with self._lock:
            if offset > self._pending.get(partition, -1):
                self._pending[partition] = offset
            if offset > self._processed.get(partition, -1):
                self._processed[partition] = offset

    def touch(self, series: str, partition: Partition) -> None:
        """``series`` (from ``partition``) changed: write its state at the next commit."""
        previous = self.owner.get(series)
        if previous is not None and previous != partition and series not in self._moved:
            # Its state follows its latest partition; the old one keeps a stale copy.
            self._moved.add(series)
            log.warning(
                "series %s moved from partition %s to %s: give every point of a series the "
                "same message key",
                series,
                previous,
                partition,
            )
        self.owner[series] = partition
        self._dirty[series] = partition

    def adopt(self, series: str, partition: Partition) -> None:
        """``series`` was restored for ``partition``: owned, not changed."""
        self.owner[series] = partition

    def forget(self, series: str) -> None:
        """``series`` was evicted from the pipeline: delete its state at the next commit."""
        partition = self.owner.pop(series, None)
        if partition is not None:
            self._dirty[series] = partition

    def expired(self) -> bool:
        return self.monotonic() - self._started >= self.interval

    def commit(self, handover: bool = False) -> bool:
        """Outputs, state, offsets; False when the group refused the offsets (kept for the
        next commit: the state already holds them). ``handover``: the last commit before the
        partitions are given up (a stop): their offsets are stored as handed over."""
        self._started = self.monotonic()
        partitions = self._pending_partitions()
        if handover and self.store is not None:  # nothing pending: the mark goes all the same
            with self._lock:
                partitions |= set(self._processed)
        if not partitions:
            return True
        try:
            self._deliver(partitions, handover)
        except BaseException:
            self.abandon()
            raise
        offsets = self.pending
        if handover and self.store is not None:  # the offsets the state vouches for, again
            with self._lock:
                offsets = {p: self._processed[p] for p in partitions if p in self._processed}
        if not offsets:
            return True
        if not self.consumer.commit(offsets):
            self.failures += 1
            return False
        with self._lock:
            for partition, offset in offsets.items():
                if self._pending.get(partition) == offset:
                    del self._pending[partition]
        self.commits += 1
        return True

    def _pending_partitions(self) -> set[Partition]:
        with self._lock:
            return set(self._pending) | set(self._dirty.values())

    def _deliver(self, partitions: set[Partition], handover: bool = False) -> None:
        """Steps 1 and 2 for ``partitions``: flush the outputs, then write and flush the state
        (its offsets marked handed over with ``handover``)."""
        _wait_for(self.producer.flush, self.flush_wait, self.on_wait)
        changes = self._changes(partitions)
        if handover and self.store is not None:
            with self._lock:
                for partition in partitions & set(self._processed):
                    changes.offsets.setdefault(partition, self._processed[partition])
            changes.handed_over = set(changes.offsets)
        if self.store is not None and changes:
            self.store.write(changes)
            _wait_for(self.store.flush, self.flush_wait, self.on_wait)
            self.states_written += len(changes.puts)
            self.series_deleted += len(changes.deletes)
        for series in [s for s, p in self._dirty.items() if p in partitions]:
            del self._dirty[series]

    def _changes(self, partitions: set[Partition]) -> StateChanges:
        changes = StateChanges()
        if self.store is None:
            return changes
        for series, partition in self._dirty.items():
            if partition not in partitions:
                continue
            if series in self.owner and self.pipeline is not None:
                try:
                    changes.puts[series] = (partition, self.pipeline.snapshot_series(series))
                    continue
                except KeyError:  # dropped by the pipeline since it changed
                    pass
            changes.deletes[series] = partition
        with self._lock:
            changes.offsets = {p: o for p, o in self._pending.items() if p in partitions}
        return changes

    def revoke(self, partitions: Sequence[Partition]) -> None:
        """Commit what belongs to ``partitions``, then drop their series (a rebalance callback)."""
        if self._abandoned:
            self.lose(partitions)
            return
        revoked = set(partitions)
        self._deliver(revoked, handover=True)
        with self._lock:
            offsets = {p: self._pending.pop(p) for p in revoked if p in self._pending}
        if offsets:
            self.consumer.commit_async(offsets)
        if self.store is None:
            self._retained |= revoked
            return
        dropped = self._drop(revoked)
        log.info(
            "partitions %s revoked: checkpointed, %d series handed over", sorted(revoked), dropped
        )

    def lose(self, partitions: Sequence[Partition]) -> None:
        """Drop ``partitions``' series and pending offsets without writing anything."""
        lost = set(partitions)
        with self._lock:
            for partition in lost:
                self._pending.pop(partition, None)
        dropped = self._drop(lost)
        log.warning(
            "partitions %s lost: %d series dropped without a checkpoint", sorted(lost), dropped
        )

    def abandon(self) -> None:
        """After a failed commit: never commit again, whatever is revoked later (its outputs
        may not have been delivered)."""
        self._abandoned = True

    def series_of(self, partitions: Iterable[Partition]) -> list[str]:
        """The series in memory that came from ``partitions``."""
        partitions = set(partitions)
        return [s for s, p in self.owner.items() if p in partitions]

    def _drop(self, partitions: set[Partition]) -> int:
        self._retained -= partitions
        with self._lock:
            for partition in partitions:
                self._processed.pop(partition, None)
        series = self.series_of(partitions)
        for name in series:
            del self.owner[name]
            if self.pipeline is not None:
                self.pipeline.drop_series(name)
        for name in [s for s, p in self._dirty.items() if p in partitions]:
            del self._dirty[name]
        return len(series)

    def restore(self, partitions: Iterable[Partition]) -> StoredState:
        """Load the stored state of ``partitions`` into the pipeline. Returns what was restored
        with the offsets it reflects: per partition (records before it must not be processed
        again) and per series (points of the series in records before it must not be)."""
        partitions = set(partitions)
        if self.store is None or self.pipeline is None:
            self._drop(self._retained - partitions)  # handed over: another member scores them
            self._retained.clear()
            return StoredState()
        self._drop(partitions)  # anything left from an earlier ownership is stale
        stored = self.store.load_partitions(partitions)
        for series, data in list(stored.states.items()):
            try:
                self.pipeline.restore_series(series, data)
            except SnapshotError as exc:
                log.error("stored state of series %s is unusable, starting afresh: %s", series, exc)
                del stored.states[series]
                stored.series_offsets.pop(series, None)
                continue
            self.adopt(series, stored.partitions[series])
        return stored


@dataclasses.dataclass
class RunSummary:
    messages: int = 0
    points: int = 0
    alerts: int = 0
    batches: int = 0
    invalid: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    commit_failures: int = 0
    restored_series: int = 0
    skipped: int = 0
    skipped_points: int = 0
    evicted: int = 0
    seconds: float = 0.0
    stopped_by: str = ""

    @property
    def points_per_second(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else 0.0

    def format(self) -> str:
        invalid = sum(self.invalid.values())
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.invalid.items()))
        return "\n".join(
            [
                f"messages  {self.messages}",
                f"points    {self.points}",
                f"alerts    {self.alerts}",
                f"invalid   {invalid}" + (f" ({reasons})" if reasons else ""),
                f"restored  {self.restored_series} series",
                f"skipped   {self.skipped} messages and {self.skipped_points} points already "
                "in the restored state or the warm start's history",
                f"evicted   {self.evicted} idle series",
                f"commit failures {self.commit_failures}",
                f"elapsed   {self.seconds:.1f} s ({self.points_per_second:,.0f} points/s)",
                f"stopped   {self.stopped_by}",
            ]
        )


class Runner:
    """Consumes, scores, emits and checkpoints until stopped.

    Parameters
    ----------
    consumer, producer
        The Kafka ports.
    pipeline
        Per-series detector stacks (live: duplicates rejected, so re-delivery is idempotent).
    metrics
        Where gauges and counters go.
    sinks
        Alert sinks, sent to in this order.
    dead_letter_topic, scores_topic
        Kafka topics for invalid input and for every scored point; None for none.
    batch_size
        Most messages per poll.
    poll_timeout
        Seconds a poll waits; also how quickly :meth:`stop` takes effect when idle.
    max_message_bytes, max_batch_points
        Input limits (see :func:`stream.sources.messages.decode_message`).
    stall_timeout
        :meth:`healthy` is False when the loop has not come round for this many seconds.
    state_store
        Where series state is checkpointed and restored from; None: memory only.
    checkpoint_interval
        Seconds between checkpoints; 0: after every batch.
    flush_wait
        Seconds per attempt when waiting for the broker to acknowledge outputs or state; between
        attempts :meth:`ready` turns False and the wait is logged. None: plain ``flush()``.
    history
        Where the warm start's history of each series ends (:mod:`stream.runtime.warm_start`): live
        points up to it are skipped, incidents that began in it never page.
    max_future_skew
        Seconds a point's timestamp may be ahead of ``wall_clock``; a later one is dead-lettered
        as ``future_timestamp`` (scored, it would make its series refuse every earlier point).
        None: no limit.
    adopt_wait
        Seconds at most that the replay window of a restored partition lasts (see
        :meth:`_start_replay`): Alertmanager gets its series' alerts after it.
    """

    def __init__(
        self,
        consumer: Source,
        producer: Sender,
        pipeline: Pipeline,
        metrics: LookoutMetrics,
        sinks: Iterable[AlertSink] = (),
        dead_letter_topic: str | None = None,
        scores_topic: str | None = None,
        batch_size: int = 500,
        poll_timeout: float = 1.0,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_batch_points: int = MAX_BATCH_POINTS,
        stall_timeout: float = 120.0,
        state_store: StateStore | None = None,
        checkpoint_interval: float = 0.0,
        flush_wait: float | None = None,
        max_future_skew: float | None = 3600.0,
        adopt_wait: float = 60.0,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        history: HistoryBoundary | None = None,
    ):
        self.consumer = consumer
        self.producer = producer
        self.pipeline = pipeline
        self.metrics = metrics
        self.history = history
        self.sinks = list(sinks)
        self.dead_letter_topic = dead_letter_topic or None
        self.scores_topic = scores_topic or None
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.max_message_bytes = max_message_bytes
        self.max_batch_points = max_batch_points
        self.stall_timeout = stall_timeout
        self.max_future_skew = max_future_skew
        self.adopt_wait = adopt_wait
        self.state_store = state_store
        self.wall_clock = wall_clock
        self.monotonic = monotonic
        self.checkpoint = Checkpoint(
            consumer,
            producer,
            pipeline,
            state_store,
            interval=checkpoint_interval,
            flush_wait=flush_wait,
            on_wait=self._waiting_for_broker,
            monotonic=monotonic,
        )
        consumer.on_revoked = self.on_revoked
        consumer.on_assigned = self.on_assigned
        consumer.on_lost = self.on_lost
        self.summary = RunSummary()
        self._stop = threading.Event()
        self._running = False
        self._joined = False
        self._connected = True
        self._disconnected_since = 0.0
        # Where restored state stops: records of a partition before its offset, and points of
        # a series in records before its offset, were processed already.
        self._skip_below: dict[Partition, int] = {}
        self._series_floor: dict[str, tuple[Partition, int]] = {}
        self._released: set[Partition] = set()
        self._to_restore: set[Partition] = set()
        # Replay windows (see _start_replay): partition -> (its end offset at the restore, or
        # None when unknown; deadline), and per series of those partitions the alert held back
        # from state-keeping sinks (and whether it is the restored one).
        self._replaying: dict[Partition, tuple[int | None, float]] = {}
        self._held: dict[str, tuple[Alert, bool]] = {}
        self._position: dict[Partition, int] = {}  # next offset to process, per partition
        self._assignment_changed = False
        self._started = monotonic()
        self._first_point_logged = False
        self._last_loop = monotonic()
        self._next_lag = 0.0
        self._next_sweep = 0.0

    # --- control and probes (any thread) ----------------------------------------------------

    def stop(self) -> None:
        """Finish the current batch, checkpoint, and return from :meth:`run` (signal-safe)."""
        self._stop.set()

    def healthy(self) -> bool:
        """The loop is coming round (not stuck for ``stall_timeout`` seconds)."""
        return self.monotonic() - self._last_loop < self.stall_timeout

    def ready(self) -> bool:
        """Running, connected to the brokers and answered by them within a few seconds, and a
        member of the group (its assignment received). A member given no partitions (more
        replicas than partitions) is a ready standby: it takes partitions over at the next
        rebalance, and a rollout must not wait on it forever."""
        answering = getattr(self.consumer, "answering", None)
        return (
            self._running
            and self._joined
            and self._connected
            and not self._stop.is_set()
            and (answering is None or answering())
        )

    # --- rebalance callbacks (kafka-python's thread, while the loop waits in poll) -----------

    def on_assigned(self, partitions: list[Partition]) -> None:
        """Note the partitions; :meth:`restore_assigned` loads their state before any of their
        records is processed, on the loop's thread: a callback would hold up kafka-python's
        heartbeats for as long as the restore takes."""
        self._released.difference_update(partitions)
        self._forget_floors(partitions)
        self._to_restore.update(partitions)
        self._assignment_changed = True
        self._joined = True  # even with none: a standby member

    def on_revoked(self, partitions: list[Partition]) -> None:
        self._released.update(partitions)
        self._to_restore.difference_update(partitions)
        self._forget_floors(partitions)
        series = self.checkpoint.series_of(partitions)
        self.checkpoint.revoke(partitions)
        self._release_alerts(series)

    def on_lost(self, partitions: list[Partition]) -> None:
        self._released.update(partitions)
        self._to_restore.difference_update(partitions)
        self._forget_floors(partitions)
        series = self.checkpoint.series_of(partitions)
        self.checkpoint.lose(partitions)
        self._release_alerts(series)
        self._joined = False  # evicted: not a member until it has rejoined

    def _release_alerts(self, series: list[str]) -> None:
        """State-keeping sinks stop re-sending the alerts of ``series``, which another process
        owns now (it takes them over from their stored state; re-sent from here, an alert it
        resolves would fire again at Alertmanager)."""
        if not series:
            return
        wall = self.wall_clock()
        for sink in self.sinks:
            if getattr(sink, "keeps_state", False):
                try:
                    sink.release(series, wall)
                except Exception as exc:  # a callback must not fail the rebalance
                    log.error("%s: releasing %d series failed: %r", sink.name, len(series), exc)

    def restore_assigned(self) -> None:
        """Restore the state of the partitions assigned since the last call."""
        if not self._assignment_changed:
            return
        started = self.monotonic()
        partitions = sorted(self._to_restore)
        self._to_restore.clear()
        self._assignment_changed = False
        stored = self._restore_retrying(partitions)
        self.summary.restored_series += len(stored.states)
        for partition in partitions:
            self._position.pop(partition, None)
        self._position.update(stored.offsets)
        self._start_replay(partitions, stored)
        self._skip_below.update(stored.offsets)
        for series in stored.states if self.history is not None else ():
            self.history.forget(series)  # the stored state is newer than the history
        for series, offset in stored.series_offsets.items():
            self._series_floor[series] = (stored.partitions[series], offset)
        if self.state_store is not None and partitions:
            log.info(
                "restored %d series of partitions %s in %.2f s",
                len(stored.states),
                partitions,
                self.monotonic() - started,
            )

    def _restore_retrying(self, partitions: list[Partition]) -> StoredState:
        """:meth:`Checkpoint.restore`, retried (1 s, doubling up to 10 s) while the broker does
        not answer: a restore that hits a frozen or restarting broker waits for it, not ready,
        instead of stopping the process. Nothing of these partitions is processed meanwhile.
        A stop while waiting raises the last error (nothing is committed)."""
        started = self.monotonic()
        delay = 1.0
        while True:
            try:
                return self.checkpoint.restore(partitions)
            except KafkaIOError as exc:
                if self._stop.is_set():
                    raise
                self._waiting_for_broker(self.monotonic() - started)
                log.warning(
                    "restoring partitions %s failed (%s): retrying in %.0f s",
                    partitions,
                    exc,
                    delay,
                )
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def _start_replay(self, partitions: list[Partition], stored: StoredState) -> None:
        """Open the replay window of the restored ``partitions`` that have records after their
        stored offset (up to their end offset now), for the sinks that keep a receiver's state
        (Alertmanager).

        The stored state is that of the last checkpoint; unless its owner handed the partition
        over (a revocation or a stop), the records after it are consumed again, and the process
        that died may have told Alertmanager what they caused already
        (an alert that fired, or resolved). Sending the replayed events as they come could tell
        Alertmanager that a resolved alert fires again, which pages twice. So, until a partition
        is processed up to its end offset at the restore (at most ``adopt_wait`` seconds),
        those sinks get nothing about its series; then each series' net state: its last event,
        or the alert restored as firing if the replay did not change it (taken over with
        :meth:`AlertSink.adopt`). Event streams (topic, webhook) get every event as it comes.
        """
        if not any(getattr(sink, "keeps_state", False) for sink in self.sinks):
            return
        for series in stored.states:
            opened = self.pipeline.open_alert(series)
            if opened is not None:
                self._held[series] = (Alert(*opened), True)
        # A partition handed over cleanly has nothing to replay: its owner stopped at its offset.
        replayed = [p for p in partitions if p in stored.offsets and p not in stored.handed_over]
        end_offsets = getattr(self.consumer, "end_offsets", None)
        ends: Mapping[Partition, int | None] = {}
        if end_offsets is not None and replayed:
            try:
                ends = end_offsets(replayed)
            except KafkaIOError as exc:  # not known now: the window lasts adopt_wait
                log.warning("end offsets unknown (%s): replay window of %.0f s", exc,
                            self.adopt_wait)  # fmt: skip
                ends = dict.fromkeys(replayed)
        deadline = self.monotonic() + self.adopt_wait
        for partition in replayed:
            end = ends.get(partition, -1)  # -1: a source that cannot tell, no window
            if end is None or stored.offsets[partition] < end:
                self._replaying[partition] = (end, deadline)
        self._end_replays()

    def _hold_replayed(self, alerts: list[Alert]) -> list[Alert]:
        """The alerts that state-keeping sinks get now; those of series in a replay window
        (:meth:`_start_replay`) are held back, the last one per series kept."""
        if not self._replaying:
            return alerts
        now = []
        for alert in alerts:
            series = alert.event.series
            if self.checkpoint.owner.get(series) not in self._replaying:
                now.append(alert)
                continue
            held = self._held.get(series)
            if held is not None and not alert.event.firing:
                # resolved with the labels it fired with, as the sink would have done
                alert = dataclasses.replace(alert, labels=held[0].labels)
            self._held[series] = (alert, False)
        return now

    def _end_replays(self) -> None:
        """Close the replay windows that are over and give the state-keeping sinks the net
        state of their series (see :meth:`_start_replay`)."""
        if not self._replaying and not self._held:
            return
        now = self.monotonic()
        over = {
            partition
            for partition, (end, deadline) in self._replaying.items()
            if (end is not None and self._position.get(partition, 0) >= end) or now >= deadline
        }
        for partition in over:
            del self._replaying[partition]
        adopt, send = [], []
        for series, (alert, restored) in list(self._held.items()):
            if self.checkpoint.owner.get(series) in self._replaying:
                continue
            del self._held[series]
            if not restored:
                send.append(alert)
            elif self.pipeline.open_alert(series) is not None:  # still firing
                adopt.append(alert)
        wall = self.wall_clock()
        for sink in self.sinks:
            if getattr(sink, "keeps_state", False):
                self._deliver(sink, "adopt", adopt, wall)
                self._deliver(sink, "resume", send, wall)
        if adopt or send:
            log.info(
                "replay done: %d restored alerts still firing taken over, %d replayed alert "
                "states sent",
                len(adopt),
                len(send),
            )

    def _forget_floors(self, partitions: Iterable[Partition]) -> None:
        partitions = set(partitions)
        for partition in partitions:
            self._skip_below.pop(partition, None)
            self._position.pop(partition, None)
            self._replaying.pop(partition, None)
        for series in [s for s in self._held if self.checkpoint.owner.get(s) in partitions]:
            del self._held[series]
        for series in [s for s, (p, _) in self._series_floor.items() if p in partitions]:
            del self._series_floor[series]

    # --- the loop ----------------------------------------------------------------------------

    def run(self, max_messages: int | None = None, max_seconds: float | None = None) -> RunSummary:
        """Run until :meth:`stop`, ``max_messages`` consumed or ``max_seconds`` elapsed.

        A stop checkpoints first. The consumer, the producer, the store and the sinks are closed
        on the way out, whatever happened; after an error nothing more is committed.
        """
        started = self.monotonic()
        deadline = started + max_seconds if max_seconds is not None else None
        self._running = True
        try:
            while not self._stop.is_set():
                self._last_loop = self.monotonic()
                if max_messages is not None and self.summary.messages >= max_messages:
                    self.summary.stopped_by = "max_messages"
                    break
                if deadline is not None and self._last_loop >= deadline:
                    self.summary.stopped_by = "max_seconds"
                    break
                limit = self.batch_size
                if max_messages is not None:
                    limit = min(limit, max_messages - self.summary.messages)
                records = self.consumer.poll(self.poll_timeout, limit)
                self.restore_assigned()
                if records:
                    self.process_batch(records)
                self.housekeeping()
                if self.checkpoint.expired() and self._connected:
                    self.commit()
            else:
                self.summary.stopped_by = "signal"
            self.commit(handover=True)
        except BaseException:
            self.checkpoint.abandon()
            raise
        finally:
            self._running = False
            self.summary.seconds = self.monotonic() - started
            self.close()
        return self.summary

    def commit(self, handover: bool = False) -> None:
        if not self.checkpoint.commit(handover):
            self.summary.commit_failures += 1
            self.metrics.commit_failures.inc()

    def process_batch(self, records: Sequence[Record]) -> None:
        """Score a batch and send its alerts (committed by the next checkpoint).

        The batch's messages are decoded one by one, each into runs of points of one series
        (:class:`~stream.sources.messages.Columns`: a column message, a batch of point objects,
        a single point), then all their points are scored in one call of the pipeline's
        compiled bank as arrays, in message order (with a reorder window, point by point).
        Gauges are set once per series, to its latest point.

        No record stops the loop: one that fails to decode is dead-lettered as
        ``processing_error``; when scoring a batch fails, its admissions are undone and it is
        scored again in halves, down to the failing record(s), which are dead-lettered (the
        others are scored); a point whose outputs fail to be written, and an alert a sink
        fails on, are dead-lettered the same way. Only :data:`INFRASTRUCTURE_ERRORS` propagate.
        """
        self.restore_assigned()
        started = time.perf_counter()
        latest = (
            self.wall_clock() + self.max_future_skew if self.max_future_skew is not None else None
        )
        decoded: list[Decoded] = []
        for record in records:
            partition = (record.topic, record.partition)
            if partition in self._released:
                continue  # fetched before a revocation: its new owner processes it
            self._position[partition] = record.offset + 1
            floor = self._skip_below.get(partition)
            if floor is not None:
                if record.offset < floor:
                    self.summary.skipped += 1
                    self.checkpoint.advance_to(partition, floor)
                    continue
                del self._skip_below[partition]
            decoded.append((record, self._decode_safely(record, latest)))
            self.checkpoint.advance(record)
        alerts = self._score_and_emit(decoded)
        if decoded:
            self.summary.messages += len(decoded)
            self.metrics.messages.inc(len(decoded))
            per_message = (time.perf_counter() - started) / len(decoded)
            for _ in decoded:
                self.metrics.latency.observe(per_message)
        stateful = self._hold_replayed(alerts)
        wall = self.wall_clock()
        for sink in self.sinks:
            now = stateful if getattr(sink, "keeps_state", False) else alerts
            self._deliver(sink, "send", now, wall, decoded)
        self._end_replays()
        self.summary.batches += 1

    def _decode_safely(self, record: Record, latest: float | None) -> list[Columns]:
        try:
            return self.decode_record(record, latest)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:
            self._failed(record, "decoding", exc)
            return []

    def decode_record(self, record: Record, latest: float | None = None) -> list[Columns]:
        """The valid points of ``record``, rejecting what is invalid (or later than ``latest``)
        and leaving out what restored state holds already."""
        decoded = decode_message(
            record.key, record.value, self.max_message_bytes, self.max_batch_points, latest
        )
        for rejection in decoded.rejections:
            self.reject(record, rejection)
        columns = [c for c in decoded.columns if self._is_new(c.series, record, len(c.values))]
        if self.history is not None:  # points the warm start's history holds already
            columns, skipped = self.history.trim(columns)
            self.summary.skipped_points += skipped
        return columns

    def _is_new(self, series: str, record: Record, n_points: int = 1) -> bool:
        floor = self._series_floor.get(series)
        if floor is not None:
            if record.offset < floor[1]:
                self.summary.skipped_points += n_points  # its restored state has them already
                return False
            del self._series_floor[series]
        return True

    def _score_and_emit(self, decoded: list[Decoded]) -> list[Alert]:
        """Score ``decoded`` and write its outputs; on a scoring failure undo the admissions
        and try each half (bisection), so that only the failing record is dead-lettered."""
        if not any(columns for _, columns in decoded):
            return []
        admission = self._admission_state(decoded)
        try:
            if self.pipeline.reorder_window:
                batch = self.score_points(decoded)
            else:
                batch = self.score_columns(decoded)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:
            self._undo_admission(admission)
            if len(decoded) == 1:
                self._failed(decoded[0][0], "scoring", exc)
                return []
            log.warning("scoring a batch of %d records failed (%r): bisecting", len(decoded), exc)
            middle = len(decoded) // 2
            return self._score_and_emit(decoded[:middle]) + self._score_and_emit(decoded[middle:])
        return self.emit(batch, self.monotonic(), decoded)

    def _admission_state(self, decoded: list[Decoded]) -> dict[str, dict | None]:
        """The order state of the batch's series (None: new), to undo a failed scoring.

        A failure is undone by restoring it: the detector bank checks its input before it
        changes anything, so a failed scoring has admitted points but learnt none."""
        series = {c.series for _, columns in decoded for c in columns}
        order = self.pipeline.order
        return {s: order.state(s) if s in self.pipeline.slots else None for s in series}

    def _undo_admission(self, admission: Mapping[str, dict | None]) -> None:
        for series, state in admission.items():
            if state is None:
                self.pipeline.drop_series(series)
            else:
                held = [(timestamp, item) for timestamp, item in state["held"]]
                self.pipeline.order.load(series, state["last"], state["latest"], held)

    def score_points(self, decoded: list[Decoded]) -> ScoredBatch:
        """Score every point in message order, one by one (with a reorder window, where points
        may wait for earlier ones)."""
        origins = [
            (record, labeled)
            for record, columns in decoded
            for c in columns
            for labeled in c.points()
        ]
        batch, refused = self.pipeline.push_many(
            [(labeled.point, labeled.labels) for _, labeled in origins]
        )
        refused_at = dict(refused)
        for index, (record, labeled) in enumerate(origins):
            exc = refused_at.get(index)
            if exc is None:
                self.checkpoint.touch(labeled.point.series, (record.topic, record.partition))
            else:
                document = point_document(labeled.point)
                self.reject(record, Rejection(exc.reason, exc.detail, document, labeled.index))
        return batch

    def score_columns(self, decoded: list[Decoded]) -> ScoredBatch:
        """Score the batch's points as whole arrays, in message order (no Python object per
        point): every message decodes to runs of one series (:class:`Columns`)."""
        parts = [(record, c) for record, columns in decoded for c in columns]
        sizes = [len(c.values) for _, c in parts]
        series: list[str] = []
        labels: list[Mapping[str, str]] = []
        for (_, c), n in zip(parts, sizes, strict=True):  # a run at a time, not a point
            series += [c.series] * n
            labels += [c.labels] * n
        timestamps = np.concatenate([c.timestamps for _, c in parts]) if parts else np.empty(0)
        values = np.concatenate([c.values for _, c in parts]) if parts else np.empty(0)
        batch, refused = self.pipeline.push_arrays(series, timestamps, values, labels)
        part_of = np.repeat(np.arange(len(parts)), sizes)
        starts = np.cumsum([0, *sizes])
        refused_parts = collections.Counter()
        for index, exc in refused:
            record, columns = parts[part_of[index]]
            refused_parts[part_of[index]] += 1
            element = index - starts[part_of[index]]
            point = MetricPoint(columns.series, timestamps.item(index), values.item(index))
            document = point_document(point)
            self.reject(
                record,
                Rejection(exc.reason, exc.detail, document, int(columns.indices[element])),
            )
        for number, (record, columns) in enumerate(parts):
            if refused_parts[number] < sizes[number]:  # some of its points were scored
                self.checkpoint.touch(columns.series, (record.topic, record.partition))
        return batch

    def emit(self, batch: ScoredBatch, now: float, decoded: Sequence[Decoded] = ()) -> list[Alert]:
        """Gauges, the scores topic and alerts for the scored points; returns the alerts.

        A point whose score document or alert cannot be made is dead-lettered against its
        record in ``decoded`` as ``processing_error`` (it was scored and learnt all the same)."""
        if not len(batch):
            return []
        self.summary.points += len(batch)
        if not self._first_point_logged:
            self._first_point_logged = True
            log.info("first point scored %.1f s after start", self.monotonic() - self._started)
        # each series' last row: a later key overwrites an earlier one (no Python loop per point)
        latest = dict(zip(batch.series, range(len(batch)), strict=True))
        try:
            last = {series: batch.scored_at(index) for series, index in latest.items()}
            self.metrics.observe_many(
                {series: scored.assessment for series, scored in last.items()},
                len(batch),
                now,
                {series: scored.labels for series, scored in last.items()},
            )
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:  # the gauges only: the points' outputs are still written
            log.error("updating the gauges of %d series failed: %r", len(latest), exc)
        if self.scores_topic is not None:
            for scored in batch.scored():
                try:
                    document = score_document(scored.point, scored.assessment)
                except Exception as exc:
                    self._point_failed(decoded, scored.point, "writing its score", exc)
                    continue
                self.producer.send(self.scores_topic, scored.point.series.encode(), document)
        alerts = []
        for scored in batch.transitions():
            try:
                event = scored.event
                if self.history is not None and self.history.began_in_history(event):
                    continue  # history never pages
                alerts.append(Alert(event, scored.labels))
                log.info(
                    "alert %s: %s (score %.3f, value %g)",
                    event.status,
                    event.series,
                    event.anomaly_score,
                    event.value,
                )
            except Exception as exc:
                self._point_failed(decoded, scored.point, "making its alert", exc)
                continue
            if event.firing:
                self.summary.alerts += 1
                self.metrics.alerts.inc()
        return alerts

    def _deliver(
        self,
        sink: AlertSink,
        method: str,
        alerts: Sequence[Alert],
        wall: float,
        decoded: Sequence[Decoded] = (),
    ) -> None:
        """``sink.send``, ``adopt`` or ``resume``; when it fails, one alert at a time,
        dead-lettering the record of each alert it fails on."""
        if not alerts:
            return
        deliver = getattr(sink, method)
        try:
            deliver(alerts, wall)
            return
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:
            if len(alerts) == 1:
                self._point_failed(
                    decoded,
                    MetricPoint(alerts[0].event.series, alerts[0].event.at, alerts[0].event.value),
                    f"{sink.name} delivering its alert",
                    exc,
                )
                return
        for alert in alerts:
            self._deliver(sink, method, [alert], wall, decoded)

    def _point_failed(
        self, decoded: Sequence[Decoded], point: MetricPoint, stage: str, exc: Exception
    ) -> None:
        """Dead-letter the record of ``decoded`` that held ``point`` (``processing_error``)."""
        for record, columns in decoded:
            if any(
                c.series == point.series and (c.timestamps == point.timestamp).any()
                for c in columns
            ):
                self._failed(record, stage, exc, point_document(point))
                return
        log.error("point %s failed %s: %r", point_document(point), stage, exc)
        self.summary.invalid["processing_error"] += 1
        self.metrics.count_invalid("processing_error")

    def _failed(self, record: Record, stage: str, exc: Exception, item: object = None) -> None:
        log.error(
            "record %s/%d/%d failed %s: %r",
            record.topic,
            record.partition,
            record.offset,
            stage,
            exc,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        self.reject(record, Rejection("processing_error", f"{stage} failed: {exc!r}"[:1000], item))

    def reject(self, record: Record, rejection: Rejection) -> None:
        self.summary.invalid[rejection.reason] += 1
        self.metrics.count_invalid(rejection.reason)
        log.debug("dead letter %s at %s/%d", rejection.reason, record.topic, record.offset)
        if self.dead_letter_topic is None:
            return
        source = {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "key": record.key.decode(errors="replace") if record.key is not None else None,
            "timestamp_ms": record.timestamp_ms,
        }
        try:
            document = dead_letter(rejection, source, record.value)
        except Exception:  # e.g. an item orjson cannot write: the message excerpt instead
            document = dead_letter(
                Rejection(rejection.reason, rejection.detail), source, record.value
            )
        self.producer.send(self.dead_letter_topic, record.key, document)

    def housekeeping(self) -> None:
        """Between batches: idle series, alert re-sends and retries, lag, the connection."""
        self._end_replays()
        for series in self.pipeline.evict_idle():
            self.checkpoint.forget(series)
            self._series_floor.pop(series, None)
            self.summary.evicted += 1
        wall = self.wall_clock()
        for sink in self.sinks:
            try:
                sink.tick(wall)
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception as exc:  # its alerts stay queued in the sink for the next tick
                log.error("%s: re-sending alerts failed: %r", sink.name, exc)
        now = self.monotonic()
        self._watch_connection(now)
        if now >= self._next_lag:
            self._next_lag = now + LAG_INTERVAL
            self._joined = self._joined or bool(self.consumer.assignment())
            self.metrics.set_lag(self.consumer.lags())
            self.metrics.tracked.set(self.pipeline.series_count)
        if now >= self._next_sweep:
            self._next_sweep = now + IDLE_SWEEP_INTERVAL
            for series in self.metrics.remove_idle(now):
                log.info("series %s idle: gauges removed", series)

    def _watch_connection(self, now: float) -> None:
        connected = getattr(self.consumer, "connected", None)
        if connected is None:
            return
        answering = getattr(self.consumer, "answering", lambda: True)
        if connected() and answering():
            if not self._connected:
                log.warning(
                    "Kafka reachable again after %.1f s: resuming", now - self._disconnected_since
                )
            self._connected = True
        elif self._connected:
            self._connected = False
            self._disconnected_since = now
            log.warning(
                "Kafka unreachable (lost the group coordinator, or no answer for a few "
                "seconds): not ready, retrying"
            )

    def _waiting_for_broker(self, seconds: float) -> None:
        if self._connected:
            self._disconnected_since = self.monotonic() - seconds
            log.warning(
                "Kafka unreachable (writes not acknowledged for %.0f s): not ready, waiting",
                seconds,
            )
        self._connected = False

    def close(self) -> None:
        """Last attempt for undelivered HTTP alerts, then leave the group and close."""
        wall = self.wall_clock()
        try:
            for sink in self.sinks:
                sink.close(wall)
        finally:
            try:
                self.consumer.close()
            finally:
                try:
                    self.producer.close()
                finally:
                    if self.state_store is not None:
                        self.state_store.close()
