"""``lookout run`` (score a Kafka topic live) and ``lookout produce`` (publish points to one).

This module wires the layers together: settings (:mod:`stream.cli.settings`), Kafka
(:mod:`stream.runtime.kafka_io`), metrics (:mod:`stream.outputs.metrics`), alert sinks
(:mod:`stream.outputs.alert_sinks`) and the loop (:mod:`stream.runtime.runner`). Heavy imports
happen inside the
commands, so ``lookout --help`` and ``lookout replay`` never load the Kafka client.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from stream.cli.backfill import HISTORY_OPTIONS, open_history
from stream.cli.options import STACK_OPTIONS, pager_from_settings, stack_factory
from stream.cli.settings import (
    ALERT_OPTIONS,
    CONNECTION_OPTIONS,
    PRODUCE_OPTIONS,
    RUN_OPTIONS,
    ConfigError,
    Option,
    Settings,
    load_section,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)

__all__ = ["register", "STATE_OPTIONS", "GAUGE_LABEL_OPTIONS"]

log = logging.getLogger("lookout")

#: Where ``lookout run`` keeps detector state (see docs/operations.md).
STATE_OPTIONS = (
    Option(
        "state_store",
        "kafka",
        "where detector state is checkpointed and restored from: kafka (a compacted topic "
        "named <topic>.<group>.lookout-state, created with the input topic's partition count), "
        "kafka:TOPIC, sqlite:PATH (processes on one machine) or none (memory only: a restart "
        "or a rebalance starts series afresh)",
        metavar="STORE",
    ),
    Option(
        "group_instance_id",
        None,
        "static group membership: an id unique to this instance and kept across its restarts "
        "(e.g. the pod name); a restarted instance takes its partitions back at once instead "
        "of after --session-timeout and a rebalance, and a stopped one keeps them that long",
        metavar="ID",
    ),
    Option(
        "checkpoint_interval",
        10.0,
        "seconds between checkpoints (outputs flushed, state written, offsets committed); a "
        "crash re-processes at most this much; 0: after every batch",
        type=non_negative_float,
        metavar="SECONDS",
    ),
)
#: Which of a point's labels go onto its series' gauges (see stream/outputs/labels.py).
GAUGE_LABEL_OPTIONS = (
    Option(
        "gauge_labels",
        "*",
        "labels of a point copied onto its series' gauges, for PromQL joins: comma-separated "
        "names, or * for all (within the bounds below)",
        metavar="NAMES",
    ),
    Option(
        "gauge_labels_drop",
        "",
        "labels never copied onto the gauges, comma-separated (e.g. pod,container_id)",
        metavar="NAMES",
    ),
    Option(
        "max_gauge_labels",
        10,
        "most labels per series on the gauges, the first in name order (more are counted in "
        "lookout_series_labels_dropped_total); 0: none",
        type=non_negative_int,
        metavar="N",
    ),
    Option(
        "max_gauge_label_length",
        128,
        "a label whose value is longer is left off the gauges (counted)",
        type=positive_int,
        metavar="CHARS",
    ),
    Option(
        "max_gauge_label_values",
        1000,
        "most distinct values of one label over the exposed series; a series bringing one "
        "more gets its gauges without that label (counted)",
        type=positive_int,
        metavar="N",
    ),
)
#: What ``lookout run`` accepts of a point's time.
POINT_TIME_OPTIONS = (
    Option(
        "max_future_skew",
        3600.0,
        "seconds a point's timestamp may be ahead of this machine's clock; a later point is "
        "dead-lettered as future_timestamp (scored, it would make its series refuse every "
        "earlier point as out_of_order); 0: none ahead at all",
        type=non_negative_float,
        metavar="SECONDS",
    ),
)

# --- lookout run ---------------------------------------------------------------------------------


def _pager(settings: Settings):
    """The pager of the alert settings and the config file's ``[[rules]]`` (docs/alerting.md)."""
    return pager_from_settings(
        settings, load_section(settings, os.environ, "rules"), stack_factory(settings)
    )


def _validate_run(settings: Settings) -> None:
    _pager(settings)
    _http_auth(settings)
    _label_policy(settings)
    if settings.history_url:
        open_history(settings)  # the query and credentials are there and agree


def _describe_rules(settings: Settings) -> list[str]:
    return [f"rule {line}" for line in _pager(settings).policy.describe()]


def cmd_run(settings: Settings) -> int:
    factory = stack_factory(settings)  # main() validated the settings
    pager = _pager(settings)
    auth = _http_auth(settings)
    label_policy = _label_policy(settings)
    _configure_logging(settings.log_level)

    from detectors.bank import warm_up
    from stream.outputs.metrics import ExpositionServer, LookoutMetrics
    from stream.runtime.kafka_io import Consumer, KafkaIOError, Producer
    from stream.runtime.pipeline import Pipeline
    from stream.runtime.runner import Runner
    from stream.runtime.state_store import StateStoreError, open_state_store

    sinks = _alert_sinks_names(settings)
    metrics = LookoutMetrics(
        max_series=settings.max_exposed_series,
        idle_timeout=settings.series_idle_timeout,
        sinks=sinks,
        label_policy=label_policy,
        max_label_values=settings.max_gauge_label_values,
    )
    pipeline = Pipeline(
        factory,
        keep_duplicates=False,
        max_series=settings.max_series or None,
        idle_ttl=settings.series_ttl or None,
        reorder_window=settings.reorder_window,
        threads=settings.scoring_threads,
        pager=pager,
    )
    metrics.watch_pipeline(pipeline)
    # Load the compiled kernels (about a second) while the Kafka clients connect, rather than
    # at the first point: it shortens the recovery after a restart.
    warm = threading.Thread(target=warm_up, name="lookout-warm-up", daemon=True)
    warm.start()
    runner: Runner | None = None
    try:
        server = ExpositionServer(
            settings.metrics_address,
            metrics.registry,
            healthy=lambda: runner is None or runner.healthy(),
            ready=lambda: runner is not None and runner.ready(),
        ).start()
    except (OSError, ValueError) as exc:
        print(
            f"lookout run: error: metrics address {settings.metrics_address}: {exc}",
            file=sys.stderr,
        )
        return 2
    log.info("serving %s/metrics, /-/healthy and /-/ready", server.url)
    history = None
    if settings.history_url:  # before consuming: /-/ready answers 503 meanwhile
        try:
            history = _warm_start(settings, pipeline, metrics)
        except ConfigError as exc:
            server.close()
            print(f"lookout run: error: {exc}", file=sys.stderr)
            return 2

    consumer = producer = store = None
    try:
        security = dict(settings)
        store = open_state_store(
            settings.state_store,
            topic=settings.topic,
            group_id=settings.group_id,
            bootstrap_servers=settings.bootstrap_servers,
            security=security,
            connect_timeout=settings.connect_timeout,
        )
        consumer = Consumer(
            [settings.topic],
            settings.bootstrap_servers,
            settings.group_id,
            security=security,
            auto_offset_reset=settings.auto_offset_reset,
            max_poll_records=settings.batch_size,
            session_timeout=settings.session_timeout,
            connect_timeout=settings.connect_timeout,
            group_instance_id=settings.group_instance_id or None,
        )
        # Outputs wait up to two minutes for a broker that went away (the loop reports it
        # meanwhile) before the run stops without committing them.
        producer = Producer(
            settings.bootstrap_servers,
            security=security,
            send_timeout=120.0,
            connect_timeout=settings.connect_timeout,
        )
    except (KafkaIOError, StateStoreError) as exc:
        for client in (consumer, store):
            if client is not None:
                client.close()
        server.close()
        print(f"lookout run: error: {exc}", file=sys.stderr)
        return 2

    runner = Runner(
        consumer,
        producer,
        pipeline,
        metrics,
        sinks=_alert_sinks(settings, producer, metrics, auth),
        dead_letter_topic=settings.dead_letter_topic,
        scores_topic=settings.scores_topic,
        batch_size=settings.batch_size,
        poll_timeout=settings.poll_timeout,
        max_message_bytes=settings.max_message_bytes,
        max_batch_points=settings.max_batch_points,
        state_store=store,
        checkpoint_interval=settings.checkpoint_interval,
        flush_wait=1.0,
        history=history,
        max_future_skew=settings.max_future_skew,
        # Alertmanager lets an alert expire four re-send intervals after it was last sent: a
        # restored alert waits for its replay at most one of them.
        adopt_wait=settings.alert_resend_interval,
    )
    log.info(
        "consuming %s from %s as group %s, state in %s",
        settings.topic,
        settings.bootstrap_servers,
        settings.group_id,
        settings.state_store,
    )
    try:
        warm.join()
        with _stop_on_signals(runner.stop):
            summary = runner.run(settings.max_messages, settings.max_seconds)
    except (KafkaIOError, StateStoreError) as exc:
        root = exc
        while root.__cause__ is not None:  # e.g. a delivery failed in a rebalance callback
            root = root.__cause__
        cause = f" (caused by {root!r})" if root is not exc else ""
        log.error("stopping without committing since the last checkpoint: %s%s", exc, cause)
        return 1
    finally:
        server.close()
    print(summary.format())
    return 0


def _label_policy(settings: Settings):
    from stream.outputs.labels import LabelPolicy, parse_label_list

    return LabelPolicy(
        keep=parse_label_list(settings.gauge_labels),
        drop=parse_label_list(settings.gauge_labels_drop or "") or frozenset(),
        max_labels=settings.max_gauge_labels,
        max_value_length=settings.max_gauge_label_length,
    )


def _warm_start(settings: Settings, pipeline, metrics):
    """Score and learn each series' history before the first live point (see
    ``stream/runtime/warm_start.py``); the :class:`HistoryBoundary` for the runner, or None when
    Prometheus cannot be read (the run starts cold: better than not at all). A query that
    Prometheus refuses is a setting to fix: ``ConfigError``."""
    from stream.cli.backfill import read_history
    from stream.sources.prometheus_history import PrometheusError

    try:
        boundary, summary, last = read_history(settings, pipeline)
    except PrometheusError as exc:
        if exc.bad_query:
            raise ConfigError(f"--history-query: {exc}") from None
        log.error("warm start failed, starting cold: %s", exc)
        return None
    # The gauges show each series' last history point (and lookout_series_warming).
    metrics.observe_many(
        {series: scored.assessment for series, scored in last.items()},
        0,
        time.monotonic(),
        {series: scored.labels for series, scored in last.items()},
    )
    log.info("warm start: %s", summary.format())
    return boundary


def _alert_sinks_names(settings: Settings) -> list[str]:
    return [
        name
        for name, url in (
            ("alertmanager", settings.alertmanager_url),
            ("webhook", settings.webhook_url),
        )
        if url
    ]


def _http_auth(settings: Settings) -> dict:
    """Credentials of each HTTP sink (``ValueError`` when they contradict each other)."""
    from stream.outputs.alert_sinks import HttpAuth

    return {sink: HttpAuth.from_settings(settings, sink) for sink in ("alertmanager", "webhook")}


def _alert_sinks(settings: Settings, producer, metrics, auth: dict) -> list:
    from stream.outputs.alert_sinks import AlertmanagerSink, KafkaAlertSink, WebhookSink

    sinks: list = []
    if settings.alerts_topic:
        sinks.append(KafkaAlertSink(producer, settings.alerts_topic))
    if settings.alertmanager_url:
        failures = metrics.delivery_failures.labels(sink="alertmanager")
        sinks.append(
            AlertmanagerSink(
                settings.alertmanager_url,
                severity=settings.alert_severity,
                resend_interval=settings.alert_resend_interval,
                timeout=settings.http_timeout,
                on_failure=failures.inc,
                auth=auth["alertmanager"],
            )
        )
    if settings.webhook_url:
        failures = metrics.delivery_failures.labels(sink="webhook")
        sinks.append(
            WebhookSink(
                settings.webhook_url,
                timeout=settings.http_timeout,
                on_failure=failures.inc,
                auth=auth["webhook"],
            )
        )
    return sinks


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # kafka-python logs every reconnect attempt at INFO/ERROR; its warnings are enough.
    logging.getLogger("kafka").setLevel(max(logging.getLevelName(level), logging.WARNING))
    # ...and an ERROR for every topic it has not seen yet, which is how auto-creation starts.
    logging.getLogger("kafka.cluster").addFilter(
        lambda record: "not found in cluster metadata" not in record.getMessage()
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_KafkaLogThrottle())


class _KafkaLogThrottle(logging.Filter):
    """Lets a kafka-python message through once per ``interval`` seconds (per logger and
    message template): while a broker is away it logs every failed connection attempt, several
    a second, and the runner reports the outage itself.

    >>> throttle = _KafkaLogThrottle(interval=60)
    >>> record = lambda: logging.LogRecord("kafka.net", 40, "", 0, "lost: %s", ("x",), None)
    >>> throttle.filter(record()), throttle.filter(record()), throttle.suppressed
    (True, False, 1)
    """

    def __init__(self, interval: float = 30.0):
        super().__init__()
        self.interval = interval
        self.suppressed = 0
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kafka"):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        if now - self._last.get(key, -self.interval) < self.interval:
            self.suppressed += 1
            return False
        self._last[key] = now
        return True


class _stop_on_signals:
    """SIGTERM and SIGINT call ``stop`` (finish the batch, commit, exit); a second SIGINT
    interrupts at once. Previous handlers are restored on exit."""

    def __init__(self, stop: Callable[[], None]):
        self.stop = stop
        self.previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        log.info("%s: finishing the batch, then stopping", signal.Signals(signum).name)
        self.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self) -> _stop_on_signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


# --- lookout produce -----------------------------------------------------------------------------


def cmd_produce(settings: Settings) -> int:
    try:
        if bool(settings.paths) == bool(settings.scenario):
            raise ValueError("give either CSV paths or --scenario NAME")
        series, skipped = _load_series(settings)
    except (ValueError, KeyError) as exc:
        print(f"lookout produce: error: {exc}", file=sys.stderr)
        return 2
    _configure_logging("WARNING")

    from stream.runtime.kafka_io import KafkaIOError, Producer
    from stream.sources.messages import plan_messages

    plan = plan_messages(series, settings.points_per_message, columns=settings.columns)
    points = sum(message.n_points for message in plan)
    try:
        producer = Producer(
            settings.bootstrap_servers,
            security=dict(settings),
            connect_timeout=settings.connect_timeout,
        )
    except KafkaIOError as exc:
        print(f"lookout produce: error: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    sent = 0
    try:
        for message in _paced(plan, settings.speedup, started):
            producer.send(settings.topic, message.key, message.value)
            sent += 1
        producer.flush()
    except KeyboardInterrupt:
        producer.flush()
        print(f"interrupted after {sent} of {len(plan)} messages", file=sys.stderr)
        return 130
    except KafkaIOError as exc:
        print(f"lookout produce: error: {exc}", file=sys.stderr)
        return 1
    finally:
        producer.close()
    elapsed = time.monotonic() - started
    print(
        f"produced {points} points of {len(series)} series in {len(plan)} messages to "
        f"{settings.topic!r} in {elapsed:.1f} s"
        + (f"; skipped {skipped} invalid CSV rows" if skipped else "")
    )
    return 0


def _paced(plan, speedup: float | None, started: float) -> Iterator:
    """The messages of ``plan``, each no earlier than its event time / ``speedup`` allows."""
    if speedup is None or not plan:
        yield from plan
        return
    first = plan[0].at
    for message in plan:
        delay = started + (message.at - first) / speedup - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield message


def _load_series(settings: Settings) -> tuple[list, int]:
    """``[(series id, timestamps, values)]`` from CSVs (file order) or a scenario."""
    if settings.scenario:
        from sim.scenarios import generate

        series = []
        for labeled in generate(settings.scenario, seed=settings.scenario_seed):
            frame = labeled.frame
            seconds = frame["timestamp"].astype("datetime64[ns]").astype("int64") / 1e9
            series.append(
                (f"{settings.scenario}/{labeled.name}", seconds.tolist(), frame["value"].tolist())
            )
        return series, 0

    from stream.sources.csv_files import (
        ReadOptions,
        SourceError,
        discover_input_files,
    )
    from stream.sources.input_files import read_input_file

    columns: dict[str, tuple[list, list]] = {}
    skipped = 0
    # Series keep the names written in the files (what the live topic's keys would be).
    options = ReadOptions(join_series=True)
    try:
        for root in settings.paths:
            for path, relpath in discover_input_files(Path(root)):
                for parsed in read_input_file(path, relpath, options):
                    skipped += len(parsed.rejected)
                    for name, timestamp, value in zip(
                        parsed.series.tolist(),
                        parsed.timestamps.tolist(),
                        parsed.values.tolist(),
                        strict=True,
                    ):
                        timestamps, values = columns.setdefault(name, ([], []))
                        timestamps.append(timestamp)
                        values.append(value)
    except SourceError as exc:
        raise ValueError(str(exc)) from exc
    return [(name, ts, values) for name, (ts, values) in columns.items()], skipped


# --- registration --------------------------------------------------------------------------------


#: ``lookout produce``'s own options (besides the connection and the topic).
PRODUCE_INPUT_OPTIONS = (
    Option("paths", [], "CSV files or folders", positional=True, nargs="*", metavar="PATH"),
    Option(
        "scenario",
        None,
        "a synthetic scenario of sim.scenarios instead (ddos, sre, daily_job)",
        metavar="NAME",
    ),
    Option("scenario_seed", 0, "seed of the scenario", type=int, metavar="N", flag_name="seed"),
    Option(
        "speedup",
        None,
        "replay at real time X times faster (60: an hour of data per minute); none: as fast "
        "as possible",
        type=positive_float,
        metavar="X",
        exclusive="pace",
    ),
    Option("as_fast_as_possible", False, "no pacing (the default)", boolean=True, exclusive="pace"),
    Option(
        "points_per_message",
        1,
        "points per message: 1 sends single points, more sends JSON arrays",
        type=positive_int,
        metavar="N",
        flag_name="batch_size",
    ),
    Option(
        "columns",
        False,
        "send the --batch-size points of a message as a column message "
        '({"series", "timestamps": [...], "values": [...]}), the fastest for lookout run to decode',
        boolean=True,
    ),
)


def register(commands) -> None:
    from stream.cli import register_command

    register_command(
        commands,
        "run",
        cmd_run,
        validate=_validate_run,
        describe_more=_describe_rules,
        groups={
            "Kafka connection": CONNECTION_OPTIONS,
            "live scoring": RUN_OPTIONS,
            "alerts (the policy per series: [[rules]] in --config, see docs/alerting.md)": (
                ALERT_OPTIONS
            ),
            "state, checkpoints and recovery": STATE_OPTIONS,
            "point times": POINT_TIME_OPTIONS,
            "labels on the per-series gauges": GAUGE_LABEL_OPTIONS,
            "warm start from Prometheus history (also lookout backfill; docs/prometheus.md)": (
                HISTORY_OPTIONS
            ),
            "detector stack": STACK_OPTIONS,
        },
        help="score a Kafka topic live: Prometheus gauges, alerts to Kafka and Alertmanager",
        description="Consume metric points from a Kafka topic in a consumer group, score every "
        "point of every series, expose Prometheus gauges on --metrics-address, send alert "
        "events to the alerts topic, Alertmanager and a webhook, and invalid messages to the "
        "dead-letter topic with the reason; offsets are committed after each batch's outputs "
        "were delivered (at-least-once). Messages: key = series id, value = JSON point "
        '{"series", "timestamp" (RFC 3339 or epoch s/ms/us/ns), "value", "labels"?} or an '
        "array of points. Every option can also be set by its LOOKOUT_* variable or in "
        "--config FILE. SIGTERM/SIGINT finish the batch, commit and exit.",
    )
    register_command(
        commands,
        "produce",
        cmd_produce,
        groups={
            None: PRODUCE_INPUT_OPTIONS,
            "Kafka connection": CONNECTION_OPTIONS,
            "output": PRODUCE_OPTIONS,
        },
        help="publish CSVs or a synthetic scenario to a Kafka topic",
        description="Publish metric points to a Kafka topic in Lookout's message format (key = "
        "series id), from CSV files or folders (NAB 'timestamp,value' or long "
        "'series,timestamp,value') or a synthetic scenario: as fast as possible (default) or "
        "at real time divided by --speedup, one point per message or --batch-size points.",
    )
