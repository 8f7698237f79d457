"""Faults on the real broker: scale-out and back, ``kill -9``, and a broker outage.

Each test runs ``lookout run`` processes (subprocesses, as in production) in one consumer group
with the default Kafka state store, while a producer thread keeps sending points of a dozen
series. Every scored point goes to a scores topic and every alert event to an alerts topic.
The reference is ``lookout replay --duplicates reject`` of the same points in one process:

- every point produced is scored;
- a point scored more than once (the documented replay of what followed the last checkpoint)
  got the same score every time, and each series' scores equal the reference;
- the distinct ``(alert_id, status)`` pairs equal the reference's alerts.

Recovery time after ``kill -9`` (kill -> first point scored by the restarted process, from the
scores topic's record timestamps) is printed and bounded.
"""

from __future__ import annotations

import collections
import math
import random
import signal
import threading
import time
import uuid
from pathlib import Path

import orjson
import pytest

from bench import chaos
from scripts.lookout_services.lookout_process import LookoutProcess
from tests.kafka_topics import read_records

STACK_OPTIONS, START = chaos.STACK_OPTIONS, chaos.START  # the same stack and clock as the chaos run

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("services")]


# --- data -----------------------------------------------------------------------------------


def value(series: int, step: int) -> float:
    """Seasonal noise, with a burst in every third series (so that alerts fire and resolve)."""
    rng = random.Random(series * 100_003 + step)
    level = 100 + 20 * series + 10 * math.sin(step / (7 + series))
    burst = 80 if series % 3 == 0 and 150 <= step < 158 else 0
    return round(level + rng.gauss(0, 1.5) + burst, 3)


class PointProducer(threading.Thread):
    """Sends one point of every series per tick, keyed by series, until ``steps`` ticks."""

    def __init__(self, bootstrap: str, topic: str, n_series: int, steps: int, tick: float):
        super().__init__(daemon=True)
        from kafka import KafkaProducer

        self.topic, self.n_series, self.steps, self.tick = topic, n_series, steps, tick
        # A long delivery timeout: points sent during a broker outage wait for it.
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=5,
            delivery_timeout_ms=180_000,
            request_timeout_ms=30_000,
            reconnect_backoff_max_ms=1000,
        )
        self.sent = 0
        self.error: BaseException | None = None

    def names(self) -> list[str]:
        return [f"svc{s:02d}" for s in range(self.n_series)]

    def run(self) -> None:
        try:
            started = time.monotonic()
            for step in range(self.steps):
                for s, name in enumerate(self.names()):
                    point = {
                        "series": name,
                        "timestamp": START + 60 * step,
                        "value": value(s, step),
                    }
                    self.producer.send(self.topic, key=name.encode(), value=orjson.dumps(point))
                self.sent = step + 1
                time.sleep(max(0.0, started + (step + 1) * self.tick - time.monotonic()))
            self.producer.flush(timeout=180)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.producer.close(timeout=10)

    def finish(self, timeout: float = 240) -> int:
        self.join(timeout)
        assert not self.is_alive() and self.error is None, self.error
        return self.steps * self.n_series


def reference(tmp_path: Path, n_series: int, steps: int) -> tuple[dict, set]:
    """Scores and alerts of a one-process replay of this file's points."""
    return chaos.reference(tmp_path, n_series, steps, value)


# --- Kafka helpers --------------------------------------------------------------------------


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from stream.runtime.kafka_io import TopicAdmin

    admin = TopicAdmin(bootstrap)
    try:
        assert admin.create_topic(topic, partitions)
    finally:
        admin.close()


def read_topic(bootstrap: str, topic: str, timeout: float = 60.0) -> list[tuple[int, dict]]:
    """Every message of ``topic``: (record timestamp in ms, JSON value)."""
    return [(m.timestamp, orjson.loads(m.value)) for m in read_records(bootstrap, topic, timeout)]


def lag(bootstrap: str, topic: str, group: str) -> int:
    """Messages of ``topic`` not committed by ``group`` yet."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        end = consumer.end_offsets(partitions)
        return sum(end[tp] - (consumer.committed(tp) or 0) for tp in partitions)
    finally:
        consumer.close()


def wait_until_consumed(bootstrap, topic, group, processes, timeout=120.0) -> None:
    deadline = time.monotonic() + timeout
    while (remaining := lag(bootstrap, topic, group)) > 0:
        for process in processes:
            assert process.alive(), f"{process.name} exited:\n{process.logs()}"
        assert time.monotonic() < deadline, f"{remaining} messages left:\n{processes[0].logs()}"
        time.sleep(0.5)


# --- lookout run processes ------------------------------------------------------------------


class Lookout(LookoutProcess):
    """One ``lookout run`` of these tests: quick checkpoints and a short session."""

    def __init__(self, work: Path, name: str, bootstrap: str, topics, *options: str):
        super().__init__(
            work, name, bootstrap, topics,
            "--session-timeout", "6",
            "--checkpoint-interval", "1",
            "--batch-size", "100",
            *STACK_OPTIONS,
            *options,
        )  # fmt: skip

    def stop(self, timeout: float = 60.0) -> str:
        """SIGTERM (checkpoint, leave the group); the printed summary."""
        assert super().stop(timeout) == 0, self.logs()
        return self.summary()

    def wait_ready(self, timeout: float = 60.0) -> float:
        return super().wait_ready(timeout)


@pytest.fixture
def topics():
    run_id = uuid.uuid4().hex[:8]

    class Topics:
        metrics = f"faults-{run_id}"
        scores = f"faults-scores-{run_id}"
        alerts = f"faults-alerts-{run_id}"
        dead = f"faults-dead-{run_id}"
        group = f"faults-{run_id}"

    return Topics


@pytest.fixture
def lookouts(tmp_path):
    started: list[Lookout] = []
    yield started
    for process in started:
        process.close()


def check_outputs(bootstrap, topics, expected_scores, expected_alerts) -> collections.Counter:
    """Every point scored, repeats identical, scores and alerts as the reference; returns how
    often each point was scored."""
    scored = collections.Counter()
    seen: dict[tuple[str, float], float] = {}
    for _, doc in read_topic(bootstrap, topics.scores):
        key = (doc["series"], float(doc["timestamp"]))
        scored[key] += 1
        first = seen.setdefault(key, doc["anomaly_score"])
        assert first == doc["anomaly_score"], f"{key} scored {first}, then {doc['anomaly_score']}"
    missing = set(expected_scores) - set(seen)
    assert not missing, f"{len(missing)} points never scored, e.g. {sorted(missing)[:3]}"
    assert set(seen) == set(expected_scores)
    differing = [key for key in expected_scores if seen[key] != expected_scores[key]]
    assert not differing, (
        f"{len(differing)} scores differ from the replay, e.g. {differing[0]}: "
        f"{seen[differing[0]]} != {expected_scores[differing[0]]}"
    )
    alerts = {(a["alert_id"], a["status"]) for _, a in read_topic(bootstrap, topics.alerts)}
    assert expected_alerts and alerts == expected_alerts
    if _exists(bootstrap, topics.dead):  # re-delivered points are skipped or re-scored
        assert read_topic(bootstrap, topics.dead) == []
    return scored


def _exists(bootstrap: str, topic: str) -> bool:
    from stream.runtime.kafka_io import TopicAdmin

    admin = TopicAdmin(bootstrap)
    try:
        return admin.partition_count(topic) is not None
    finally:
        admin.close()


def summary_value(summary: str, name: str) -> int:
    for line in summary.splitlines():
        if line.startswith(name):
            return int(line.split()[1])
    raise AssertionError(f"no {name!r} in:\n{summary}")


# --- the tests ------------------------------------------------------------------------------


def test_scale_out_1_to_3_to_1_scores_every_point_as_one_process_would(
    kafka_bootstrap, topics, lookouts, tmp_path
):
    n_series, steps, tick = 12, 260, 0.1
    create_topic(kafka_bootstrap, topics.metrics, 6)
    expected_scores, expected_alerts = reference(tmp_path, n_series, steps)

    first = Lookout(tmp_path, "first", kafka_bootstrap, topics).start()
    lookouts.append(first)
    first.wait_ready()
    producer = PointProducer(kafka_bootstrap, topics.metrics, n_series, steps, tick)
    producer.start()

    while producer.sent < 50:  # 1 -> 3
        time.sleep(0.1)
    others = [
        Lookout(tmp_path, name, kafka_bootstrap, topics).start() for name in ("second", "third")
    ]
    lookouts.extend(others)
    for process in others:
        process.wait_ready()
    while producer.sent < 170:  # 3 -> 1
        time.sleep(0.1)
    summaries = [process.stop() for process in others]

    total = producer.finish()
    wait_until_consumed(kafka_bootstrap, topics.metrics, topics.group, [first])
    summaries.append(first.stop())

    scored = check_outputs(kafka_bootstrap, topics, expected_scores, expected_alerts)
    assert sum(scored.values()) >= total
    for summary in summaries:  # every process scored its share, restoring what others had
        assert summary_value(summary, "points") > 0
        assert summary_value(summary, "restored") > 0
    print(
        f"\nscale-out: {total} points, {sum(scored.values()) - total} scored twice "
        f"(re-processed after a checkpoint), summaries:\n" + "\n--\n".join(summaries)
    )


@pytest.mark.parametrize(
    "membership, steps, bound",
    [
        # The dead member holds its partitions until its session (6 s) expires.
        ("dynamic", 600, 20.0),
        # The restarted member takes them back at once: start-up and restore only.
        ("static", 350, 10.0),
    ],
)
def test_kill_9_at_random_moments_loses_nothing_and_pages_once(
    kafka_bootstrap, topics, lookouts, tmp_path, membership, steps, bound
):
    n_series, tick = 8, 0.1
    create_topic(kafka_bootstrap, topics.metrics, 4)
    expected_scores, expected_alerts = reference(tmp_path, n_series, steps)
    rng = random.Random(7)

    options = ["--group-instance-id", "victim"] if membership == "static" else []
    lookout = Lookout(tmp_path, "victim", kafka_bootstrap, topics, *options)
    lookouts.append(lookout.start())
    lookout.wait_ready()
    producer = PointProducer(kafka_bootstrap, topics.metrics, n_series, steps, tick)
    producer.start()

    kills = []
    for _ in range(5):
        time.sleep(rng.uniform(1.0, 4.0))  # a random moment of scoring
        assert lookout.alive(), lookout.logs()
        kills.append(lookout.kill())
        lookout.start()
        lookout.wait_ready()
    assert producer.is_alive(), "the producer finished before the last kill: not mid-stream"

    total = producer.finish()
    wait_until_consumed(kafka_bootstrap, topics.metrics, topics.group, [lookout])
    summary = lookout.stop()

    scored = check_outputs(kafka_bootstrap, topics, expected_scores, expected_alerts)
    created = [timestamp / 1000 for timestamp, _ in read_topic(kafka_bootstrap, topics.scores)]
    recovery = [min(t for t in created if t > killed) - killed for killed in kills]
    print(
        f"\nkill -9 x{len(kills)} ({membership} membership): {total} points, "
        f"{sum(scored.values()) - total} scored twice; recovery (kill -> first point scored "
        "after restart): " + ", ".join(f"{r:.1f}" for r in recovery) + f" s; last run:\n{summary}"
    )
    assert max(recovery) < bound


def test_broker_outage_is_reported_and_survived(kafka_broker, topics, lookouts, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    n_series, steps, tick = 6, 400, 0.1
    create_topic(bootstrap, topics.metrics, 3)
    expected_scores, expected_alerts = reference(tmp_path, n_series, steps)

    lookout = Lookout(tmp_path, "survivor", bootstrap, topics).start()
    lookouts.append(lookout)
    lookout.wait_ready()
    producer = PointProducer(bootstrap, topics.metrics, n_series, steps, tick)
    producer.start()
    while producer.sent < 100:
        time.sleep(0.1)

    statuses = []
    with kafka_broker.stopped():
        stopped_at = time.monotonic()
        while time.monotonic() - stopped_at < 10:
            statuses.append(lookout.probe())
            assert lookout.alive(), lookout.logs()
            time.sleep(0.2)
    back_in = lookout.wait_ready(timeout=60)

    total = producer.finish()
    wait_until_consumed(bootstrap, topics.metrics, topics.group, [lookout])
    summary = lookout.stop()

    assert statuses[-1] == 503 and statuses.count(503) > len(statuses) / 2, statuses
    logs = lookout.err.read_text()
    assert "Kafka unreachable" in logs and "Kafka reachable again" in logs, logs[-3000:]
    scored = check_outputs(bootstrap, topics, expected_scores, expected_alerts)
    assert set(scored.values()) == {1}, "a point was scored twice"
    assert summary_value(summary, "points") == total
    print(f"\noutage: ready again {back_in:.1f} s after the broker; {total} points once each")


def test_kill_9_mid_incident_and_after_its_resolve_pages_once_per_incident(
    kafka_bootstrap, topics, lookouts, tmp_path, alertmanager_factory
):
    """Alertmanager's receiver gets exactly one firing and one resolved notification per
    incident although ``lookout run`` is killed while the incidents fire and again right after
    they resolved (with the default 10 s checkpoints, so that the restored state has them
    open); the alerts topic repeats events only with their ``event_id``."""
    from scripts.lookout_services import AlertWebhookReceiver

    n_series, steps, tick = 6, 200, 0.25  # incidents in svc00 and svc03, steps 150-158
    create_topic(kafka_bootstrap, topics.metrics, 2)
    expected_scores, expected_alerts = reference(tmp_path, n_series, steps)
    with AlertWebhookReceiver() as receiver:
        manager = alertmanager_factory(receiver.url)
        options = ["--alertmanager-url", manager.url, "--group-instance-id", "pager"]
        options += ["--checkpoint-interval", "10"]
        lookout = Lookout(tmp_path, "pager", kafka_bootstrap, topics, *options)
        lookouts.append(lookout.start())
        lookout.wait_ready()
        producer = PointProducer(kafka_bootstrap, topics.metrics, n_series, steps, tick)
        producer.start()

        for status in ("firing", "resolved"):
            receiver.wait_for(lambda note, status=status: note["status"] == status, timeout=120)
            assert lookout.alive(), lookout.logs()
            lookout.kill()
            lookout.start()
            lookout.wait_ready()

        producer.finish()
        wait_until_consumed(kafka_bootstrap, topics.metrics, topics.group, [lookout])
        time.sleep(4)  # Alertmanager's group interval is 1 s: a repeat would be in by now
        lookout.stop()
        notes = receiver.notifications

    incidents = {alert_id for alert_id, status in expected_alerts if status == "firing"}
    per_series = collections.Counter((n["groupLabels"]["series"], n["status"]) for n in notes)
    print(f"\nnotifications per (series, status): {dict(per_series)}")
    assert sum(1 for n in notes if n["status"] == "firing") == len(incidents)
    assert sum(1 for n in notes if n["status"] == "resolved") == len(incidents)
    assert set(per_series.values()) == {1}
    check_outputs(kafka_bootstrap, topics, expected_scores, expected_alerts)
    events = [doc for _, doc in read_topic(kafka_bootstrap, topics.alerts)]
    keys = {(e["alert_id"], e["status"]): e["event_id"] for e in events}
    assert len({e["event_id"] for e in events}) == len(expected_alerts)  # repeats share a key
    assert all(key == f"{a}-{1 if s == 'firing' else 2}-{s}" for (a, s), key in keys.items())


def test_a_frozen_broker_makes_the_process_unready_within_seconds(
    kafka_broker, topics, lookouts, tmp_path
):
    """SIGSTOP keeps the broker's connections open but answers nothing: /-/ready turns 503
    within a few seconds (no heartbeat answered for 3 s), and 200 again soon after SIGCONT."""
    import os

    bootstrap = kafka_broker.bootstrap_servers
    create_topic(bootstrap, topics.metrics, 2)
    lookout = Lookout(tmp_path, "frozen", bootstrap, topics).start()
    lookouts.append(lookout)
    lookout.wait_ready()
    pid = kafka_broker._process.pid
    os.kill(pid, signal.SIGSTOP)
    frozen_at = time.monotonic()
    statuses = []
    try:
        while time.monotonic() - frozen_at < 12:
            statuses.append((time.monotonic() - frozen_at, lookout.probe()))
            assert lookout.alive(), lookout.logs()
            time.sleep(0.2)
    finally:
        os.kill(pid, signal.SIGCONT)
    thawed_at = time.monotonic()
    back_in = lookout.wait_ready(timeout=60)
    unready_after = min(t for t, status in statuses if status != 200)
    print(
        f"\nfrozen broker: unready after {unready_after:.1f} s, ready {back_in:.1f} s after SIGCONT"
    )
    assert unready_after < 6.0, statuses
    assert all(status == 503 for t, status in statuses if t > unready_after + 1), statuses
    assert time.monotonic() - thawed_at < 30
    assert lookout.alive()
    lookout.stop()
