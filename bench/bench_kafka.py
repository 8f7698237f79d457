"""Lookout's live path through a real Kafka broker: throughput and produce-to-alert latency.

Throughput: the same synthetic points are published three times: one point per message,
``--batch-size`` points per message (an array of point objects), and ``--column-size`` points
per column message (one series' timestamps and values as two arrays, see
:mod:`stream.sources.messages`). For each topic, in the same run:

- **raw consume**: kafka-python reads every message (no decoding), the ceiling of any consumer;
- **consume + decode**: the same, plus :func:`stream.sources.messages.decode_message`;
- **lookout**: :class:`stream.runtime.runner.Runner` as ``lookout run`` wires it by default
  (consumer group, decode, score on two threads, gauges, alert events and dead letters to Kafka,
  a checkpoint every ``--checkpoint-interval`` seconds, lookout run's default unless given: 0
  commits after every poll), timed from its first batch to its last commit (the group join is
  reported apart);

beside **scoring only** (the pipeline on the same points in memory, no Kafka, on one thread and
on two).

Latency: ``lookout run`` runs as a subprocess while this script publishes points at each rate of
``--rates`` points/s (series with one spike each, after a warm-up); a consumer here reads the
scores and alerts topics as they are written. Latency is the time from handing a point to the
producer until lookout sent its score (every point) or the alert it opened (the Kafka
CreateTime of its message), and until the consumer here received that message.

Run: ``.venv/bin/python bench/bench_kafka.py [--bootstrap-servers HOST:PORT]`` (default
``$KAFKA_BOOTSTRAP_SERVERS``, else a broker started for the run from the cached jars, see
``scripts/services.py``). Prints markdown tables to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detectors import DetectorStack  # noqa: E402
from scripts.lookout_services import KafkaBroker, free_port  # noqa: E402
from stream.outputs.metrics import LookoutMetrics  # noqa: E402
from stream.runtime.pipeline import Pipeline  # noqa: E402
from stream.sources.messages import decode_message, plan_messages  # noqa: E402

GRACE_PERIOD = 100
#: Issue 13's target: points/s end to end on batched messages, in one process.
TARGET = 250_000
#: The kernel's rate alone on one thread on a quiet machine when the target was set
#: (``bench_speed.py``): the target asks end to end for TARGET / KERNEL_RATE of it.
KERNEL_RATE = 365_000


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def synthetic_series(n_series: int, n_points: int, spike_at: int, seed: int = 0, prefix="bench"):
    """``[(name, timestamps, values)]``: noisy waves, 60 s apart, each with one spike of +150
    at index ``spike_at`` (which the default stack alerts on once past its grace period)."""
    rng = np.random.default_rng(seed)
    series = []
    for i in range(n_series):
        t = np.arange(n_points)
        values = 100 + 20 * np.sin(2 * np.pi * t / 288 + i) + rng.normal(0, 2, n_points)
        if 0 <= spike_at < n_points:
            values[spike_at] += 150
        timestamps = 1_700_000_000 + 60.0 * t
        series.append((f"{prefix}/series-{i:03d}", timestamps.tolist(), values.round(3).tolist()))
    return series


def publish(bootstrap: str, topic: str, messages) -> float:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    started = time.perf_counter()
    for message in messages:
        producer.send(topic, key=message.key, value=message.value)
    producer.flush(timeout=120)
    elapsed = time.perf_counter() - started
    producer.close()
    return elapsed


def raw_consume(bootstrap: str, topic: str, n_messages: int, decode: bool) -> tuple[float, int]:
    """Seconds to read all ``n_messages`` of ``topic`` (and points decoded, if ``decode``)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, max_poll_records=500
    )
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    read = points = 0
    started = time.perf_counter()
    while read < n_messages:
        for batch in consumer.poll(timeout_ms=1000).values():
            read += len(batch)
            if decode:
                for message in batch:
                    decoded = decode_message(message.key, message.value)
                    points += decoded.n_points
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed, points


def lookout_consume(
    bootstrap: str, topic: str, n_messages: int, checkpoint_interval: float | None = None
) -> dict:
    """Run the live runner over ``topic`` until it consumed ``n_messages``, wired as
    ``lookout run`` wires it by default (``checkpoint_interval``: ``--checkpoint-interval``,
    None: its default; a run shorter than it checkpoints once, at its end)."""
    from stream.cli.live import STATE_OPTIONS
    from stream.cli.settings import RUN_OPTIONS
    from stream.outputs.alert_sinks import KafkaAlertSink
    from stream.runtime.kafka_io import Consumer, Producer
    from stream.runtime.runner import Runner

    # lookout run's defaults
    default = {option.name: option.default for option in (*RUN_OPTIONS, *STATE_OPTIONS)}
    batch_size = default["batch_size"]
    if checkpoint_interval is None:
        checkpoint_interval = default["checkpoint_interval"]
    consumer = Consumer(
        [topic], bootstrap, f"bench-{uuid.uuid4().hex[:8]}", max_poll_records=batch_size
    )
    producer = Producer(bootstrap, send_timeout=120.0)
    runner = Runner(
        consumer,
        producer,
        Pipeline(
            lambda: DetectorStack(grace_period=GRACE_PERIOD), threads=default["scoring_threads"]
        ),
        LookoutMetrics(),
        sinks=[KafkaAlertSink(producer, f"{topic}-alerts")],
        dead_letter_topic=f"{topic}-dead",
        batch_size=batch_size,
        checkpoint_interval=checkpoint_interval,
        flush_wait=1.0,
    )
    first_batch = []
    process_batch = runner.process_batch

    def timed_batch(records):
        if not first_batch:
            first_batch.extend([time.perf_counter(), time.process_time()])
        process_batch(records)

    runner.process_batch = timed_batch
    started = time.perf_counter()
    summary = runner.run(max_messages=n_messages)
    ended = started + summary.seconds
    return {
        "seconds": ended - first_batch[0],
        # CPU of the whole process (every thread), which the machine's other work moves less
        # than the wall time; it includes the close after the last commit
        "cpu": time.process_time() - first_batch[1],
        "join": first_batch[0] - started,
        "points": summary.points,
        "alerts": summary.alerts,
        "batches": summary.batches,
    }


def score_only(series, threads: int) -> tuple[float, int]:
    """The pipeline alone on the same points in time order, 50,000 per call (as column
    messages reach it), on ``threads`` threads."""
    pipeline = Pipeline(lambda: DetectorStack(grace_period=GRACE_PERIOD), threads=threads)
    names = [name for name, timestamps, _ in series for _ in timestamps]
    timestamps = np.concatenate([np.asarray(t, dtype=float) for _, t, _ in series])
    values = np.concatenate([np.asarray(v, dtype=float) for _, _, v in series])
    order = np.argsort(timestamps, kind="stable")
    names = [names[i] for i in order.tolist()]
    timestamps, values = timestamps[order], values[order]
    started = time.perf_counter()
    for first in range(0, len(names), 50_000):
        rows = slice(first, first + 50_000)
        pipeline.push_arrays(names[rows], timestamps[rows], values[rows])
    return time.perf_counter() - started, len(names)


def throughput(bootstrap: str, args) -> list[str]:
    series = synthetic_series(args.series, args.points, spike_at=args.points // 2)
    rows = []
    scoring_rate = 0.0  # scoring only on two threads, as lookout run scores: the ceiling
    rates = {}  # scoring only, by threads
    score_only([(name, t[:100], v[:100]) for name, t, v in series], 1)  # loads the kernel
    for threads in (1, 2):
        seconds, n_points = score_only(series, threads)
        scoring_rate = rates[threads] = n_points / seconds
        progress(f"scoring only, {threads} thread(s): {n_points / seconds:,.0f} points/s")
        label = f"scoring only (no Kafka), {threads} thread{'s' if threads > 1 else ''}"
        rows.append(f"| {label} | - | {n_points} | {n_points / seconds:,.0f} | - | - |")
    runs = (
        ("single", 1, False),
        (f"batched x{args.batch_size}", args.batch_size, False),
        (f"columns x{args.column_size}", args.column_size, True),
    )
    paths = {path.strip() for path in args.paths.split(",")}
    verdict = []
    for label, batch_size, columns in runs:
        if label.split()[0] not in paths:
            continue
        topic = f"bench-{label.split()[0]}-{uuid.uuid4().hex[:8]}"
        messages = plan_messages(series, batch_size, columns=columns)
        published = publish(bootstrap, topic, messages)
        progress(f"{label}: published {len(messages)} messages in {published:.1f} s")
        # Best of two: the first read of a topic also pays for connections and metadata.
        raw = min(raw_consume(bootstrap, topic, len(messages), False)[0] for _ in range(2))
        decoded, points = min(raw_consume(bootstrap, topic, len(messages), True) for _ in range(2))
        run = lookout_consume(bootstrap, topic, len(messages), args.checkpoint_interval)
        progress(
            f"{label}: raw {raw:.2f} s, decode {decoded:.2f} s, lookout {run['seconds']:.2f} s "
            f"({run['cpu']:.2f} s CPU, +{run['join']:.1f} s group join), {run['alerts']} alerts"
        )
        n = len(messages)
        rows += [
            f"| {label}: raw kafka-python consume | {n} | {points} | {points / raw:,.0f} "
            f"| {n / raw:,.0f} | - |",
            f"| {label}: consume + decode | {n} | {points} | {points / decoded:,.0f} "
            f"| {n / decoded:,.0f} | - |",
            f"| {label}: **lookout end to end** | {n} | {run['points']} "
            f"| **{run['points'] / run['seconds']:,.0f}** "
            f"({run['points'] / run['seconds'] / scoring_rate:.0%} of scoring only) "
            f"| {n / run['seconds']:,.0f} | {1e6 * run['cpu'] / run['points']:.2f} |",
        ]
        if label.startswith("batched"):
            verdict = target_verdict(run["points"] / run["seconds"], rates[1])
    return [
        "| path | messages | points | points/s | messages/s | CPU us/point |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        *verdict,
    ]


def target_verdict(rate: float, kernel_rate: float) -> list[str]:
    """Issue 13's target for the batched path's end-to-end ``rate``, as measured and against
    the kernel's rate alone on one thread in the same run (``kernel_rate``: the scoring-only
    row), which the machine's other load moves about as much as it moves the live path.

    >>> print("\\n".join(target_verdict(200_000, 250_000)))
    <BLANKLINE>
    Target (issue 13): 250,000 points/s end to end on batched messages: **not met**: 200,000 (80%).
    Against the kernel alone on one thread in the same run (250,000 points/s): 80%, where the
    target asks for 68% (250,000 of the 365,000 it scores on a quiet machine): **met**.
    """
    needed = TARGET / KERNEL_RATE
    ratio = rate / kernel_rate
    return [
        "",
        f"Target (issue 13): {TARGET:,} points/s end to end on batched messages: "
        f"**{'met' if rate >= TARGET else 'not met'}**: {rate:,.0f} ({rate / TARGET:.0%}).",
        f"Against the kernel alone on one thread in the same run ({kernel_rate:,.0f} points/s): "
        f"{ratio:.0%}, where the",
        f"target asks for {needed:.0%} ({TARGET:,} of the {KERNEL_RATE:,} it scores on a quiet "
        f"machine): **{'met' if ratio >= needed else 'not met'}**.",
    ]


class TopicWatcher(threading.Thread):
    """Records when each message of the watched topics arrives here, by (topic, series, time)."""

    def __init__(self, bootstrap: str, topics: list[str]):
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            group_id=f"watch-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        # (topic, document, Kafka CreateTime in s: when lookout sent it, when it arrived here)
        self.arrivals: list[tuple[str, dict, float, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        import orjson

        while not self.stopping.is_set():
            for batch in self.consumer.poll(timeout_ms=200).values():
                now = time.time()
                self.arrivals += [
                    (m.topic, orjson.loads(m.value), m.timestamp / 1000, now) for m in batch
                ]
        self.consumer.close()


def latency(bootstrap: str, args, rate: float) -> list[str]:
    from stream.point import parse_timestamp

    run_id = uuid.uuid4().hex[:8]
    topic, scores, alerts = f"lat-{run_id}", f"lat-{run_id}-scores", f"lat-{run_id}-alerts"
    spike_at = args.latency_points - 20
    series = synthetic_series(args.latency_series, args.latency_points, spike_at, seed=1)
    messages = plan_messages(series, 1)
    warm_up = plan_messages(synthetic_series(1, GRACE_PERIOD + 20, -1, prefix="warm-up"), 1)
    # Create the topics before anyone waits on them, so no one pays for auto-creation.
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    for name in (topic, scores, alerts):
        producer.send(name, key=b"warm-up", value=b"{}").get(timeout=30)
    watcher = TopicWatcher(bootstrap, [scores, alerts])
    watcher.start()
    lookout = subprocess.Popen(
        [
            sys.executable, "-m", "stream.cli", "run",
            "--bootstrap-servers", bootstrap,
            "--topic", topic,
            "--group-id", f"lookout-{run_id}",
            "--scores-topic", scores,
            "--alerts-topic", alerts,
            "--dead-letter-topic", "",
            "--metrics-address", f"127.0.0.1:{free_port()}",
            "--grace-period", str(GRACE_PERIOD),
            "--poll-timeout", "0.1",
            "--log-level", "WARNING",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Warm up (group join, first scores compile the detectors' numba code) before measuring.
        for message in warm_up:
            producer.send(topic, key=message.key, value=message.value)
        producer.flush()
        deadline = time.monotonic() + 60
        while sum(1 for t, *_ in watcher.arrivals if t == scores) < len(warm_up) + 1:
            if time.monotonic() > deadline:
                raise RuntimeError("lookout run did not score the warm-up points within 60 s")
            time.sleep(0.1)
        sent_at: dict[tuple[str, float], float] = {}
        started = time.monotonic()
        for index, message in enumerate(messages):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            point = decode_message(message.key, message.value).points[0].point
            sent_at[(point.series, point.timestamp)] = time.time()
            producer.send(topic, key=message.key, value=message.value)
        producer.flush()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            scored = sum(1 for t, *_ in watcher.arrivals if t == scores)
            if scored >= len(messages) + len(warm_up) + 1:
                break
            time.sleep(0.2)
        time.sleep(1.0)
    finally:  # never leave a consumer behind, even when the run fails
        watcher.stopping.set()
        watcher.join(timeout=10)
        lookout.terminate()
        lookout.wait(timeout=30)
    producer.close()

    def delays(kind: str) -> tuple[np.ndarray, np.ndarray]:
        emitted, received = [], []
        for t, document, created, arrived in watcher.arrivals:
            if "series" not in document:
                continue  # the topic-creating message
            if t == scores and kind == "score":
                key = (document["series"], document["timestamp"])
            elif t == alerts and kind == "alert" and document.get("status") == "firing":
                key = (document["series"], parse_timestamp(document["at"]))
            else:
                continue
            if key in sent_at:
                emitted.append(created - sent_at[key])
                received.append(arrived - sent_at[key])
        return np.array(emitted) * 1000, np.array(received) * 1000

    rows = []
    for kind in ("score", "alert"):
        emitted, received = delays(kind)
        if len(emitted) == 0:
            rows.append(f"| {rate:.0f} | {kind} | 0 | - | - | - | - |")
            continue
        e50, e99 = np.percentile(emitted, [50, 99])
        r50, r99 = np.percentile(received, [50, 99])
        rows.append(
            f"| {rate:.0f} | {kind} | {len(emitted)} | {e50:.1f} | {e99:.1f} | {r50:.1f} "
            f"| {r99:.1f} |"
        )
    progress(f"latency: {len(messages)} points at {rate} points/s")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    parser.add_argument("--series", type=int, default=20, help="series in the throughput run")
    parser.add_argument("--points", type=int, default=1000, help="points per series")
    parser.add_argument("--batch-size", type=int, default=100, help="points per batched message")
    parser.add_argument("--column-size", type=int, default=1000, help="points per column message")
    parser.add_argument(
        "--paths",
        default="single,batched,columns",
        help="message formats of the throughput run, comma-separated (single, batched, columns)",
    )
    parser.add_argument(
        "--checkpoint-interval",
        type=float,
        default=None,
        help="seconds between the runner's checkpoints (default: lookout run's; 0: every poll)",
    )
    parser.add_argument(
        "--rates",
        default="100,500",
        help="points/s of the latency runs, comma-separated; empty: no latency runs",
    )
    parser.add_argument("--latency-series", type=int, default=20, help="one alert each")
    parser.add_argument(
        "--latency-points", type=int, default=300, help="per series; past the warm-up"
    )
    args = parser.parse_args(argv)

    broker = None
    bootstrap = args.bootstrap_servers
    if not bootstrap:
        progress("starting a Kafka broker (scripts/lookout_services)...")
        broker = KafkaBroker(tempfile.mkdtemp(prefix="lookout-bench-kafka-"), partitions=3).start()
        bootstrap = broker.bootstrap_servers
    try:
        print(f"## Kafka throughput ({args.series} series x {args.points} points)\n")
        print("\n".join(throughput(bootstrap, args)))
        rates = [float(r) for r in args.rates.split(",") if r.strip()]
        if not rates:
            return 0
        n = args.latency_series * args.latency_points
        print(f"\n## Latency ({n} points per rate, `lookout run` subprocess)\n")
        print("Milliseconds from handing a point to the producer until lookout sent its score or")
        print("alert (Kafka CreateTime), and until a consumer here received it.\n")
        print(
            "| points/s | produce -> | count | sent p50 | sent p99 | received p50 | received p99 |"
        )
        print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
        for rate in rates:
            print("\n".join(latency(bootstrap, args, rate)), flush=True)
    finally:
        if broker is not None:
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
