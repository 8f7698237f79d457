"""The live loop of ``lookout run``, top to bottom::

    while not stopped:
        records = consumer.poll()        # one batch of Kafka messages
        for record in records:           # decode -> score -> gauges; dead letters, scores
            process(record)
        sinks.send(alerts)               # alerts topic, Alertmanager, webhook
        checkpoint.commit()              # flush the Kafka outputs, then commit the offsets
        housekeeping()                   # alert re-sends and retries, lag, idle series

Offsets are committed only after the batch's outputs were delivered, so a crash at any point
means the batch is consumed again: at-least-once. The runner sees the consumer and the producer
through the small :class:`Source` and :class:`Sender` protocols (:mod:`stream.kafka_io`
implements them), never a Kafka message.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from stream.alert_sinks import Alert, AlertSink
from stream.kafka_io import Record
from stream.messages import (
    MAX_BATCH_POINTS,
    MAX_MESSAGE_BYTES,
    Rejection,
    dead_letter,
    decode_message,
    point_document,
    score_document,
)
from stream.metrics import LookoutMetrics
from stream.pipeline import Pipeline
from stream.point import InvalidPoint

__all__ = ["Source", "Sender", "Checkpoint", "Runner", "RunSummary"]

log = logging.getLogger(__name__)

Partition = tuple[str, int]

LAG_INTERVAL = 1.0  # seconds between consumer-lag updates
IDLE_SWEEP_INTERVAL = 10.0  # seconds between sweeps for idle series


class Source(Protocol):
    """What the runner needs from a consumer (:class:`stream.kafka_io.Consumer`)."""

    on_revoked: Callable[[list[Partition]], None] | None

    def poll(self, timeout: float, max_records: int | None = None) -> list[Record]: ...

    def commit(self, offsets: Mapping[Partition, int]) -> bool: ...

    def commit_async(self, offsets: Mapping[Partition, int]) -> None: ...

    def assignment(self) -> set[Partition]: ...

    def lags(self) -> dict[Partition, int]: ...

    def close(self) -> None: ...


class Sender(Protocol):
    """What the runner needs from a producer (:class:`stream.kafka_io.Producer`)."""

    def send(self, topic: str, key: bytes | None, value: bytes | None) -> None: ...

    def flush(self) -> int: ...

    def close(self) -> None: ...


class Checkpoint:
    """The offsets processed since the last commit, and the commit.

    :meth:`commit` runs in this order:

    1. flush the producer: every dead letter, score and alert event of the batch is acknowledged
       by the broker (a ``DeliveryError`` propagates and nothing is committed);
    2. commit ``last processed offset + 1`` of every partition touched.

    HTTP alert sinks were sent to before the commit; their failures are retried by the sinks
    themselves and do not hold the offsets back (see :mod:`stream.alert_sinks`).

    On revocation (a rebalance, on kafka-python's I/O thread) the pending offsets of the revoked
    partitions are committed asynchronously and forgotten: their new owner starts from there.
    """

    def __init__(self, consumer: Source, producer: Sender):
        self.consumer = consumer
        self.producer = producer
        self._pending: dict[Partition, int] = {}
        self._lock = threading.Lock()
        self.commits = 0
        self.failures = 0

    @property
    def pending(self) -> dict[Partition, int]:
        with self._lock:
            return dict(self._pending)

    def advance(self, record: Record) -> None:
        """Mark ``record`` processed (its offset is committed by the next :meth:`commit`)."""
        with self._lock:
            self._pending[(record.topic, record.partition)] = record.offset + 1

    def commit(self) -> bool:
        """Flush, then commit; False when the group refused the commit (kept for the next)."""
        self.producer.flush()
        offsets = self.pending
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

    def revoke(self, partitions: Sequence[Partition]) -> None:
        with self._lock:
            offsets = {p: self._pending.pop(p) for p in partitions if p in self._pending}
        if offsets:
            self.consumer.commit_async(offsets)


@dataclasses.dataclass
class RunSummary:
    messages: int = 0
    points: int = 0
    alerts: int = 0
    batches: int = 0
    invalid: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    commit_failures: int = 0
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
                f"commit failures {self.commit_failures}",
                f"elapsed   {self.seconds:.1f} s ({self.points_per_second:,.0f} points/s)",
                f"stopped   {self.stopped_by}",
            ]
        )


class Runner:
    """Consumes, scores, emits and commits until stopped.

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
        Most messages per poll and per commit.
    poll_timeout
        Seconds a poll waits; also how quickly :meth:`stop` takes effect when idle.
    max_message_bytes, max_batch_points
        Input limits (see :func:`stream.messages.decode_message`).
    stall_timeout
        :meth:`healthy` is False when the loop has not come round for this many seconds.
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
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.consumer = consumer
        self.producer = producer
        self.pipeline = pipeline
        self.metrics = metrics
        self.sinks = list(sinks)
        self.dead_letter_topic = dead_letter_topic or None
        self.scores_topic = scores_topic or None
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.max_message_bytes = max_message_bytes
        self.max_batch_points = max_batch_points
        self.stall_timeout = stall_timeout
        self.wall_clock = wall_clock
        self.monotonic = monotonic
        self.checkpoint = Checkpoint(consumer, producer)
        consumer.on_revoked = self.checkpoint.revoke
        self.summary = RunSummary()
        self._stop = threading.Event()
        self._running = False
        self._assigned = False
        self._last_loop = monotonic()
        self._next_lag = 0.0
        self._next_sweep = 0.0

    # --- control and probes (any thread) ----------------------------------------------------

    def stop(self) -> None:
        """Finish the current batch, commit, and return from :meth:`run` (signal-safe)."""
        self._stop.set()

    def healthy(self) -> bool:
        """The loop is coming round (not stuck for ``stall_timeout`` seconds)."""
        return self.monotonic() - self._last_loop < self.stall_timeout

    def ready(self) -> bool:
        """Running with partitions assigned."""
        return self._running and self._assigned and not self._stop.is_set()

    # --- the loop ----------------------------------------------------------------------------

    def run(self, max_messages: int | None = None, max_seconds: float | None = None) -> RunSummary:
        """Run until :meth:`stop`, ``max_messages`` consumed or ``max_seconds`` elapsed.

        The consumer, the producer and the sinks are closed on the way out, whatever happened;
        offsets are committed only by completed batches.
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
                if records:
                    self.process_batch(records)
                self.housekeeping()
            else:
                self.summary.stopped_by = "signal"
        finally:
            self._running = False
            self.summary.seconds = self.monotonic() - started
            self.close()
        return self.summary

    def process_batch(self, records: Sequence[Record]) -> None:
        """Score a batch, send its alerts, then commit it (see :class:`Checkpoint`)."""
        alerts: list[Alert] = []
        now = self.monotonic()
        for record in records:
            self.process_record(record, alerts, now)
            self.checkpoint.advance(record)
        wall = self.wall_clock()
        for sink in self.sinks:
            sink.send(alerts, wall)
        if not self.checkpoint.commit():
            self.summary.commit_failures += 1
            self.metrics.commit_failures.inc()
        self.summary.batches += 1

    def process_record(self, record: Record, alerts: list[Alert], now: float) -> None:
        started = time.perf_counter()
        decoded = decode_message(
            record.key, record.value, self.max_message_bytes, self.max_batch_points
        )
        for rejection in decoded.rejections:
            self.reject(record, rejection)
        for labeled in decoded.points:
            point = labeled.point
            try:
                assessment, event = self.pipeline.process(point)
            except InvalidPoint as exc:
                self.reject(
                    record, Rejection(exc.reason, exc.detail, point_document(point), labeled.index)
                )
                continue
            self.summary.points += 1
            self.metrics.observe(point.series, assessment, now)
            if self.scores_topic is not None:
                self.producer.send(
                    self.scores_topic, point.series.encode(), score_document(point, assessment)
                )
            if event is not None:
                alerts.append(Alert(event, labeled.labels))
                if event.firing:
                    self.summary.alerts += 1
                    self.metrics.alerts.inc()
                log.info(
                    "alert %s: %s (score %.3f, value %g)",
                    event.status,
                    event.series,
                    event.anomaly_score,
                    event.value,
                )
        self.summary.messages += 1
        self.metrics.messages.inc()
        self.metrics.latency.observe(time.perf_counter() - started)

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
        self.producer.send(
            self.dead_letter_topic, record.key, dead_letter(rejection, source, record.value)
        )

    def housekeeping(self) -> None:
        """Between batches: alert re-sends and retries, consumer lag, idle series."""
        wall = self.wall_clock()
        for sink in self.sinks:
            sink.tick(wall)
        now = self.monotonic()
        if now >= self._next_lag:
            self._next_lag = now + LAG_INTERVAL
            self._assigned = bool(self.consumer.assignment())
            self.metrics.set_lag(self.consumer.lags())
            self.metrics.tracked.set(self.pipeline.series_count)
        if now >= self._next_sweep:
            self._next_sweep = now + IDLE_SWEEP_INTERVAL
            for series in self.metrics.remove_idle(now):
                log.info("series %s idle: gauges removed", series)

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
                self.producer.close()
