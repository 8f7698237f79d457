"""The pipeline: event-time order, reorder window, duplicates, series bounds, per-series state."""

from __future__ import annotations

import math
import random

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import DetectorStack
from detectors.state import SnapshotError, restore
from stream.point import InvalidPoint, MetricPoint
from stream.runtime.pipeline import SERIES_STATE_VERSION, Pipeline

STEP = 60.0


def small_stack() -> DetectorStack:
    # Small forests and windows: quick to build, still every detector of the default stack.
    return DetectorStack(grace_period=20, long_window=100, n_trees=3, height=5, refractory=10)


def values(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    out = [50 + 10 * math.sin(i / 8) + rng.gauss(0, 1) for i in range(n)]
    out[n // 2] += 60  # a spike, so that alert events are part of what is compared
    return out


def series_points(name: str, n: int, seed: int, gaps: bool = True) -> list[MetricPoint]:
    rng = random.Random(seed)
    timestamps, t = [], 0.0
    for _ in range(n):
        t += STEP * (rng.choice([1, 1, 1, 2, 5]) if gaps else 1)
        timestamps.append(t)
    return [MetricPoint(name, ts, v) for ts, v in zip(timestamps, values(n, seed), strict=True)]


def outputs(scored) -> list[str]:
    # repr() compares floats exactly and NaN equal to NaN; the event carries the alert id.
    return [repr((s.point, dict(s.labels), s.assessment, s.event)) for s in scored]


def run(pipeline: Pipeline, points, labels=None) -> tuple[list[str], list[str]]:
    """Push every point; the outputs (flushed at the end) and the rejection reasons."""
    scored, rejected = [], []
    for point in points:
        try:
            scored += pipeline.push(point, labels)
        except InvalidPoint as exc:
            rejected.append(exc.reason)
        held = [pipeline.order.held_count(name) for name in pipeline.series_ids()]
        assert pipeline.held_count == sum(held)  # the running total a scrape reads
    scored += pipeline.flush()
    assert pipeline.held_count == 0
    return outputs(scored), rejected


def displaced(points: list[MetricPoint], window: float, rng: random.Random) -> list[MetricPoint]:
    """A random arrival order where no point comes after a point more than ``window`` later:
    each point arrives at its timestamp plus a delay of at most ``window`` (often exactly 0 or
    ``window``, the extremes), ties in random order."""
    arrival = []
    for point in points:
        delay = rng.choice([0.0, window, window, rng.uniform(0, window)])
        arrival.append((point.timestamp + delay, rng.random(), point))
    return [point for _, _, point in sorted(arrival, key=lambda a: a[:2])]


def per_series(lines: list[str], name: str) -> list[str]:
    return [line for line in lines if f"series={name!r}" in line.split(",", 1)[0]]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    window_steps=st.sampled_from([1, 3, 10]),
    n=st.integers(20, 70),
)
def test_any_order_displaced_within_the_window_scores_like_the_sorted_stream(seed, window_steps, n):
    window = window_steps * STEP
    rng = random.Random(seed)
    streams = {name: series_points(name, n, seed + i) for i, name in enumerate("ab")}
    ordered = [p for points in streams.values() for p in points]
    # Each series displaced within the window, the series interleaved at random.
    queues = {name: displaced(points, window, rng) for name, points in streams.items()}
    arrival = []
    while any(queues.values()):
        name = rng.choice([name for name, queue in queues.items() if queue])
        arrival.append(queues[name].pop(0))

    expected, _ = run(Pipeline(small_stack), ordered)
    got, rejected = run(Pipeline(small_stack, reorder_window=window), arrival)

    assert rejected == []
    for name in streams:
        assert per_series(got, name) == per_series(expected, name)
    assert len(got) == 2 * n


def test_the_window_holds_points_until_the_series_watermark_passes_them():
    pipeline = Pipeline(small_stack, reorder_window=120)

    assert pipeline.push(MetricPoint("cpu", 300.0, 1.0)) == []
    assert pipeline.push(MetricPoint("cpu", 240.0, 1.0)) == []
    assert pipeline.held_count == 2
    # Another series has its own watermark: it releases nothing of "cpu".
    assert [s.point.series for s in pipeline.push(MetricPoint("mem", 10_000.0, 1.0))] == []
    released = pipeline.push(MetricPoint("cpu", 420.0, 1.0))  # watermark 300

    assert [s.point.timestamp for s in released] == [240.0, 300.0]
    assert pipeline.held_count == 2  # cpu at 420 and mem at 10000


def test_points_later_than_the_last_scored_one_are_refused_and_the_series_goes_on():
    pipeline = Pipeline(small_stack, reorder_window=60)
    for t in (0.0, 60.0, 120.0, 180.0):
        pipeline.push(MetricPoint("cpu", t, 1.0))  # 0, 60 and 120 are scored by now

    with pytest.raises(InvalidPoint) as late:
        pipeline.push(MetricPoint("cpu", 100.0, 1.0))
    assert late.value.reason == "out_of_order" and "reorder window 60 s" in late.value.detail

    # Before the watermark but after the last scored point: still in order, scored at once.
    pipeline.push(MetricPoint("cpu", 400.0, 1.0))  # scores 180; watermark 340
    assert [s.point.timestamp for s in pipeline.push(MetricPoint("cpu", 300.0, 1.0))] == [300.0]
    assert [s.point.timestamp for s in pipeline.flush()] == [400.0]


@pytest.mark.parametrize("window", [0.0, 300.0])
def test_nothing_is_scored_twice_and_the_first_point_of_a_timestamp_wins(window):
    pipeline = Pipeline(small_stack, reorder_window=window)
    first = [MetricPoint("cpu", STEP * i, float(i)) for i in range(10)]
    scored, _ = run(pipeline, first)
    again = [MetricPoint(p.series, p.timestamp, -1.0) for p in first]
    scored_again, rejected = run(pipeline, again)

    assert len(scored) == 10 and scored_again == []
    # The last scored timestamp is a duplicate; earlier ones cannot be told from late points.
    assert rejected == ["out_of_order"] * 9 + ["duplicate_timestamp"]

    held = Pipeline(small_stack, reorder_window=window)
    held.push(MetricPoint("cpu", 0.0, 1.0))
    held.push(MetricPoint("cpu", 60.0, 2.0))
    with pytest.raises(InvalidPoint, match="duplicate_timestamp"):
        held.push(MetricPoint("cpu", 60.0, 99.0))
    assert [s.point.value for s in held.flush()] == ([] if window == 0 else [1.0, 2.0])


def test_a_redelivered_batch_changes_nothing():
    points = series_points("cpu", 60, seed=3, gaps=False)
    expected, _ = run(Pipeline(small_stack, reorder_window=180), points)
    got, rejected = run(
        Pipeline(small_stack, reorder_window=180), points[:40] + points[20:]
    )  # 20..39 twice: 36 was the last scored, 37..39 held

    assert got == expected
    assert rejected == ["out_of_order"] * 16 + ["duplicate_timestamp"] * 4


def test_kept_duplicates_are_scored_in_arrival_order_after_the_first():
    pipeline = Pipeline(small_stack, keep_duplicates=True, reorder_window=120)
    scored = []
    for t, v in [(60.0, 1.0), (0.0, 2.0), (60.0, 3.0), (300.0, 4.0)]:
        scored += pipeline.push(MetricPoint("cpu", t, v))
    scored += pipeline.flush()

    assert [(s.point.timestamp, s.point.value) for s in scored] == [
        (0.0, 2.0),
        (60.0, 1.0),
        (60.0, 3.0),
        (300.0, 4.0),
    ]
    assert pipeline.order.kept_duplicates == 1


def test_timestamps_and_gaps_reach_the_stack_unchanged():
    seen = []
    pipeline = Pipeline(small_stack, reorder_window=600)
    process = pipeline.bank.process

    def recording(slots, timestamps, values, threads=1):
        seen.extend(zip(timestamps.tolist(), values.tolist(), strict=True))
        return process(slots, timestamps, values, threads)

    pipeline.bank.process = recording
    points = series_points("cpu", 40, seed=5, gaps=True)
    run(pipeline, points[::-1][:3] + points)

    assert seen == sorted((p.timestamp, p.value) for p in points)


def test_labels_travel_with_held_points():
    pipeline = Pipeline(small_stack, reorder_window=60)
    pipeline.push(MetricPoint("cpu", 60.0, 1.0), {"team": "web"})
    (scored,) = pipeline.push(MetricPoint("cpu", 120.0, 1.0))

    assert dict(scored.labels) == {"team": "web"}
    assert dict(pipeline.flush()[0].labels) == {}


def test_process_scores_at_once_and_refuses_to_run_with_a_window():
    assessment, event = Pipeline(small_stack).process(MetricPoint("cpu", 0.0, 1.0))
    assert assessment.timestamp == 0.0 and event is None
    with pytest.raises(TypeError, match="push"):
        Pipeline(small_stack, reorder_window=60).process(MetricPoint("cpu", 0.0, 1.0))


# --- bounds ---------------------------------------------------------------------------------


def test_new_series_beyond_max_series_are_refused_and_leave_no_trace():
    pipeline = Pipeline(small_stack, max_series=2)
    pipeline.push(MetricPoint("a", 0.0, 1.0))
    pipeline.push(MetricPoint("b", 0.0, 1.0))

    for name in ("c", "d", "c"):
        with pytest.raises(InvalidPoint) as refused:
            pipeline.push(MetricPoint(name, 60.0, 1.0))
        assert refused.value.reason == "series_limit"
    assert pipeline.push(MetricPoint("a", 60.0, 2.0))  # tracked series keep being scored

    assert pipeline.series_ids() == ["a", "b"] and pipeline.dropped_new_series_total == 3
    assert pipeline.order.last("c") is None


def test_idle_series_are_evicted_least_recently_seen_first_and_make_room():
    clock = {"now": 0.0}
    pipeline = Pipeline(
        small_stack, max_series=3, idle_ttl=100.0, reorder_window=600, clock=lambda: clock["now"]
    )
    for now, name in [(0.0, "a"), (10.0, "b"), (20.0, "c"), (50.0, "a")]:
        clock["now"] = now
        pipeline.push(MetricPoint(name, now, 1.0))

    assert pipeline.evict_idle(109.0) == []
    assert pipeline.evict_idle(125.0) == ["b", "c"]  # "a" was seen again at 50
    assert pipeline.series_ids() == ["a"] and pipeline.evicted_total == 2
    assert pipeline.held_count == 2  # a's two points; c's held point went with it

    clock["now"] = 130.0
    pipeline.push(MetricPoint("d", 0.0, 1.0))
    pipeline.push(MetricPoint("c", 0.0, 1.0))  # back, and starts afresh (0 < its old 20)
    assert sorted(pipeline.series_ids()) == ["a", "c", "d"]
    assert Pipeline(small_stack).evict_idle(1e12) == []  # no TTL: nothing is ever evicted


def test_drop_series_forgets_everything_of_it():
    pipeline = Pipeline(small_stack, reorder_window=60)
    pipeline.push(MetricPoint("cpu", 0.0, 1.0))
    pipeline.push(MetricPoint("cpu", 120.0, 1.0))
    pipeline.drop_series("cpu")
    pipeline.drop_series("never-seen")

    assert pipeline.series_ids() == [] and pipeline.held_count == 0
    assert pipeline.push(MetricPoint("cpu", 0.0, 1.0)) == []  # not a duplicate any more


@pytest.mark.parametrize("arguments", [{"max_series": 0}, {"idle_ttl": 0}, {"reorder_window": -1}])
def test_bad_bounds_are_refused(arguments):
    with pytest.raises(ValueError):
        Pipeline(small_stack, **arguments)


# --- per-series state -----------------------------------------------------------------------


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(1, 79), window_steps=st.sampled_from([0, 4]))
def test_restoring_a_series_mid_stream_equals_an_uninterrupted_run(seed, cut, window_steps):
    window = window_steps * STEP
    points = displaced(series_points("cpu", 80, seed), window, random.Random(seed))
    labels = {"team": "web"}
    expected, _ = run(Pipeline(small_stack, reorder_window=window), points, labels)

    first = Pipeline(small_stack, reorder_window=window)
    before = []
    for point in points[:cut]:
        before += first.push(point, labels)
    resumed = Pipeline(small_stack, reorder_window=window)
    resumed.restore_series("cpu", first.snapshot_series("cpu"))
    after, _ = run(resumed, points[cut:], labels)

    assert outputs(before) + after == expected


def test_series_state_is_a_versioned_header_then_the_stack_snapshot():
    pipeline = Pipeline(small_stack, reorder_window=60)
    pipeline.push(MetricPoint("cpu", 0.0, 1.0), {"team": "web"})
    header, body = pipeline.snapshot_series("cpu").split(b"\n", 1)

    assert orjson.loads(header) == {
        "format": "lookout-series-state",
        "version": SERIES_STATE_VERSION,
        "series": "cpu",
        "last": None,
        "latest": 0.0,
        "held": [[0.0, 1.0, {"team": "web"}]],
    }
    # the body is the series' row of the bank: named arrays, restorable by detectors.state
    assert "hst.masses" in restore(body) and "forecaster.inverse" in restore(body)
    with pytest.raises(KeyError):
        pipeline.snapshot_series("unknown")


def corrupt(data: bytes, **changes) -> bytes:
    header, body = data.split(b"\n", 1)
    return orjson.dumps({**orjson.loads(header), **changes}) + b"\n" + body


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: b"no header line",
        lambda d: b"{oops\n" + d.split(b"\n", 1)[1],
        lambda d: corrupt(d, format="pickle"),
        lambda d: corrupt(d, version=1),  # a DetectorStack snapshot, before the bank
        lambda d: corrupt(d, version=2),  # the current layout claiming an earlier one
        lambda d: corrupt(d, version=3),
        lambda d: corrupt(d, series="mem"),
        lambda d: corrupt(d, last="yesterday"),
        lambda d: corrupt(d, held=[[0.0, "NaN?", None]]),
        lambda d: corrupt(d, held=[[0.0, 1.0, {"team": 7}]]),
        lambda d: corrupt(d, alert={"event": {"series": "cpu"}, "labels": {}}),
        lambda d: corrupt(d, alert=[1, 2]),
        lambda d: (
            d.split(b"\n", 1)[0] + b'\n{"format": "lookout-detector-state", "version": 1, '
            b'"state": {"$o": "os.system", "s": {}}}'
        ),
        lambda d: (
            d.split(b"\n", 1)[0] + b'\n{"format": "lookout-detector-state", "version": 1, '
            b'"state": {"$o": "detectors.alerting.AlertTransition", "s": {}}}'
        ),
    ],
    ids=[
        "no-header",
        "header-not-json",
        "format",
        "version",
        "version-2-label-on-version-4-state",
        "version-3-label-on-version-4-state",
        "other-series",
        "bad-timestamp",
        "bad-held-value",
        "bad-held-labels",
        "alert-without-its-fields",
        "alert-not-a-record",
        "foreign-class",
        "not-a-stack",
    ],
)
def test_bad_series_state_is_refused_and_the_current_state_kept(damage):
    source = Pipeline(small_stack, reorder_window=60)
    source.push(MetricPoint("cpu", 0.0, 1.0))
    target = Pipeline(small_stack, reorder_window=60)
    target.push(MetricPoint("cpu", 500.0, 5.0))

    with pytest.raises(SnapshotError):
        target.restore_series("cpu", damage(source.snapshot_series("cpu")))

    assert target.order.state("cpu")["held"][0][0] == 500.0


def test_restore_replaces_the_series_and_ignores_max_series():
    source = Pipeline(small_stack)
    for name in ("a", "b"):
        source.push(MetricPoint(name, 0.0, 1.0))
    target = Pipeline(small_stack, max_series=1)
    target.push(MetricPoint("a", 500.0, 1.0))

    target.restore_series("a", source.snapshot_series("a"))
    target.restore_series("b", source.snapshot_series("b"))

    assert target.series_ids() == ["a", "b"]  # what this process owns is kept
    assert target.push(MetricPoint("a", 60.0, 1.0))  # "a" is back at 0: 60 is in order
    with pytest.raises(InvalidPoint, match="series_limit"):
        target.push(MetricPoint("c", 0.0, 1.0))


@pytest.mark.parametrize("keep_duplicates", [False, True])
def test_push_arrays_decides_and_scores_as_push_one_by_one(keep_duplicates):
    rng = np.random.default_rng(3)
    n = 3000
    names = [f"s{i}" for i in rng.integers(0, 5, n)]
    # Mostly increasing per series, with repeats and late points mixed in.
    timestamps = np.round(np.cumsum(rng.choice([60.0, 60.0, 60.0, 0.0, -300.0], n)), 1)
    values = rng.normal(10, 1, n)
    values[rng.integers(0, n, 10)] += 25

    def pipeline():
        return Pipeline(small_stack, keep_duplicates=keep_duplicates, max_series=4)

    one_by_one, scored, reasons = pipeline(), [], {}
    rows = zip(names, timestamps.tolist(), values.tolist(), strict=True)
    for index, (name, t, v) in enumerate(rows):
        try:
            scored.extend(one_by_one.push(MetricPoint(name, t, v)))
        except InvalidPoint as error:
            reasons[index] = error.reason
    arrays = pipeline()
    batch, refused = arrays.push_arrays(names, timestamps, values)

    assert {index: error.reason for index, error in refused} == reasons
    assert set(reasons.values()) >= {"out_of_order", "series_limit"}
    assert batch.series == [s.point.series for s in scored]
    np.testing.assert_array_equal(
        batch.results.anomaly_score, [s.assessment.anomaly_score for s in scored]
    )
    assert arrays.order.kept_duplicates == one_by_one.order.kept_duplicates
    assert arrays.dropped_new_series_total == one_by_one.dropped_new_series_total


def test_two_scoring_threads_give_the_same_batch():
    rng = np.random.default_rng(5)
    series = [f"host-{i % 12}" for i in range(6000)]  # 12 series, 500 points each, interleaved
    timestamps = 60.0 * (np.arange(6000) // 12)
    values = rng.normal(50, 5, 6000)
    values[4000] += 60
    batches = []
    for threads in (1, 2):
        pipeline = Pipeline(small_stack, threads=threads)
        batch, refused = pipeline.push_arrays(series, timestamps, values)
        assert not refused
        batches.append(batch)
    one, two = batches
    assert one.series == two.series
    for name in ("anomaly_score", "onset_score", "alert", "expected", "agreeing"):
        np.testing.assert_array_equal(getattr(two.results, name), getattr(one.results, name))
    with pytest.raises(ValueError, match="threads"):
        Pipeline(small_stack, threads=3)


def test_a_firing_alert_and_its_labels_survive_a_snapshot():
    pipeline = Pipeline(
        lambda: DetectorStack(grace_period=50, exit_threshold=0.001, paging_interval=0.0)
    )
    values = 50 + np.random.default_rng(4).normal(0, 1, 230)
    values[200:] += 30  # an alert opens at point 200 and is still open at the end
    pipeline.push_arrays(["api"] * 230, 60.0 * np.arange(230), values, [{"team": "web"}] * 230)
    event, labels = pipeline.open_alert("api")
    assert event.firing and labels == {"team": "web"}

    twin = Pipeline(
        lambda: DetectorStack(grace_period=50, exit_threshold=0.001, paging_interval=0.0)
    )
    twin.restore_series("api", pipeline.snapshot_series("api"))
    assert twin.open_alert("api") == (event, labels)
    twin.drop_series("api")
    assert twin.open_alert("api") is None
