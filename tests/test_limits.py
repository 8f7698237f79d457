"""Bounded resources: a cardinality flood, idle-series churn and a long replay keep memory flat.

No broker: the runner is driven through in-memory ports, as in ``tests/test_live.py``.
"""

from __future__ import annotations

import gc
import tracemalloc

import orjson

from bench.soak import DEMO_DATA, growth_after, load_series, looped, rss_bytes, soak
from detectors import DetectorStack
from stream.outputs.metrics import LookoutMetrics
from stream.point import MetricPoint
from stream.runtime.kafka_io import Record
from stream.runtime.pipeline import Pipeline
from stream.runtime.runner import Runner

FLOOD = 300_000
MAX_SERIES = 200
CORE = 5  # series that exist before the flood and keep sending through it
CORE_EVERY = 1000  # one core point per this many messages


class FloodSource:
    """Messages made on demand (a list of 300k records would dominate the measurement):
    first one point of each core series, then single points of ever new series, with a core
    series' next point every ``CORE_EVERY`` messages. Samples RSS at every poll."""

    def __init__(self, total: int):
        self.total = total
        self.offset = 0
        self.core_points = 0
        self.on_revoked = None
        self.rss: list[int] = []

    def message(self, offset: int) -> tuple[bytes, float]:
        if offset < CORE:
            return f"core-{offset}".encode(), 0.0
        if offset % CORE_EVERY == 0:
            self.core_points += 1
            return f"core-{self.core_points % CORE}".encode(), 60.0 * self.core_points
        return f"flood-{offset}".encode(), 0.0

    def poll(self, timeout, max_records=None):
        self.rss.append(rss_bytes())
        stop = min(self.total, self.offset + (max_records or 500))
        records = []
        for offset in range(self.offset, stop):
            key, timestamp = self.message(offset)
            value = orjson.dumps({"timestamp": timestamp, "value": 1.0 + offset % 7})
            records.append(Record("metrics", 0, offset, key, value))
        self.offset = stop
        return records

    def commit(self, offsets):
        return True

    def commit_async(self, offsets):
        pass

    def assignment(self):
        return {("metrics", 0)}

    def lags(self):
        return {("metrics", 0): self.total - self.offset}

    def close(self):
        pass


class CountingSender:
    """Counts what would be produced, per topic, and keeps none of it."""

    def __init__(self):
        self.sent: dict[str, int] = {}

    def send(self, topic, key, value):
        self.sent[topic] = self.sent.get(topic, 0) + 1

    def flush(self):
        return 0

    def close(self):
        pass


def test_a_cardinality_flood_is_refused_while_the_tracked_series_keep_being_scored():
    DetectorStack().process(0.0, 1.0)  # compile the numba kernels before the baseline
    gc.collect()
    baseline = rss_bytes()
    source, sender = FloodSource(FLOOD), CountingSender()
    pipeline = Pipeline(DetectorStack, max_series=MAX_SERIES)
    metrics = LookoutMetrics()
    metrics.watch_pipeline(pipeline)
    runner = Runner(
        source, sender, pipeline, metrics, dead_letter_topic="dead", scores_topic="scores"
    )

    summary = runner.run(max_messages=FLOOD)

    refused = FLOOD - MAX_SERIES - source.core_points
    assert pipeline.series_count == MAX_SERIES
    assert all(f"core-{i}" in pipeline.slots for i in range(CORE))
    assert summary.points == MAX_SERIES + source.core_points  # every core point was scored
    assert summary.invalid == {"series_limit": refused}
    assert sender.sent == {"scores": summary.points, "dead": refused}
    sample = metrics.registry.get_sample_value
    assert sample("lookout_series_dropped_total") == refused
    assert sample("lookout_invalid_messages_total", {"reason": "series_limit"}) == refused
    assert sample("lookout_series_tracked") == MAX_SERIES
    # A fresh stack holds about 20 KB after its first point: 300k of them would need ~6 GB.
    # The cap keeps it to the 500 allowed, plus the runner's own per-batch garbage.
    grown = max(source.rss) - baseline
    assert grown < MAX_SERIES * 120_000 + 30_000_000, f"RSS grew by {grown / 1e6:.0f} MB"


def small_stack() -> DetectorStack:
    return DetectorStack(n_trees=2, height=4, grace_period=5)


def test_idle_series_churn_evicts_the_old_series_and_memory_stays_flat():
    clock = {"now": 0.0}
    pipeline = Pipeline(small_stack, max_series=50, idle_ttl=5.0, clock=lambda: clock["now"])
    metrics = LookoutMetrics()
    metrics.watch_pipeline(pipeline)
    small_stack().process(0.0, 1.0)
    heap = []
    tracemalloc.start()
    try:
        for wave in range(10):  # 50 new series every 10 s; each wave's series then go quiet
            clock["now"] = 10.0 * wave
            evicted = pipeline.evict_idle(clock["now"])
            assert len(evicted) == (50 if wave else 0)
            for i in range(50):
                for t in range(5):
                    pipeline.push(MetricPoint(f"wave-{wave}/{i}", 60.0 * t, float(t % 3)))
            gc.collect()
            heap.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()

    assert pipeline.series_count == 50 and pipeline.evicted_total == 450
    assert metrics.registry.get_sample_value("lookout_series_evicted_total") == 450
    assert pipeline.dropped_new_series_total == 0  # eviction made room for every wave
    # 50 stacks are ~1 MB here; 450 evicted ones kept by mistake would add ~9 MB.
    assert max(heap[2:]) - heap[1] < 0.05 * heap[1], [round(h / 1e3) for h in heap]


def test_memory_per_series_is_flat_over_a_long_replay():
    """The short variant of ``bench/soak.py``: a NAB series replayed end to end, shifted in
    time; after the warm-up neither its state nor the process's RSS grows."""
    (series,) = [s for s in load_series(DEMO_DATA) if "jumpsup" in s[0]]
    n = len(series[1])
    # long_window 1000 (default 5000): the calibration's windows fill within the first loop.
    pipeline = Pipeline(lambda: DetectorStack(long_window=1000), keep_duplicates=True)
    DetectorStack().process(0.0, 1.0)

    samples = soak(looped([series], loops=3, copies=1), pipeline, 1000)

    assert samples[-1].points == 3 * n
    warm_up = n
    rss_growth, _ = growth_after(samples, warm_up)
    after = [s for s in samples if s.points >= warm_up]
    # The snapshot holds every piece of learned state: a window or a list that grew with the
    # stream would show here (8,000 more points, at ~20 bytes each, would add ~160 KB).
    state = [round(s.state_bytes) for s in samples]
    assert max(s.state_bytes for s in after) < 1.01 * after[0].state_bytes, state
    assert rss_growth < 1_000_000, [s.rss for s in samples]
