"""A point's labels on its series' gauges (bounded, configurable) and on its alerts; the
per-series warm-up gauge."""

import shutil
import subprocess

import numpy as np
import orjson
from prometheus_client import CollectorRegistry

from detectors import DetectorStack
from stream.cli import main
from stream.outputs.alert_sinks import KafkaAlertSink, alertmanager_alert
from stream.outputs.labels import LabelPolicy
from stream.outputs.metrics import SERIES_GAUGES, ExpositionServer, LookoutMetrics
from stream.point import MetricPoint
from stream.runtime.pipeline import Pipeline
from stream.runtime.runner import Runner
from tests.services_fixtures import service_unavailable
from tests.test_live import MemorySender, MemorySource, record

NODE = {"job": "node", "instance": "db-1:9100"}


def spiky_values(n: int, spike_at: int, seed: int = 0) -> np.ndarray:
    values = 50 + np.random.default_rng(seed).normal(0, 1, n)
    values[spike_at] = 500.0
    return values


class RecordingSink:
    """An alert sink that keeps what the runner sends it (the Alertmanager sink's input)."""

    name = "recording"

    def __init__(self):
        self.alerts = []

    def send(self, alerts, now):
        self.alerts.extend(alerts)

    def adopt(self, alerts, now):
        pass

    def tick(self, now):
        pass

    def close(self, now):
        pass


def test_labels_of_a_point_reach_its_gauges_alert_documents_and_alertmanager_labels():
    values = spiky_values(80, spike_at=70)
    records = [
        record(i, orjson.dumps({"timestamp": 60.0 * i, "value": v, "labels": NODE}), key=b"load")
        for i, v in enumerate(values.tolist())
    ]
    log = []
    source, sender = MemorySource(records, log), MemorySender(log)
    registry = CollectorRegistry()
    recording = RecordingSink()
    pipeline, metrics = Pipeline(lambda: DetectorStack(grace_period=20)), LookoutMetrics(registry)
    metrics.watch_pipeline(pipeline)  # as lookout run does
    runner = Runner(
        source, sender, pipeline, metrics, sinks=[KafkaAlertSink(sender, "alerts"), recording]
    )
    runner.run(max_messages=len(records))

    labels = {"series": "load", **NODE}
    assert registry.get_sample_value("lookout_value", labels) == values[-1]
    for name, _, _ in SERIES_GAUGES:
        assert registry.get_sample_value(name, labels) is not None, name
    assert registry.get_sample_value("lookout_series_warming", labels) == 0.0
    assert registry.get_sample_value("lookout_value", {"series": "load"}) is None

    (firing, *_) = sender.on("alerts")
    assert firing["status"] == "firing" and firing["labels"] == NODE
    item = alertmanager_alert(recording.alerts[0], "page", now=5000.0, lease=240.0)
    assert item["labels"] == {**NODE, "alertname": "LookoutAnomaly", "series": "load",
                              "severity": "page"}  # fmt: skip


def observe(metrics, series, labels, value=1.0, now=0.0):
    stack = DetectorStack(grace_period=5)
    return metrics.observe(series, stack.process(0.0, value), now=now, labels=labels)


def test_keep_and_drop_lists_choose_the_labels_and_bounds_leave_labels_off_with_a_count():
    registry = CollectorRegistry()
    keep_only = LabelPolicy(keep=frozenset({"job"}), drop=frozenset({"team"}))
    assert keep_only.select({"job": "api", "team": "web", "zone": "a"}) == ({"job": "api"}, [])
    policy = LabelPolicy(drop=frozenset({"pod", "x"}), max_labels=2, max_value_length=10)
    metrics = LookoutMetrics(registry, label_policy=policy, max_label_values=1)
    observe(metrics, "a", {"job": "api", "instance": "i-1", "team": "web", "pod": "p", "x": "1"})
    observe(metrics, "b", {"job": "api", "path": "/" + "v" * 20, "series": "shadow"})
    observe(metrics, "c", {"job": "batch", "team": "web"})

    def value(**labels):
        return registry.get_sample_value("lookout_value", labels)

    # a: instance and job (2 labels, name order), team over the count; pod, x dropped (by choice)
    assert value(series="a", job="api", instance="i-1") == 1.0
    # b: path too long; "series" is Lookout's own label; job's value "api" is exposed already
    assert value(series="b", job="api") == 1.0
    # c: a second job value is over max_label_values=1, a second team value is not
    assert value(series="c", team="web") == 1.0

    def dropped(reason):
        return registry.get_sample_value("lookout_series_labels_dropped_total", {"reason": reason})

    assert (dropped("count"), dropped("length"), dropped("reserved")) == (1.0, 1.0, 1.0)
    assert dropped("cardinality") == 1.0 and dropped("invalid_name") == 0.0


def test_a_series_whose_labels_change_is_exposed_with_the_new_ones_only():
    registry = CollectorRegistry()
    metrics = LookoutMetrics(registry, max_label_values=1)
    observe(metrics, "a", {"pod": "p1"}, value=1.0)
    observe(metrics, "a", {"pod": "p2"}, value=2.0)  # p1 released: p2 fits the bound of 1

    assert registry.get_sample_value("lookout_value", {"series": "a", "pod": "p1"}) is None
    assert registry.get_sample_value("lookout_value", {"series": "a", "pod": "p2"}) == 2.0
    metrics.remove_idle(now=10_000.0)
    assert registry.get_sample_value("lookout_value", {"series": "a", "pod": "p2"}) is None
    observe(metrics, "b", {"pod": "p3"})  # everything released with the idle series
    assert registry.get_sample_value("lookout_value", {"series": "b", "pod": "p3"}) == 1.0


def test_warming_gauge_reads_the_points_learned_and_no_series_pages_while_warming():
    registry = CollectorRegistry()
    metrics = LookoutMetrics(registry)
    pipeline = Pipeline(lambda: DetectorStack(grace_period=30))
    metrics.watch_pipeline(pipeline)
    assert pipeline.warm_up_points == 30

    for seed, spike_at in enumerate((5, 29, 30, 60)):
        name = f"s{seed}"
        values = spiky_values(80, spike_at, seed)
        alerted_at = []
        for t, value in enumerate(values.tolist()):
            (scored,) = pipeline.push(MetricPoint(name, 60.0 * t, value))
            if scored.assessment.alert:
                alerted_at.append(t)
            metrics.observe(name, scored.assessment, now=0.0)
            flag = registry.get_sample_value("lookout_series_warming", {"series": name})
            assert flag == (1.0 if t + 1 < pipeline.warm_up_points else 0.0), (name, t)
            # the series before this one are ready: at most this one is warming
            assert registry.get_sample_value("lookout_series_tracked_warming") == flag
        # t points were learned before point t: it can page only from t = warm_up_points on
        assert alerted_at[:1] == ([spike_at] if spike_at >= pipeline.warm_up_points else [])

    # Without the range break the recalibration holds scores at 0 for 101 more points.
    late = Pipeline(lambda: DetectorStack(grace_period=30, range_break=False))
    assert late.warm_up_points == 30 + 100 + 1


def test_an_hourly_series_stops_warming_after_two_days_not_after_its_grace_in_points():
    pipeline = Pipeline(lambda: DetectorStack())  # grace 250 points, warm-up two days
    rng = np.random.default_rng(3)
    warming = []
    for t, value in enumerate((10 + rng.normal(0, 1, 60)).tolist()):
        pipeline.push(MetricPoint("hourly", 3600.0 * t, value))
        (flag,) = pipeline.warming(["hourly"])
        warming.append(flag)
        assert pipeline.warming_count == int(flag)
    assert warming.index(False) == 47  # 48 points learned: two days of hours
    assert pipeline.warm_up_points == 250  # a 5-minute series still learns its 250


def test_promtool_accepts_series_with_different_label_names_and_the_warming_gauge():
    promtool = shutil.which("promtool")
    if promtool is None:
        service_unavailable("promtool not installed (apt-get install prometheus)")
    registry = CollectorRegistry()
    metrics = LookoutMetrics(registry)
    pipeline = Pipeline(lambda: DetectorStack(grace_period=5))
    metrics.watch_pipeline(pipeline)
    for name, labels in (("a", NODE), ("b", {"team": 'say "hi"\\n'}), ("c", {})):
        (scored,) = pipeline.push(MetricPoint(name, 0.0, 1.0), labels)
        metrics.observe(name, scored.assessment, now=0.0, labels=labels)
    with ExpositionServer("127.0.0.1:0", registry) as server:
        import urllib.request

        exposition = urllib.request.urlopen(f"{server.url}/metrics").read()

    lint = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=30
    )
    assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()
    assert b'lookout_series_warming{instance="db-1:9100",job="node",series="a"} 1.0' in exposition
    assert b"# TYPE lookout_series_warming gauge" in exposition


def test_gauge_label_options_layer_like_the_others_and_bad_names_exit_2(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("LOOKOUT_MAX_GAUGE_LABEL_VALUES", "50")
    config = tmp_path / "lookout.toml"
    config.write_text('gauge-labels-drop = "pod"\nmax-gauge-labels = 3\n')
    argv = ["run", "--config", str(config), "--gauge-labels", "job,instance,pod", "--print-config"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "gauge_labels = 'job,instance,pod'  (flag)" in printed
    assert "gauge_labels_drop = 'pod'  (file)" in printed
    assert "max_gauge_labels = 3  (file)" in printed
    assert "max_gauge_label_values = 50  (env)" in printed

    assert main(["run", "--gauge-labels", "job,9lives", "--bootstrap-servers", "x:1"]) == 2
    assert "'9lives' is not a Prometheus label name" in capsys.readouterr().err
