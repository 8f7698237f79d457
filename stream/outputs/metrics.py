"""Prometheus exposition of the live runtime: per-series gauges, counters, and the HTTP endpoint.

The only module that imports ``prometheus_client``. Every metric lives in the registry given to
:class:`LookoutMetrics` (tests pass a fresh ``CollectorRegistry()``), never in a global one.

Per series (label ``series`` plus the point's own labels as
:class:`~stream.outputs.labels.LabelPolicy`
selects them, at most ``max_series`` series, removed after ``idle_timeout`` seconds without a
point): ``lookout_value``, ``lookout_expected``, ``lookout_expected_lower``,
``lookout_expected_upper``, ``lookout_anomaly_score``, ``lookout_zscore``, ``lookout_anomalous``,
and, read from the pipeline at scrape time, ``lookout_series_warming`` (1 while the series has
learned too few points to page). ``lookout_series_labels_dropped_total{reason}`` counts labels
left off a series' gauges by a bound.
Process-wide: ``lookout_points_total``, ``lookout_messages_total``, ``lookout_alerts_total``,
``lookout_invalid_messages_total{reason}``, ``lookout_processing_latency_seconds`` (histogram,
per message), ``lookout_consumer_lag_messages{topic,partition}``,
``lookout_series_overflow_points_total`` (points whose series was not exposed because of the
``max_series`` guard; they are still scored and can still alert), ``lookout_series_exposed``,
``lookout_series_tracked``, ``lookout_alert_delivery_failures_total{sink}``,
``lookout_commit_failures_total`` and ``lookout_build_info``. Read from the pipeline at scrape
time (:meth:`LookoutMetrics.watch_pipeline`): ``lookout_series_evicted_total`` (series forgotten
after ``--series-ttl``), ``lookout_series_dropped_total`` (points of new series refused at
``--max-series``), ``lookout_reorder_held_points`` (points waiting in reorder windows),
``lookout_series_sampled_fast`` (series sampled faster than once a minute, which page more),
``lookout_series_tracked_warming`` (series that cannot page yet, exposed or not),
``lookout_effective_threshold`` (the anomaly score an incident must reach to page: the alert
budget's, else the detector's) and ``lookout_alerts_held_back_total`` (incidents that ended
without paging, by ``reason``: policy, mute window or budget; see :mod:`stream.outputs.paging`).

:class:`ExpositionServer` serves ``/metrics`` beside ``/-/healthy`` and ``/-/ready``.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from detectors import Assessment
from stream.outputs.labels import DROP_REASONS, LabelPolicy, LabelValues
from stream.outputs.policy import HELD_BACK_REASONS
from stream.sources.messages import REASONS

__all__ = [
    "SERIES_GAUGES",
    "LookoutMetrics",
    "ExpositionServer",
    "parse_address",
    "lookout_version",
]

#: Per-series gauges: metric name, help, and how to read it from an Assessment.
SERIES_GAUGES: tuple[tuple[str, str, Callable[[Assessment], float]], ...] = (
    ("lookout_value", "Last value seen of the series.", lambda a: a.value),
    (
        "lookout_expected",
        "Value the forecaster expected for the last point (NaN during warm-up).",
        lambda a: a.expected,
    ),
    (
        "lookout_expected_lower",
        "Lower bound of the expected band for the last point.",
        lambda a: a.lower,
    ),
    (
        "lookout_expected_upper",
        "Upper bound of the expected band for the last point.",
        lambda a: a.upper,
    ),
    (
        "lookout_anomaly_score",
        "How abnormal the last point is, in [0, 1]: its calibrated combined score, continuous "
        "(0.5: one in 1,000 per paging interval). Alerts open at its onsets.",
        lambda a: a.anomaly_score,
    ),
    ("lookout_zscore", "Signed rolling z-score of the last point.", lambda a: a.zscore),
    (
        "lookout_anomalous",
        "1 while an alert is firing for the series, else 0.",
        lambda a: 1.0 if a.alert else 0.0,
    ),
)

#: The per-series gauge read from the pipeline at scrape time, not from an Assessment.
SERIES_WARMING = (
    "lookout_series_warming",
    "1 while the series has learned fewer points than its detectors need before they can page "
    "(it cannot alert yet), 0 once ready.",
)

# Scoring a message takes from tens of microseconds to milliseconds; the top buckets catch stalls.
LATENCY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)


class PipelineCounts(Protocol):
    """What :meth:`LookoutMetrics.watch_pipeline` reads
    (:class:`stream.runtime.pipeline.Pipeline`)."""

    evicted_total: int
    dropped_new_series_total: int

    @property
    def series_count(self) -> int: ...

    @property
    def held_count(self) -> int: ...

    @property
    def fast_series_count(self) -> int: ...

    def warming(self, series: Sequence[str]) -> list[bool | None]: ...

    @property
    def warming_count(self) -> int: ...

    @property
    def pager(self) -> PagerCounts: ...


class PagerCounts(Protocol):
    """What the metrics read of :class:`stream.outputs.paging.Pager`."""

    held_back: Mapping[str, int]

    @property
    def threshold(self) -> float: ...


class _SeriesGauges:
    """The per-series gauges: one sample per exposed series, labelled ``series`` and the
    series' own labels, collected at scrape time.

    A collector rather than ``Gauge`` children, because the label names differ from series to
    series (one has ``job`` and ``instance``, another ``team``), which the exposition allows
    and a ``Gauge``'s fixed label names do not.
    """

    def __init__(self) -> None:
        # series -> its exposition labels, the labels they came from, gauge values, last seen
        self.series: dict[str, _Exposed] = {}
        self.pipeline: PipelineCounts | None = None
        self.lock = threading.Lock()

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily(name, help_text) for name, help_text, _ in SERIES_GAUGES] + [
            GaugeMetricFamily(*SERIES_WARMING)
        ]

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            exposed = [(name, entry.labels, entry.values) for name, entry in self.series.items()]
        for column, (name, help_text, _) in enumerate(SERIES_GAUGES):
            family = GaugeMetricFamily(name, help_text)
            for _, labels, values in exposed:
                family.add_sample(name, labels, values[column])
            yield family
        family = GaugeMetricFamily(*SERIES_WARMING)
        pipeline = self.pipeline
        if pipeline is not None and exposed:
            warming = pipeline.warming([name for name, _, _ in exposed])
            for (_, labels, _), flag in zip(exposed, warming, strict=True):
                if flag is not None:  # None: no detector state (evicted, or not tracked yet)
                    family.add_sample(SERIES_WARMING[0], labels, 1.0 if flag else 0.0)
        yield family


@dataclasses.dataclass(slots=True)
class _Exposed:
    labels: dict[str, str]  # what the exposition shows: series and the selected labels
    source: Mapping[str, str] | None  # the point's labels they were selected from
    values: list[float]  # one per SERIES_GAUGES
    seen: float  # monotonic time of the series' last point


class _PipelineCollector:
    """The pipeline's own counters, read at scrape time (0 until a pipeline is watched)."""

    def __init__(self) -> None:
        self.pipeline: PipelineCounts | None = None

    def describe(self) -> list[Metric]:
        return list(self._families(None))

    def collect(self) -> Iterator[Metric]:
        return self._families(self.pipeline)

    @staticmethod
    def _families(pipeline: PipelineCounts | None) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "lookout_series_evicted",
            "Series whose detector state was forgotten after --series-ttl without a point.",
            value=float(pipeline.evicted_total) if pipeline is not None else 0.0,
        )
        yield CounterMetricFamily(
            "lookout_series_dropped",
            "Points of new series refused (not scored) because --max-series series are tracked.",
            value=float(pipeline.dropped_new_series_total) if pipeline is not None else 0.0,
        )
        yield GaugeMetricFamily(
            "lookout_reorder_held_points",
            "Points held back by --reorder-window, waiting for earlier points of their series.",
            value=float(pipeline.held_count) if pipeline is not None else 0.0,
        )
        yield GaugeMetricFamily(
            "lookout_series_sampled_fast",
            "Series sampled faster than once a minute: the detectors count points and were tuned "
            "on 1- to 5-minute data, so they page more often on them; downsample them first.",
            value=float(pipeline.fast_series_count) if pipeline is not None else 0.0,
        )
        yield GaugeMetricFamily(
            "lookout_series_tracked_warming",
            "Series with detector state that cannot page yet (fewer points learned than their "
            "warm-up), exposed or not.",
            value=float(pipeline.warming_count) if pipeline is not None else 0.0,
        )
        yield GaugeMetricFamily(
            "lookout_effective_threshold",
            "Anomaly score an incident must reach to page: the alert budget's threshold, "
            "else the detector's (rules may ask more of their series).",
            value=pipeline.pager.threshold if pipeline is not None else float("nan"),
        )
        held_back = CounterMetricFamily(
            "lookout_alerts_held_back",
            "Incidents that ended without paging, by reason (muted, direction, min_deviation, "
            "min_relative_deviation, threshold, budget).",
            labels=["reason"],
        )
        for reason in HELD_BACK_REASONS:
            count = pipeline.pager.held_back.get(reason, 0) if pipeline is not None else 0
            held_back.add_metric([reason], float(count))
        yield held_back


def lookout_version() -> str:
    try:
        return importlib.metadata.version("lookout")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class LookoutMetrics:
    """The live runtime's metrics, registered in ``registry``.

    Parameters
    ----------
    registry
        Where every metric is registered; a new one (never the global default) when None.
    max_series
        Most series exposed at once; points of further series are counted in
        ``lookout_series_overflow_points_total`` instead, until an idle series makes room.
    idle_timeout
        Seconds without a point after which :meth:`remove_idle` drops a series' gauges.
    sinks
        Alert sinks whose delivery failures are counted (their counters start at 0).
    label_policy
        Which of a point's labels go onto its series' gauges (default: all, within
        :class:`~stream.outputs.labels.LabelPolicy`'s bounds).
    max_label_values
        Most distinct values of one label name over the exposed series; a series bringing
        one more value gets its gauges without that label (counted).

    Examples
    --------
    >>> from detectors import DetectorStack
    >>> registry = CollectorRegistry()
    >>> metrics = LookoutMetrics(registry, max_series=1)
    >>> stack = DetectorStack(grace_period=5)
    >>> metrics.observe("cpu", stack.process(0.0, 42.0), now=0.0, labels={"job": "node"})
    True
    >>> metrics.observe("mem", stack.process(1.0, 43.0), now=0.0)  # over max_series
    False
    >>> registry.get_sample_value("lookout_value", {"series": "cpu", "job": "node"})
    42.0
    >>> registry.get_sample_value("lookout_series_overflow_points_total")
    1.0
    >>> metrics.remove_idle(now=1000.0)
    ['cpu']
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        max_series: int = 1000,
        idle_timeout: float = 900.0,
        sinks: Iterable[str] = (),
        label_policy: LabelPolicy | None = None,
        max_label_values: int = 1000,
    ):
        if max_series < 1:
            raise ValueError(f"max_series must be at least 1, got {max_series}")
        if idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be positive, got {idle_timeout}")
        registry = registry if registry is not None else CollectorRegistry()
        self.registry = registry
        self.max_series = max_series
        self.idle_timeout = idle_timeout
        self.label_policy = label_policy if label_policy is not None else LabelPolicy()
        self._label_values = LabelValues(max_label_values)
        self._reads = [read for _, _, read in SERIES_GAUGES]
        self._series_gauges = _SeriesGauges()
        registry.register(self._series_gauges)
        self._series = self._series_gauges.series
        self._lock = self._series_gauges.lock
        self.labels_dropped = Counter(
            "lookout_series_labels_dropped",
            "Labels of points left off their series' gauges by a bound (--max-gauge-labels, "
            "--max-gauge-label-length, --max-gauge-label-values, a reserved or invalid name), "
            "counted when the series is exposed or its labels change.",
            ["reason"],
            registry=registry,
        )
        for reason in DROP_REASONS:
            self.labels_dropped.labels(reason=reason)

        self.points = Counter("lookout_points", "Points scored.", registry=registry)
        self.messages = Counter(
            "lookout_messages", "Kafka messages consumed, valid or not.", registry=registry
        )
        self.alerts = Counter("lookout_alerts", "Alerts opened (firing events).", registry=registry)
        self.invalid = Counter(
            "lookout_invalid_messages",
            "Messages, or points of batched messages, sent to the dead-letter topic.",
            ["reason"],
            registry=registry,
        )
        for reason in REASONS:
            self.invalid.labels(reason=reason)
        self.latency = Histogram(
            "lookout_processing_latency_seconds",
            "Time to decode and score one Kafka message (its poll batch's time over its messages).",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.lag = Gauge(
            "lookout_consumer_lag_messages",
            "Messages in the partition not consumed yet (high watermark minus position).",
            ["topic", "partition"],
            registry=registry,
        )
        self._lag_partitions: set[tuple[str, str]] = set()
        self.overflow = Counter(
            "lookout_series_overflow_points",
            "Points scored but not exposed per series because max_series series were exposed.",
            registry=registry,
        )
        self.exposed = Gauge(
            "lookout_series_exposed", "Series with per-series gauges.", registry=registry
        )
        self.tracked = Gauge(
            "lookout_series_tracked", "Series with detector state in memory.", registry=registry
        )
        self._pipeline_collector = _PipelineCollector()
        registry.register(self._pipeline_collector)
        self.delivery_failures = Counter(
            "lookout_alert_delivery_failures",
            "Failed attempts to deliver alerts to a sink (retried later).",
            ["sink"],
            registry=registry,
        )
        for sink in sinks:
            self.delivery_failures.labels(sink=sink)
        self.commit_failures = Counter(
            "lookout_commit_failures",
            "Offset commits that failed; the batch may be consumed again.",
            registry=registry,
        )
        build = Gauge(
            "lookout_build_info",
            "Always 1; the labels tell the version of lookout and Python.",
            ["version", "python_version"],
            registry=registry,
        )
        build.labels(version=lookout_version(), python_version=platform.python_version()).set(1)

    @property
    def series_exposed(self) -> int:
        return len(self._series)

    def observe(
        self,
        series: str,
        assessment: Assessment,
        now: float,
        labels: Mapping[str, str] | None = None,
    ) -> bool:
        """Record one scored point (with its ``labels``) at monotonic time ``now``; False if
        its series is not exposed because ``max_series`` series already are."""
        self.points.inc()
        return self._expose(series, assessment, now, labels)

    def _expose(
        self, series: str, assessment: Assessment, now: float, labels: Mapping[str, str] | None
    ) -> bool:
        values = [read(assessment) for read in self._reads]
        entry = self._series.get(series)
        if entry is None:
            with self._lock:
                if len(self._series) >= self.max_series:
                    self.overflow.inc()
                    return False
                exposed = self._exposition_labels(series, labels)
                self._series[series] = _Exposed(exposed, labels, values, now)
                self.exposed.set(len(self._series))
            return True
        if labels is not entry.source and (labels or {}) != (entry.source or {}):
            with self._lock:  # the series' labels changed: its samples change identity
                self._label_values.release(_own_labels(entry.labels))
                entry.labels = self._exposition_labels(series, labels)
                entry.source = labels
        entry.values = values
        entry.seen = now
        return True

    def _exposition_labels(self, series: str, labels: Mapping[str, str] | None) -> dict[str, str]:
        """``series`` and the labels of ``labels`` the policy and the value bound let through."""
        if not labels:
            return {"series": series}
        selected, dropped = self.label_policy.select(labels)
        admitted, over = self._label_values.admit(selected)
        for reason in dropped + over:
            self.labels_dropped.labels(reason=reason).inc()
        return {"series": series, **admitted}

    def observe_many(
        self,
        latest: Mapping[str, Assessment],
        n_points: int,
        now: float,
        labels: Mapping[str, Mapping[str, str] | None] | None = None,
    ) -> None:
        """Record ``n_points`` scored points at once, given each series' latest assessment
        and the labels of that point (what a scrape would have seen after :meth:`observe` of
        every point)."""
        self.points.inc(n_points)
        labels = labels or {}
        for series, assessment in latest.items():
            self._expose(series, assessment, now, labels.get(series))

    def remove_idle(self, now: float) -> list[str]:
        """Drop the gauges of series without a point for ``idle_timeout`` seconds."""
        cutoff = now - self.idle_timeout
        with self._lock:
            idle = [series for series, entry in self._series.items() if entry.seen < cutoff]
            for series in idle:
                self._label_values.release(_own_labels(self._series.pop(series).labels))
            self.exposed.set(len(self._series))
        return idle

    def watch_pipeline(self, pipeline: PipelineCounts) -> None:
        """Expose ``pipeline``'s series count, evictions, refusals and held points, read at
        scrape time.

        Examples
        --------
        >>> from stream.runtime.pipeline import Pipeline
        >>> from stream.point import InvalidPoint, MetricPoint
        >>> metrics, pipeline = LookoutMetrics(), Pipeline(max_series=1)
        >>> metrics.watch_pipeline(pipeline)
        >>> _ = pipeline.push(MetricPoint("cpu", 0.0, 1.0))
        >>> try:
        ...     pipeline.push(MetricPoint("mem", 0.0, 1.0))
        ... except InvalidPoint:
        ...     pass
        >>> sample = metrics.registry.get_sample_value
        >>> sample("lookout_series_tracked"), sample("lookout_series_dropped_total")
        (1.0, 1.0)
        """
        self._pipeline_collector.pipeline = pipeline
        self._series_gauges.pipeline = pipeline
        self.tracked.set_function(lambda: pipeline.series_count)

    def count_invalid(self, reason: str) -> None:
        self.invalid.labels(reason=reason if reason in REASONS else "other").inc()

    def set_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Replace the lag gauges by ``{(topic, partition): lag}`` (revoked partitions vanish)."""
        current = {(topic, str(partition)): lag for (topic, partition), lag in lags.items()}
        for key in self._lag_partitions - current.keys():
            self.lag.remove(*key)
        for (topic, partition), lag in current.items():
            self.lag.labels(topic=topic, partition=partition).set(lag)
        self._lag_partitions = set(current)


def _own_labels(exposed: Mapping[str, str]) -> list[tuple[str, str]]:
    """The point's labels among a series' exposition labels (all but ``series``)."""
    return [(name, value) for name, value in exposed.items() if name != "series"]


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` (IPv6 as ``[::1]:port``) into host and port.

    Examples
    --------
    >>> parse_address("127.0.0.1:9108"), parse_address("[::1]:0")
    (('127.0.0.1', 9108), ('::1', 0))
    >>> parse_address("9108")
    Traceback (most recent call last):
    ...
    ValueError: address '9108' is not HOST:PORT
    """
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"address {address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


class ExpositionServer:
    """Serves ``/metrics`` from ``registry``, and ``/-/healthy`` and ``/-/ready`` (200 or 503)
    from the two callables, on a daemon thread.

    Examples
    --------
    >>> import urllib.request
    >>> registry = CollectorRegistry()
    >>> server = ExpositionServer("127.0.0.1:0", registry, healthy=lambda: True,
    ...                           ready=lambda: False).start()
    >>> urllib.request.urlopen(f"http://127.0.0.1:{server.port}/-/healthy").status
    200
    >>> try:
    ...     urllib.request.urlopen(f"http://127.0.0.1:{server.port}/-/ready")
    ... except urllib.error.HTTPError as error:
    ...     print(error.code)
    503
    >>> server.close()
    """

    def __init__(
        self,
        address: str,
        registry: CollectorRegistry,
        healthy: Callable[[], bool] = lambda: True,
        ready: Callable[[], bool] = lambda: True,
    ):
        self.host, self._requested_port = parse_address(address)
        self.registry = registry
        self.healthy = healthy
        self.ready = ready
        self._server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server.server_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ExpositionServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                    self._reply(200, encoder(owner.registry), content_type)
                elif path == "/-/healthy":
                    self._probe(owner.healthy, "Healthy")
                elif path == "/-/ready":
                    self._probe(owner.ready, "Ready")
                elif path == "/":
                    self._reply(200, b"lookout: /metrics /-/healthy /-/ready\n")
                else:
                    self._reply(404, b"Not found\n")

            def _probe(self, check: Callable[[], bool], word: str) -> None:
                ok = check()
                self._reply(
                    200 if ok else 503, f"{word if ok else 'Not ' + word.lower()}\n".encode()
                )

            def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # a line per scrape on stderr would drown the logs

        server_class = type("Server", (ThreadingHTTPServer,), {"daemon_threads": True})
        if ":" in self.host:
            server_class.address_family = socket.AF_INET6
        self._server = server_class((self.host, self._requested_port), Handler)
        threading.Thread(
            target=self._server.serve_forever, name="lookout-metrics", daemon=True
        ).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ExpositionServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
