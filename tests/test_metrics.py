"""Prometheus exposition: per-series gauges, counters, the cardinality guard, the endpoints."""

import math
import shutil
import subprocess
import urllib.error
import urllib.request

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from detectors import Assessment, DetectorStack
from stream.outputs.metrics import SERIES_GAUGES, ExpositionServer, LookoutMetrics
from stream.point import MetricPoint
from stream.sources.messages import REASONS
from tests.services_fixtures import service_unavailable

SERIES_METRICS = [name for name, _, _ in SERIES_GAUGES]


def assessment(value: float, score: float = 0.1, alert: bool = False) -> Assessment:
    return Assessment(
        timestamp=0.0,
        value=value,
        anomaly_score=score,
        alert=alert,
        zscore=1.5,
        hst_score=0.2,
        forecast_score=0.3,
        expected=value - 1,
        lower=value - 3,
        upper=value + 1,
        agreeing=(),
    )


@pytest.fixture
def registry():
    return CollectorRegistry()


def sample(registry, name, **labels):
    return registry.get_sample_value(name, labels)


def test_per_series_gauges_follow_the_last_assessment(registry):
    metrics = LookoutMetrics(registry)
    metrics.observe("api", assessment(10.0), now=0.0)
    metrics.observe("api", assessment(20.0, score=0.9, alert=True), now=1.0)

    assert sample(registry, "lookout_value", series="api") == 20.0
    assert sample(registry, "lookout_expected", series="api") == 19.0
    assert sample(registry, "lookout_expected_lower", series="api") == 17.0
    assert sample(registry, "lookout_expected_upper", series="api") == 21.0
    assert sample(registry, "lookout_anomaly_score", series="api") == 0.9
    assert sample(registry, "lookout_zscore", series="api") == 1.5
    assert sample(registry, "lookout_anomalous", series="api") == 1.0
    assert sample(registry, "lookout_points_total") == 2.0

    metrics.observe("api", assessment(20.0, alert=False), now=2.0)
    assert sample(registry, "lookout_anomalous", series="api") == 0.0


def test_warm_up_band_is_exposed_as_nan_not_as_zero(registry):
    metrics = LookoutMetrics(registry)
    first = DetectorStack(grace_period=5).process(0.0, 3.0)
    metrics.observe("cold", first, now=0.0)

    assert math.isnan(sample(registry, "lookout_expected_lower", series="cold"))
    assert sample(registry, "lookout_value", series="cold") == 3.0


def test_the_score_gauge_shows_how_abnormal_the_point_is_between_onsets(registry):
    """After a level shift the onset is one point; the gauge goes on showing the continuous
    anomaly score of every later point, not 0."""
    metrics = LookoutMetrics(registry)
    stack = DetectorStack(grace_period=100)
    rng = np.random.default_rng(5)
    values = 50 + rng.normal(0, 1, 500)
    values[450:] += 25  # a level shift: one onset, then points still far from the usual
    before, shown = [], []
    for i, value in enumerate(values):
        assessed = stack.process(300.0 * i, value)
        metrics.observe("api", assessed, now=float(i))
        gauge = sample(registry, "lookout_anomaly_score", series="api")
        assert gauge == assessed.anomaly_score
        if 200 <= i < 450:
            before.append(gauge)
        elif i > 450 and assessed.onset_score == 0:
            shown.append(gauge)
    # after the onset, the shifted points still read far above the noise before it
    assert len(shown) > 20 and max(shown) > 0.3 > 5 * np.median(before)


def test_max_series_guard_counts_dropped_points_and_admits_after_idle_removal(registry):
    metrics = LookoutMetrics(registry, max_series=2, idle_timeout=60.0)
    for series in ("a", "b", "c", "c"):
        metrics.observe(series, assessment(1.0), now=0.0)

    assert sample(registry, "lookout_value", series="c") is None
    assert sample(registry, "lookout_series_overflow_points_total") == 2.0
    assert sample(registry, "lookout_series_exposed") == 2.0
    assert sample(registry, "lookout_points_total") == 4.0  # scored all the same

    metrics.observe("a", assessment(1.0), now=50.0)
    assert metrics.remove_idle(now=100.0) == ["b"]  # "a" was seen 50 s ago, "b" 100 s ago
    for name in SERIES_METRICS:
        assert sample(registry, name, series="b") is None
    assert sample(registry, "lookout_series_exposed") == 1.0

    metrics.observe("c", assessment(5.0), now=101.0)
    assert sample(registry, "lookout_value", series="c") == 5.0


def test_invalid_reasons_start_at_zero_and_unknown_reasons_count_as_other(registry):
    metrics = LookoutMetrics(registry)
    for reason in REASONS:
        assert sample(registry, "lookout_invalid_messages_total", reason=reason) == 0.0

    metrics.count_invalid("malformed_json")
    metrics.count_invalid("something new")

    assert sample(registry, "lookout_invalid_messages_total", reason="malformed_json") == 1.0
    assert sample(registry, "lookout_invalid_messages_total", reason="other") == 1.0
    assert sample(registry, "lookout_invalid_messages_total", reason="something new") is None


def test_lag_gauges_follow_the_assignment(registry):
    metrics = LookoutMetrics(registry)
    metrics.set_lag({("metrics", 0): 5, ("metrics", 1): 0})
    metrics.set_lag({("metrics", 1): 7})  # partition 0 revoked

    assert sample(registry, "lookout_consumer_lag_messages", topic="metrics", partition="1") == 7
    assert sample(registry, "lookout_consumer_lag_messages", topic="metrics", partition="0") is None


def test_build_info_and_delivery_failure_counters_exist_from_the_start(registry):
    LookoutMetrics(registry, sinks=["alertmanager"])
    build = [s for m in registry.collect() if m.name == "lookout_build_info" for s in m.samples]
    assert len(build) == 1 and build[0].value == 1.0 and build[0].labels["version"]
    assert sample(registry, "lookout_alert_delivery_failures_total", sink="alertmanager") == 0.0


def test_constructor_rejects_nonsense_limits(registry):
    with pytest.raises(ValueError, match="max_series"):
        LookoutMetrics(registry, max_series=0)
    with pytest.raises(ValueError, match="idle_timeout"):
        LookoutMetrics(CollectorRegistry(), idle_timeout=0)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def populated(registry) -> LookoutMetrics:
    metrics = LookoutMetrics(registry, sinks=["alertmanager", "webhook"])
    stack = DetectorStack(grace_period=20)
    for t in range(60):
        metrics.observe('db "primary"\\1', stack.process(float(t), 10.0 + t % 5), now=0.0)
    metrics.observe("cold", DetectorStack().process(0.0, 1.0), now=0.0)
    metrics.latency.observe(0.0004)
    metrics.set_lag({("metrics", 0): 3})
    metrics.count_invalid("bad_value")
    return metrics


def test_endpoints_serve_metrics_health_and_readiness(registry):
    metrics = populated(registry)
    state = {"ready": False}
    with ExpositionServer("127.0.0.1:0", metrics.registry, ready=lambda: state["ready"]) as server:
        status, body = get(f"{server.url}/metrics")
        assert status == 200
        assert b'lookout_anomaly_score{series="cold"} 0.0' in body
        assert get(f"{server.url}/-/healthy")[0] == 200
        assert get(f"{server.url}/-/ready")[0] == 503
        state["ready"] = True
        assert get(f"{server.url}/-/ready")[0] == 200
        assert get(f"{server.url}/nope")[0] == 404


def test_promtool_accepts_the_exposition(registry):
    promtool = shutil.which("promtool")
    if promtool is None:
        service_unavailable("promtool not installed (apt-get install prometheus)")
    metrics = populated(registry)
    with ExpositionServer("127.0.0.1:0", metrics.registry) as server:
        exposition = get(f"{server.url}/metrics")[1]

    lint = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=30
    )
    assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()
    for name in SERIES_METRICS:
        assert f"# TYPE {name} gauge".encode() in exposition


def test_series_sampled_faster_than_a_minute_are_counted(registry):
    from stream.runtime.pipeline import Pipeline

    metrics, pipeline = LookoutMetrics(registry=registry), Pipeline()
    metrics.watch_pipeline(pipeline)
    assert registry.get_sample_value("lookout_series_sampled_fast") == 0.0
    for k in range(30):  # the step is known after n_lags (24) points
        pipeline.push(MetricPoint("fast", 15.0 * k, 1.0))
        pipeline.push(MetricPoint("slow", 300.0 * k, 1.0))
    assert pipeline.series_faster_than(60) == ["fast"]
    assert registry.get_sample_value("lookout_series_sampled_fast") == 1.0
