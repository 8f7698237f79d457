"""Warm start from history (without a server): the query_range document, chunking, naming,
and what the runner does with a warmed series (no page for history, overlap skipped)."""

import json
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors import DetectorStack
from stream.outputs.alert_sinks import KafkaAlertSink
from stream.outputs.metrics import LookoutMetrics
from stream.runtime.pipeline import Pipeline
from stream.runtime.runner import Runner
from stream.runtime.warm_start import score_history
from stream.sources.prometheus_history import (
    MAX_POINTS_PER_SERIES,
    PrometheusError,
    PromSeries,
    chunk_ranges,
    matrix_series,
    series_name,
)
from tests.test_live import MemorySender, MemorySource, record

DATA = Path(__file__).parent / "data"
SERIES = 'smd_cpu{instance="machine-1-6",job="smd"}'


def test_a_real_query_range_answer_becomes_arrays_of_its_samples():
    # Saved from Prometheus 2.42 holding tests/data/smd_machine-1-6_d24_head.csv (see
    # tests/test_prometheus_history.py): its last 19 samples, then 3 steps of Prometheus'
    # 5-minute lookback, which repeat the last sample.
    document = json.loads((DATA / "prometheus_query_range.json").read_text())
    (series,) = matrix_series(document)
    assert series.labels == {"__name__": "smd_cpu", "instance": "machine-1-6", "job": "smd"}
    assert series_name(series.labels) == SERIES
    assert len(series.values) == 22 and np.all(np.diff(series.timestamps) == 60.0)
    head = np.loadtxt(DATA / "smd_machine-1-6_d24_head.csv", delimiter=",", skiprows=1,
                      usecols=1, max_rows=1440)  # fmt: skip
    np.testing.assert_array_equal(series.values[:19], head[-19:])
    np.testing.assert_array_equal(series.values[19:], [head[-1]] * 3)

    (nan,) = matrix_series(json.loads((DATA / "prometheus_query_range_nan.json").read_text()))
    assert len(nan.values) == 0 and nan.non_finite == 3 and "__name__" not in nan.labels

    with pytest.raises(PrometheusError, match="parse error") as refused:
        matrix_series(json.loads((DATA / "prometheus_query_range_error.json").read_text()))
    assert refused.value.bad_query
    with pytest.raises(PrometheusError, match="expected a matrix"):
        matrix_series({"status": "success", "data": {"resultType": "vector", "result": []}})


@given(
    start=st.integers(0, 10**6),
    n_steps=st.integers(0, 50_000),
    step=st.sampled_from([1.0, 15.0, 60.0, 300.0]),
    chunk_steps=st.integers(1, MAX_POINTS_PER_SERIES),
)
def test_chunks_cover_every_evaluation_time_once_and_stay_under_the_limit(
    start, n_steps, step, chunk_steps
):
    end = start + n_steps * step
    ranges = chunk_ranges(start, end, step, chunk_steps)
    times = [
        first + k * step for first, last in ranges for k in range(round((last - first) / step) + 1)
    ]
    assert times == [start + k * step for k in range(n_steps + 1)]
    assert all(
        (last - first) / step + 1 <= min(chunk_steps, MAX_POINTS_PER_SERIES)
        for first, last in ranges
    )


def test_a_template_names_series_and_a_series_without_its_labels_is_counted_not_scored():
    chunk = [
        PromSeries({"__name__": "up", "job": "a", "instance": "x"}, np.array([60.0]), np.ones(1)),
        PromSeries({"__name__": "up", "job": "b"}, np.array([60.0]), np.ones(1)),
        PromSeries({"job": "c", "instance": "y" * 300}, np.array([60.0]), np.ones(1)),
    ]
    pipeline = Pipeline(lambda: DetectorStack(grace_period=5))
    boundary, summary, last = score_history(pipeline, [chunk], template="{job}/{instance}")
    assert pipeline.series_ids() == ["a/x"] and summary.unnamed == 2  # no instance; too long
    assert last["a/x"].labels == {"job": "a", "instance": "x"}


def history_ending_in_an_incident(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    values = 50 + rng.normal(0, 1, n)
    # still anomalous at the end of the history (not one value thrice: that is a stuck value,
    # an incident of its own that would keep the alert open into the live points)
    values[-3:] = 400.0, 401.0, 402.0
    return 60.0 * np.arange(n), values


def test_history_never_pages_overlapping_live_points_are_skipped_and_live_spikes_page():
    timestamps, values = history_ending_in_an_incident()
    pipeline = Pipeline(lambda: DetectorStack(grace_period=50, paging_interval=0.0))
    labels = {"__name__": "load", "job": "node"}
    boundary, summary, _ = score_history(pipeline, [[PromSeries(labels, timestamps, values)]])
    name = 'load{job="node"}'
    assert summary.alerts >= 1 and summary.warming == 0  # opened in the history, not sent
    assert pipeline.open_alert(name) is None  # not stored as firing: no restart pages for it

    end = float(timestamps[-1])
    rng = np.random.default_rng(4)
    live = [(end - 60.0, 400.0), (end, 400.0)]  # the history's own last points again
    # The incident ends (its resolution is not sent either), then, past the onset rule's
    # memory of 16.7 hours (1,000 points at 1 minute), a new spike pages.
    live += [(end + 60.0 * k, 50 + float(rng.normal())) for k in range(1, 1060)]
    live += [(end + 60.0 * 1060, 900.0)]
    records = [
        record(i, orjson.dumps({"series": name, "timestamp": t, "value": v}), key=name.encode())
        for i, (t, v) in enumerate(live)
    ]
    log = []
    source, sender = MemorySource(records, log), MemorySender(log)
    runner = Runner(
        source,
        sender,
        pipeline,
        LookoutMetrics(),
        sinks=[KafkaAlertSink(sender, "alerts")],
        dead_letter_topic="dead",
        history=boundary,
    )
    summary = runner.run(max_messages=len(records))

    assert summary.skipped_points == 2 and sender.on("dead") == []
    events = sender.on("alerts")
    assert [(e["status"], e["value"]) for e in events] == [("firing", 900.0)]
    assert summary.points == len(live) - 2


def test_a_stored_state_wins_over_the_warm_history_of_its_series():
    from stream.runtime.state_store import SqliteStateStore

    def stack():
        return DetectorStack(grace_period=50)

    timestamps, values = history_ending_in_an_incident()
    earlier = Pipeline(stack)  # what an earlier run stored: the first 100 points
    earlier.push_arrays(["x"] * 100, timestamps[:100], values[:100])
    store = SqliteStateStore(":memory:")
    store.put_many({"x": (("metrics", 0), earlier.snapshot_series("x"))})

    pipeline = Pipeline(stack)
    boundary, _, _ = score_history(pipeline, [[PromSeries({"__name__": "x"}, timestamps, values)]])
    live = [
        record(i, orjson.dumps({"series": "x", "timestamp": t, "value": 50.0}), key=b"x")
        for i, t in enumerate(timestamps[100:110].tolist())
    ]
    log = []
    runner = Runner(
        MemorySource(live, log), MemorySender(log), pipeline, LookoutMetrics(),
        state_store=store, history=boundary,
    )  # fmt: skip
    runner.on_assigned([("metrics", 0)])
    summary = runner.run(max_messages=len(live))

    # Restored (100 points), so the points after it are scored, not skipped as history.
    assert (summary.restored_series, summary.points, summary.skipped_points) == (1, 10, 0)
    assert pipeline.points_learned(["x"]) == [110] and "x" not in boundary.until


def test_run_refuses_a_history_url_without_a_query_and_starts_cold_without_prometheus(
    capsys, caplog
):
    import argparse
    import logging

    from stream.cli import main
    from stream.cli.live import _warm_start

    assert main(["run", "--history-url", "http://127.0.0.1:9", "--bootstrap-servers", "x:1"]) == 2
    assert "--history-url needs --history-query" in capsys.readouterr().err

    settings = argparse.Namespace(
        history_url="http://127.0.0.1:9",  # nothing listens on the discard port
        history_query="up",
        history_lookback="1h",
        history_step="60",
        history_series="",
        history_timeout=5.0,
        history_username=None,
        history_password=None,
        history_bearer_token=None,
    )
    pipeline = Pipeline(DetectorStack)
    with caplog.at_level(logging.ERROR, logger="lookout"):
        assert _warm_start(settings, pipeline, LookoutMetrics()) is None
    assert "warm start failed, starting cold" in caplog.text and pipeline.series_count == 0


def test_backfill_shares_lookout_runs_config_file_and_needs_a_url(tmp_path, capsys):
    from stream.cli import main

    config = tmp_path / "lookout.toml"
    config.write_text(
        'topic = "metrics"\ngroup-id = "g"\nhistory-query = "up"\nhistory-lookback = "2d"\n'
        "grace-period = 100\n"
    )
    url = ["--history-url", "http://127.0.0.1:9"]
    assert main(["backfill", "--config", str(config), "--print-config", *url]) == 0
    printed = capsys.readouterr().out
    assert "history_lookback = '2d'  (file)" in printed and "grace_period = 100  (file)" in printed
    for extra in ([], ["--print-config"]):  # a printed configuration is a usable one
        assert main(["backfill", "--config", str(config), *extra]) == 2
        assert "give --history-url" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:
        main(["backfill", "--history-url", "http://x:9090", "--history-lookback", "soon"])
    assert bad.value.code == 2
    assert "invalid duration value: 'soon'" in capsys.readouterr().err
