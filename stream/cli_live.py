"""``lookout run`` (score a Kafka topic live) and ``lookout produce`` (publish points to one).

This module wires the layers together: settings (:mod:`stream.config`), Kafka
(:mod:`stream.kafka_io`), metrics (:mod:`stream.metrics`), alert sinks
(:mod:`stream.alert_sinks`) and the loop (:mod:`stream.runner`). Heavy imports happen inside the
commands, so ``lookout --help`` and ``lookout replay`` never load the Kafka client.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from stream.cli_options import add_stack_arguments, stack_factory_from_args
from stream.config import (
    CONNECTION_OPTIONS,
    PRODUCE_OPTIONS,
    RUN_OPTIONS,
    ConfigError,
    Option,
    add_options,
    defer_defaults,
    describe,
    non_negative_float,
    resolve,
)

__all__ = ["register", "STACK_OPTION_NAMES", "STATE_OPTIONS"]

log = logging.getLogger("lookout")


def _stack_option_names() -> tuple[str, ...]:
    probe = argparse.ArgumentParser(add_help=False)
    add_stack_arguments(probe)
    return tuple(vars(probe.parse_args([])))


#: The detector stack's options, layered like the others (flag > env > file > default).
STACK_OPTION_NAMES = _stack_option_names()

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
#: What ``lookout run`` accepts of a point's time.
INPUT_OPTIONS = (
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
RUN_LAYERED = CONNECTION_OPTIONS + RUN_OPTIONS + STATE_OPTIONS + INPUT_OPTIONS
PRODUCE_LAYERED = CONNECTION_OPTIONS + PRODUCE_OPTIONS


def _settings(
    args: argparse.Namespace, options, deferred_names, known_elsewhere
) -> argparse.Namespace:
    settings, sources = resolve(args, os.environ, options, deferred_names, known_elsewhere)
    if args.print_config:
        print(describe(settings, sources, options))
    return settings


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML (or .json) file of settings, keys named like the flags "
        "(env LOOKOUT_CONFIG); precedence: flag > env > file > default",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective settings and where each came from (secrets masked), then exit",
    )
    add_options(parser.add_argument_group("Kafka connection"), CONNECTION_OPTIONS)


# --- lookout run ---------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    try:
        settings = _settings(
            args,
            RUN_LAYERED,
            STACK_OPTION_NAMES,
            known_elsewhere=(),
        )
        factory = stack_factory_from_args(settings)
        factory()  # validate the detector options before connecting to anything
        auth = _http_auth(settings)
    except (ConfigError, ValueError) as exc:
        print(f"lookout run: error: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        return 0
    _configure_logging(settings.log_level)

    from detectors.bank import warm_up
    from stream.kafka_io import Consumer, KafkaIOError, Producer
    from stream.metrics import ExpositionServer, LookoutMetrics
    from stream.pipeline import Pipeline
    from stream.runner import Runner
    from stream.state_store import StateStoreError, open_state_store

    sinks = _alert_sinks_names(settings)
    metrics = LookoutMetrics(
        max_series=settings.max_exposed_series,
        idle_timeout=settings.series_idle_timeout,
        sinks=sinks,
    )
    pipeline = Pipeline(
        factory,
        keep_duplicates=False,
        max_series=settings.max_series or None,
        idle_ttl=settings.series_ttl or None,
        reorder_window=settings.reorder_window,
        threads=settings.scoring_threads,
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

    consumer = producer = store = None
    try:
        security = vars(settings)
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


def _alert_sinks_names(settings: argparse.Namespace) -> list[str]:
    return [
        name
        for name, url in (
            ("alertmanager", settings.alertmanager_url),
            ("webhook", settings.webhook_url),
        )
        if url
    ]


def _http_auth(settings: argparse.Namespace) -> dict:
    """Credentials of each HTTP sink (``ValueError`` when they contradict each other)."""
    from stream.alert_sinks import HttpAuth

    return {sink: HttpAuth.from_settings(settings, sink) for sink in ("alertmanager", "webhook")}


def _alert_sinks(settings: argparse.Namespace, producer, metrics, auth: dict) -> list:
    from stream.alert_sinks import AlertmanagerSink, KafkaAlertSink, WebhookSink

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


def cmd_produce(args: argparse.Namespace) -> int:
    try:
        settings = _settings(
            args,
            PRODUCE_LAYERED,
            (),
            known_elsewhere=[option.name for option in RUN_OPTIONS + STATE_OPTIONS + INPUT_OPTIONS]
            + list(STACK_OPTION_NAMES),
        )
        if args.print_config:
            return 0
        if bool(args.paths) == bool(args.scenario):
            raise ValueError("give either CSV paths or --scenario NAME")
        if args.batch_size < 1:
            raise ValueError("--batch-size must be at least 1")
        if args.speedup is not None and not args.speedup > 0:
            raise ValueError("--speedup must be positive")
        series, skipped = _load_series(args)
    except (ConfigError, ValueError, KeyError) as exc:
        print(f"lookout produce: error: {exc}", file=sys.stderr)
        return 2
    _configure_logging("WARNING")

    from stream.kafka_io import KafkaIOError, Producer
    from stream.messages import plan_messages

    plan = plan_messages(series, args.batch_size, columns=args.columns)
    points = sum(message.n_points for message in plan)
    try:
        producer = Producer(
            settings.bootstrap_servers,
            security=vars(settings),
            connect_timeout=settings.connect_timeout,
        )
    except KafkaIOError as exc:
        print(f"lookout produce: error: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    sent = 0
    try:
        for message in _paced(plan, args.speedup, started):
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


def _load_series(args: argparse.Namespace) -> tuple[list, int]:
    """``[(series id, timestamps, values)]`` from CSVs (file order) or a scenario."""
    if args.scenario:
        from sim.scenarios import generate

        series = []
        for labeled in generate(args.scenario, seed=args.seed):
            frame = labeled.frame
            seconds = frame["timestamp"].astype("datetime64[ns]").astype("int64") / 1e9
            series.append(
                (f"{args.scenario}/{labeled.name}", seconds.tolist(), frame["value"].tolist())
            )
        return series, 0

    from stream.csv_source import discover_csv_files, read_csv_file

    columns: dict[str, tuple[list, list]] = {}
    skipped = 0
    for root in args.paths:
        for path, relpath in discover_csv_files(Path(root)):
            parsed = read_csv_file(path, relpath)
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
    return [(name, ts, values) for name, (ts, values) in columns.items()], skipped


# --- registration --------------------------------------------------------------------------------


def register(commands) -> None:
    run = commands.add_parser(
        "run",
        help="score a Kafka topic live: Prometheus gauges, alerts to Kafka and Alertmanager",
        description="Consume metric points from a Kafka topic in a consumer group, score every "
        "point of every series, expose Prometheus gauges on --metrics-address, send alert "
        "events to the alerts topic, Alertmanager and a webhook, and invalid messages to the "
        "dead-letter topic with the reason; offsets are committed after each batch's outputs "
        "were delivered (at-least-once). Messages: key = series id, value = JSON point "
        '{"series", "timestamp" (RFC 3339 or epoch seconds), "value", "labels"?} or an array '
        "of points. Every option can also be set by its LOOKOUT_* variable or in --config FILE. "
        "SIGTERM/SIGINT finish the batch, commit and exit.",
    )
    _add_common(run)
    add_options(run.add_argument_group("live scoring"), RUN_OPTIONS)
    add_options(run.add_argument_group("state, checkpoints and recovery"), STATE_OPTIONS)
    add_options(run.add_argument_group("input"), INPUT_OPTIONS)
    add_stack_arguments(run)
    defer_defaults(run, STACK_OPTION_NAMES)
    run.set_defaults(handler=cmd_run)

    produce = commands.add_parser(
        "produce",
        help="publish CSVs or a synthetic scenario to a Kafka topic",
        description="Publish metric points to a Kafka topic in Lookout's message format (key = "
        "series id), from CSV files or folders (NAB 'timestamp,value' or long "
        "'series,timestamp,value') or a synthetic scenario: as fast as possible (default) or "
        "at real time divided by --speedup, one point per message or --batch-size points.",
    )
    produce.add_argument("paths", nargs="*", metavar="PATH", help="CSV files or folders")
    produce.add_argument(
        "--scenario", help="a synthetic scenario of sim.scenarios instead (ddos, sre, daily_job)"
    )
    produce.add_argument("--seed", type=int, default=0, help="seed of the scenario (default: 0)")
    pace = produce.add_mutually_exclusive_group()
    pace.add_argument(
        "--speedup",
        type=float,
        metavar="X",
        help="replay at real time X times faster (60: an hour of data per minute)",
    )
    pace.add_argument(
        "--as-fast-as-possible",
        action="store_true",
        help="no pacing (the default)",
    )
    produce.add_argument(
        "--batch-size",
        type=int,
        default=1,
        metavar="N",
        help="points per message: 1 sends single points, more sends JSON arrays (default: 1)",
    )
    produce.add_argument(
        "--columns",
        action="store_true",
        help="send the --batch-size points of a message as a column message "
        '({"series", "timestamps": [...], "values": [...]}), the fastest for lookout run to decode',
    )
    _add_common(produce)
    add_options(produce.add_argument_group("output"), PRODUCE_OPTIONS)
    produce.set_defaults(handler=cmd_produce)
