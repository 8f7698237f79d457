"""Live mode: ``lookout run`` and ``lookout produce`` against real Kafka, Prometheus, Alertmanager.

The integration tests (marked ``integration``, one xdist group) produce NAB demo series and
hand-made bad messages to a real broker, run ``lookout run`` as a subprocess with a real
Prometheus scraping it and a real Alertmanager, and check (a) every point scored once, (b)
scores equal to ``lookout replay`` of the same files, (c) Prometheus answers with the score,
(d) Alertmanager lists the alert, (e) the alerts topic holds firing and resolved events, (f) bad
messages land in the dead-letter topic while the consumer goes on; then a SIGTERM stops it
cleanly with every offset committed, and a restart resumes from there.

The tests without marks run the runner, the config layering and the alert sinks without Kafka.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import orjson
import pandas as pd
import pytest

from detectors import DetectorStack
from scripts.lookout_services import AlertWebhookReceiver, free_port
from stream.cli import main
from stream.cli.options import DEMO_DATA
from stream.outputs.alert_sinks import (
    Alert,
    AlertmanagerSink,
    KafkaAlertSink,
    WebhookSink,
    alertmanager_alert,
)
from stream.outputs.alerts import AlertEvent
from stream.outputs.metrics import LookoutMetrics
from stream.point import format_timestamp
from stream.runtime.kafka_io import DeliveryError, Record
from stream.runtime.pipeline import Pipeline
from stream.runtime.runner import Runner
from stream.sources.messages import decode_message
from tests.kafka_topics import read_records

REPO = Path(__file__).resolve().parents[1]
# Short grace period, so that alerts happen within the small demo series; no cooldown, so that
# the spike ending ends_firing.csv opens an alert whatever happened shortly before it.
STACK_OPTIONS = ["--grace-period", "100", "--cooldown", "0"]
SINGLE = DEMO_DATA / "artificialWithAnomaly" / "art_daily_jumpsup.csv"
BATCHED = DEMO_DATA / "realAdExchange" / "exchange-2_cpc_results.csv"

services = [pytest.mark.integration, pytest.mark.xdist_group("services")]
ALERTING_CONFIG = """
runbook_url = "https://runbooks.example/{series}"
[[rules]]
name = "ads"
matchers = ['series=~"exchange-.*"']
severity = "ticket"
"""


# --- in-memory ports for the runner (no broker) ---------------------------------------------


class MemorySource:
    """A consumer over a list of records; logs commits into a shared ``log``."""

    def __init__(self, records, log, on_empty=None):
        self.records = list(records)
        self.log = log
        self.on_empty = on_empty
        self.on_revoked = None
        self.committed = {}
        self.closed = False

    def poll(self, timeout, max_records=None):
        if not self.records and self.on_empty is not None:
            self.on_empty()
        batch = self.records[: max_records or 500]
        del self.records[: len(batch)]
        return batch

    def commit(self, offsets):
        self.log.append(("commit", dict(offsets)))
        self.committed.update(offsets)
        return True

    def commit_async(self, offsets):
        self.log.append(("commit_async", dict(offsets)))

    def assignment(self):
        return {("metrics", 0)}

    def lags(self):
        return {("metrics", 0): len(self.records)}

    def close(self):
        self.closed = True


class MemorySender:
    def __init__(self, log, fail=False):
        self.log = log
        self.fail = fail
        self.queued = []
        self.delivered = []

    def send(self, topic, key, value):
        self.log.append(("send", topic))
        self.queued.append((topic, key, value))

    def flush(self):
        self.log.append(("flush", len(self.queued)))
        if self.fail and self.queued:
            raise DeliveryError("broker gone")
        self.delivered += self.queued
        self.queued = []

    def close(self):
        self.log.append(("close_producer",))

    def on(self, topic):
        return [orjson.loads(value) for t, _, value in self.delivered if t == topic]


def record(offset: int, value: bytes | None, key: bytes = b"cpu", partition: int = 0) -> Record:
    return Record("metrics", partition, offset, key, value)


def point(t: float, v: float) -> bytes:
    return orjson.dumps({"timestamp": t, "value": v})


def memory_runner(records, fail=False, threads=1, **options):
    log = []
    source, sender = MemorySource(records, log), MemorySender(log, fail=fail)
    metrics = LookoutMetrics()
    runner = Runner(
        source,
        sender,
        Pipeline(lambda: DetectorStack(grace_period=5), threads=threads),
        metrics,
        dead_letter_topic="dead",
        scores_topic="scores",
        **options,
    )
    return runner, source, sender, metrics, log


def test_runner_commits_each_batch_after_its_outputs_are_flushed():
    records = [record(i, point(60.0 * i, 1.0 + i % 3)) for i in range(10)]
    runner, source, sender, metrics, log = memory_runner(records, batch_size=4)

    summary = runner.run(max_messages=10)

    assert summary.messages == summary.points == 10 and summary.stopped_by == "max_messages"
    commits = [entry for entry in log if entry[0] == "commit"]
    assert [c[1] for c in commits] == [
        {("metrics", 0): 4},
        {("metrics", 0): 8},
        {("metrics", 0): 10},
    ]
    for commit_at in (i for i, entry in enumerate(log) if entry[0] == "commit"):
        assert log[commit_at - 1][0] == "flush"  # nothing is committed before the flush
    assert len(sender.on("scores")) == 10
    assert source.closed and log[-1] == ("close_producer",)
    assert metrics.registry.get_sample_value("lookout_messages_total") == 10


def test_two_scoring_threads_send_what_one_sends():
    """A poll batch of column messages from several series is scored on two threads (the
    default of lookout run) with the same scores and alerts as on one."""
    rng = np.random.default_rng(9)
    records = []
    for offset in range(8):
        values = rng.normal(50, 5, 1000)
        values[700] += 80
        message = {"series": f"host-{offset}", "timestamps": (60.0 * np.arange(1000)).tolist()}
        message["values"] = values.tolist()
        records.append(record(offset, orjson.dumps(message), key=f"host-{offset}".encode()))
    sent = []
    for threads in (1, 2):
        runner, _, sender, _, _ = memory_runner(records, threads=threads)
        runner.sinks = [KafkaAlertSink(sender, "alerts")]
        runner.run(max_messages=len(records))
        sent.append((sender.on("scores"), sender.on("alerts")))
    (scores_one, alerts_one), (scores_two, alerts_two) = sent
    assert len(scores_one) == 8000 and alerts_one
    assert scores_two == scores_one
    assert alerts_two == alerts_one


def test_failed_delivery_commits_nothing_and_stops_the_runner():
    runner, source, sender, _, log = memory_runner([record(0, b"{bad")], fail=True)

    with pytest.raises(DeliveryError):
        runner.run(max_messages=1)

    assert source.committed == {}
    assert not any(entry[0] == "commit" for entry in log)
    assert source.closed  # leaves the group so the batch is re-delivered to someone


def test_bad_messages_are_dead_lettered_and_the_runner_keeps_going():
    records = [
        record(0, point(0, 1.0)),
        record(1, b"{bad"),
        record(2, None),
        record(3, orjson.dumps([{"timestamp": 60, "value": 2}, {"timestamp": 120, "value": "x"}])),
        record(4, point(60, 5.0)),  # already seen at 60: duplicate
        record(5, point(30, 5.0)),  # before 60: out of order
        record(6, point(180, 3.0)),
    ]
    runner, source, sender, metrics, _ = memory_runner(records)

    summary = runner.run(max_messages=len(records))

    assert summary.points == 3
    dead = sender.on("dead")
    assert [d["reason"] for d in dead] == [
        "malformed_json",
        "empty_message",
        "bad_value",
        "duplicate_timestamp",
        "out_of_order",
    ]
    assert dead[0]["source"] == {
        "topic": "metrics",
        "partition": 0,
        "offset": 1,
        "key": "cpu",
        "timestamp_ms": -1,
    }
    assert dead[2]["point"] == {"timestamp": 120, "value": "x"} and dead[2]["index"] == 1
    assert dead[3]["point"]["series"] == "cpu"
    assert source.committed == {("metrics", 0): 7}
    sample = metrics.registry.get_sample_value
    assert sample("lookout_invalid_messages_total", {"reason": "out_of_order"}) == 1


def test_stop_finishes_the_batch_and_revocation_commits_what_is_pending():
    records = [record(i, point(60.0 * i, 1.0)) for i in range(3)]
    log = []
    holder = {}
    source = MemorySource(records, log, on_empty=lambda: holder["runner"].stop())
    runner = Runner(source, MemorySender(log), Pipeline(), LookoutMetrics(), batch_size=2)
    holder["runner"] = runner

    summary = runner.run()

    assert summary.stopped_by == "signal" and summary.messages == 3
    assert source.committed == {("metrics", 0): 3}

    runner.checkpoint.advance(record(7, b""))
    source.on_revoked([("metrics", 0)])  # what kafka-python calls in a rebalance
    assert log[-1] == ("commit_async", {("metrics", 0): 8})
    assert runner.checkpoint.pending == {}


def test_probes_follow_the_loop():
    clock = {"now": 0.0}
    runner, *_ = memory_runner([], stall_timeout=30, monotonic=lambda: clock["now"])
    assert runner.healthy() and not runner.ready()
    clock["now"] = 31.0
    assert not runner.healthy()


# --- settings: flag > env > file > default, secrets masked ----------------------------------


def print_config(capsys, monkeypatch, argv, env=None) -> dict[str, tuple[str, str]]:
    for name in [n for n in os.environ if n.startswith("LOOKOUT_")]:
        monkeypatch.delenv(name)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    assert main(["run", "--print-config", *argv]) == 0
    out = capsys.readouterr().out
    settings = {}
    for line in out.splitlines():
        name, rest = line.split(" = ", 1)
        value, source = rest.rsplit("  (", 1)
        settings[name] = (value, source.rstrip(")"))
    return settings


def test_settings_precedence_is_flag_then_env_then_file_then_default(tmp_path, capsys, monkeypatch):
    config = tmp_path / "lookout.toml"
    config.write_text(
        'topic = "from-file"\ngroup-id = "file-group"\nbatch_size = 50\n'
        'grace_period = 77\nmetrics-address = "127.0.0.1:9999"\n'
    )
    env = {"LOOKOUT_TOPIC": "from-env", "LOOKOUT_GROUP_ID": "env-group", "LOOKOUT_THRESHOLD": "0.7"}

    settings = print_config(
        capsys, monkeypatch, ["--config", str(config), "--topic", "from-flag"], env
    )

    assert settings["topic"] == ("'from-flag'", "flag")
    assert settings["group_id"] == ("'env-group'", "env")
    assert settings["batch_size"] == ("50", "file")
    assert settings["grace_period"] == ("77", "file")  # detector options are layered too
    assert settings["threshold"] == ("0.7", "env")
    assert settings["metrics_address"] == ("'127.0.0.1:9999'", "file")
    assert settings["alerts_topic"] == ("'lookout-alerts'", "default")


@pytest.mark.parametrize("option", ["range_break", "return_is_surprise"])
def test_detector_switches_are_on_by_default_and_off_by_flag_env_or_file(
    option, tmp_path, capsys, monkeypatch
):
    dashed = option.replace("_", "-")
    flag = "--no-return-surprise" if option == "return_is_surprise" else f"--no-{dashed}"
    assert print_config(capsys, monkeypatch, [], {})[option] == ("True", "default")
    assert print_config(capsys, monkeypatch, [flag], {})[option] == ("False", "flag")
    env = print_config(capsys, monkeypatch, [], {f"LOOKOUT_{option.upper()}": "false"})
    assert env[option] == ("False", "env")
    config = tmp_path / "lookout.toml"
    config.write_text(f"{dashed} = false\n")
    assert print_config(capsys, monkeypatch, ["--config", str(config)], {})[option] == (
        "False",
        "file",
    )


def test_config_file_may_be_json_and_named_by_the_environment(tmp_path, capsys, monkeypatch):
    config = tmp_path / "lookout.json"
    config.write_text(json.dumps({"bootstrap-servers": "kafka:9092", "ssl_check_hostname": False}))

    settings = print_config(capsys, monkeypatch, [], {"LOOKOUT_CONFIG": str(config)})

    assert settings["bootstrap_servers"] == ("'kafka:9092'", "file")
    assert settings["ssl_check_hostname"] == ("False", "file")


def test_secrets_are_never_printed(tmp_path, capsys, monkeypatch):
    config = tmp_path / "lookout.toml"
    config.write_text('ssl_password = "file-secret"\n')
    env = {"LOOKOUT_SASL_PLAIN_PASSWORD": "env-secret"}
    argv = ["--config", str(config), "--alertmanager-url", "https://am:url-secret@am:9093"]

    settings = print_config(capsys, monkeypatch, argv, env)

    assert settings["sasl_plain_password"] == ("'********'", "env")
    assert settings["ssl_password"] == ("'********'", "file")
    assert settings["alertmanager_url"] == ("'https://am:********@am:9093'", "flag")


def test_bad_settings_exit_2_naming_the_setting(tmp_path, capsys, monkeypatch):
    config = tmp_path / "lookout.toml"
    config.write_text("bach_size = 5\n")
    monkeypatch.delenv("LOOKOUT_CONFIG", raising=False)
    assert main(["run", "--print-config", "--config", str(config)]) == 2
    assert "bach_size" in capsys.readouterr().err

    monkeypatch.setenv("LOOKOUT_BATCH_SIZE", "lots")
    assert main(["run", "--print-config"]) == 2
    assert "LOOKOUT_BATCH_SIZE" in capsys.readouterr().err

    monkeypatch.setenv("LOOKOUT_BATCH_SIZE", "0")
    assert main(["run", "--print-config"]) == 2
    assert "LOOKOUT_BATCH_SIZE" in capsys.readouterr().err

    monkeypatch.delenv("LOOKOUT_BATCH_SIZE")
    monkeypatch.setenv("LOOKOUT_SECURITY_PROTOCOL", "PLAIN")
    assert main(["run", "--print-config"]) == 2
    assert "LOOKOUT_SECURITY_PROTOCOL" in capsys.readouterr().err

    monkeypatch.delenv("LOOKOUT_SECURITY_PROTOCOL")
    config.write_text("alertmanager_url = 'http://am:9093'\n")  # a run setting: produce ignores it
    assert main(["produce", "--print-config", "--config", str(config)]) == 0


# --- alert sinks against a local HTTP receiver ----------------------------------------------


def alert_event(status: str, start: float = 60.0, end: float | None = None) -> AlertEvent:
    return AlertEvent(
        "abc",
        "api.latency",
        status,
        start,
        end,
        0.9,
        start,
        end or start,
        250.0,
        100.0,
        80.0,
        120.0,
        0.9,
        ("zscore",),
    )


def test_alertmanager_sink_resends_while_firing_and_resolves_with_ends_at():
    with AlertWebhookReceiver() as fake_alertmanager:
        sink = AlertmanagerSink(fake_alertmanager.url, resend_interval=10.0)
        now = 1_700_000_000.0

        sink.send([Alert(alert_event("firing"), {"team": "web"})], now)
        sink.tick(now + 5)  # not due yet
        sink.tick(now + 10)  # re-sent
        sink.send([Alert(alert_event("resolved", end=120.0))], now + 12)
        sink.tick(now + 100)  # nothing left to send

        posts = fake_alertmanager.notifications
    assert len(posts) == 3
    first, resent, resolved = (post[0] for post in posts)
    labels = {"team": "web", "alertname": "LookoutAnomaly", "series": "api.latency"}
    assert first["labels"] == {**labels, "severity": "page"}
    assert resolved["labels"] == first["labels"]  # resolution matches the firing label set
    assert resent["endsAt"] > first["endsAt"]  # the lease moves on with every re-send
    assert resolved["endsAt"] == "1970-01-01T00:02:00Z"
    assert first["startsAt"] == "1970-01-01T00:01:00Z"


def test_alertmanager_sink_sends_an_incident_it_never_announced_firing_before_it_resolves():
    # Opened and resolved between two deliveries (one catch-up batch): Alertmanager notifies
    # nobody of an alert it only ever sees resolved, so it is sent firing for one resend
    # interval, after which Alertmanager resolves it itself.
    with AlertWebhookReceiver() as fake_alertmanager:
        sink = AlertmanagerSink(fake_alertmanager.url, resend_interval=10.0)
        now = 1_700_000_000.0
        sink.send([Alert(alert_event("firing")), Alert(alert_event("resolved", end=120.0))], now)
        sink.tick(now + 30)  # nothing fires: nothing is re-sent
        # An incident announced firing resolves plainly; so does a replayed one, which the
        # process before a restart may have announced (sent firing, it could page twice).
        sink.send([Alert(alert_event("firing"))], now + 40)
        sink.send([Alert(alert_event("resolved", end=150.0))], now + 50)
        sink.resume([Alert(alert_event("resolved", end=180.0))], now + 60)
        posts = fake_alertmanager.notifications
    (brief,), (firing,), (resolved,), (replayed,) = posts
    assert brief["startsAt"] == "1970-01-01T00:01:00Z"
    assert brief["endsAt"] == format_timestamp(now + 10.0)  # firing until then
    assert firing["endsAt"] > format_timestamp(now + 40)
    assert resolved["endsAt"] == "1970-01-01T00:02:30Z"
    assert replayed["endsAt"] == "1970-01-01T00:03:00Z"


def test_alertmanager_sink_stops_resending_the_alerts_of_series_it_released():
    with AlertWebhookReceiver() as fake_alertmanager:
        sink = AlertmanagerSink(fake_alertmanager.url, resend_interval=10.0)
        now = 1_700_000_000.0
        sink.send([Alert(alert_event("firing"))], now)
        sink.release(["api.latency"], now + 5)  # a rebalance gave the series to another process
        sink.tick(now + 100)
        assert len(fake_alertmanager.notifications) == 1 and sink.firing == []


def test_http_sinks_retry_failures_with_backoff_and_count_them():
    failures = []
    port = free_port()  # nothing listens there
    url = f"http://127.0.0.1:{port}/"
    alertmanager = AlertmanagerSink(url, timeout=1, on_failure=lambda: failures.append("am"))
    webhook = WebhookSink(url, timeout=1, on_failure=lambda: failures.append("hook"))

    for sink in (alertmanager, webhook):
        sink.send([Alert(alert_event("firing"))], 1000.0)
        sink.tick(1000.5)  # within the first backoff second: no new attempt
    assert failures == ["am", "hook"]
    assert webhook.pending == 1 and alertmanager.firing == ["api.latency"]

    with AlertWebhookReceiver() as receiver:
        webhook.url = receiver.url
        webhook.tick(1001.5)
        assert webhook.pending == 0
        assert receiver.notifications[0]["alert_id"] == "abc"


def test_alertmanager_alert_of_a_warming_up_band_is_still_valid():
    nan = math.nan
    warm = dataclasses.replace(alert_event("firing"), lower=nan, upper=nan, expected=nan)
    item = alertmanager_alert(Alert(warm), "page", now=100.0, lease=60.0)
    assert "no expected value yet (warming up)" in item["annotations"]["description"]
    assert item["annotations"]["expected"] == "NaN"


# --- real services ---------------------------------------------------------------------------


def read_topic(bootstrap: str, topic: str, timeout: float = 30.0) -> list:
    """Every message of ``topic`` as ``(key, value)``, read from the beginning to the end."""
    return [(m.key, m.value) for m in read_records(bootstrap, topic, timeout)]


def produce_raw(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes | None]]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)


def committed_and_end_offsets(bootstrap: str, topic: str, group: str) -> tuple[dict, dict]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        end = consumer.end_offsets(partitions)
        committed = {tp.partition: consumer.committed(tp) for tp in partitions}
        return committed, {tp.partition: offset for tp, offset in end.items()}
    finally:
        consumer.close()


def write_ends_firing(path: Path) -> None:
    """A quiet seasonal series whose very last point is a huge spike: its alert is still firing
    when the stream ends."""
    n = 600
    rng = np.random.default_rng(3)
    values = 50 + 5 * np.sin(np.arange(n) / 12) + rng.normal(0, 0.5, n)
    values[-1] = 5000.0
    timestamps = pd.date_range("2024-03-01", periods=n, freq="5min")
    pd.DataFrame(
        {"timestamp": timestamps.strftime("%Y-%m-%d %H:%M:%S"), "value": np.round(values, 3)}
    ).to_csv(path, index=False)


def scraped(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def metric(text: str, name: str) -> float | None:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


# Bad messages (key, value, reason) around the good ones; "mixed" also holds one good point.
BAD_BEFORE = [
    (b"broken", b"{not json", "malformed_json"),
    (b"broken", b'{"series": "broken", "timestamp": "yesterday", "value": 1}', "bad_timestamp"),
    (b"broken", None, "empty_message"),
    # Poison for the series whose good points follow: scored, any of these would make the
    # series refuse every later point as out_of_order (or stop the process, as they did).
    (b"art_daily_jumpsup", b'{"timestamp": 1e308, "value": 1}', "bad_timestamp"),
    (b"art_daily_jumpsup", b'{"timestamp": 1.7e22, "value": 101}', "bad_timestamp"),
    (
        b"art_daily_jumpsup",
        b'{"timestamp": "9999-12-31T00:00:00Z", "value": 1}',
        "future_timestamp",
    ),
    (b"art_daily_jumpsup", b'{"timestamp": 4102444800000, "value": 101}', "future_timestamp"),
]
BAD_AFTER = [
    (b"broken", b"[1]", "not_a_point"),
    (
        b"mixed",
        b'[{"timestamp": 0, "value": 1}, {"timestamp": 60, "value": "NaN"}]',
        "non_finite_value",
    ),
    (b"mixed", b'{"timestamp": 0, "value": 2}', "duplicate_timestamp"),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory, kafka_bootstrap, prometheus_factory, alertmanager):
    """One ``lookout run`` over the demo series and bad messages, with every output enabled."""
    work = tmp_path_factory.mktemp("live")
    data = work / "data"
    data.mkdir()
    shutil.copy(SINGLE, data)
    shutil.copy(BATCHED, data)
    write_ends_firing(data / "ends_firing.csv")

    run_id = uuid.uuid4().hex[:8]
    topics = SimpleNamespace(
        metrics=f"metrics-{run_id}",
        alerts=f"alerts-{run_id}",
        dead=f"dead-{run_id}",
        scores=f"scores-{run_id}",
    )
    group = f"lookout-{run_id}"
    metrics_address = f"127.0.0.1:{free_port()}"
    # Prometheus first: it finds a new target 5-6 s after start, while the rest happens.
    prometheus = prometheus_factory([metrics_address])

    produce_raw(kafka_bootstrap, topics.metrics, [(k, v) for k, v, _ in BAD_BEFORE])
    common = ["--topic", topics.metrics, "--bootstrap-servers", kafka_bootstrap]
    assert main(["produce", str(data / SINGLE.name), *common]) == 0
    batched = [str(data / BATCHED.name), str(data / "ends_firing.csv")]
    assert main(["produce", *batched, *common, "--batch-size", "25"]) == 0
    produce_raw(kafka_bootstrap, topics.metrics, [(k, v) for k, v, _ in BAD_AFTER])
    total_messages = len(read_topic(kafka_bootstrap, topics.metrics))

    # The same alerting policy for both: the ad exchange is a ticket, every alert links a runbook.
    config = work / "lookout.toml"
    config.write_text(ALERTING_CONFIG)
    replay_dir = work / "replay"
    replay = [
        "replay",
        str(data),
        "--out",
        str(replay_dir),
        "--no-progress",
        "--config",
        str(config),
    ]
    assert main([*replay, "--duplicates", "reject", *STACK_OPTIONS]) == 0

    receiver = AlertWebhookReceiver().start()
    stdout, stderr = (work / "run.out").open("w"), (work / "run.err").open("w")
    command = [
        sys.executable, "-m", "stream.cli", "run",
        "--bootstrap-servers", kafka_bootstrap,
        "--topic", topics.metrics,
        "--group-id", group,
        "--alerts-topic", topics.alerts,
        "--dead-letter-topic", topics.dead,
        "--scores-topic", topics.scores,
        "--metrics-address", metrics_address,
        "--alertmanager-url", alertmanager.url,
        "--webhook-url", receiver.url,
        "--alert-resend-interval", "1",
        "--session-timeout", "6",
        "--poll-timeout", "0.2",
        "--config", str(config),
        *STACK_OPTIONS,
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=stdout, stderr=stderr)

    def logs() -> str:
        return (work / "run.err").read_text()[-3000:]

    metrics_url = f"http://{metrics_address}/metrics"
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, f"lookout run exited early:\n{logs()}"
        assert time.monotonic() < deadline, f"not all messages consumed:\n{logs()}"
        try:
            consumed = metric(scraped(metrics_url), "lookout_messages_total")
        except OSError:
            consumed = None
        if consumed == total_messages:
            break
        time.sleep(0.2)

    yield SimpleNamespace(
        bootstrap=kafka_bootstrap,
        topics=topics,
        group=group,
        data=data,
        replay_dir=replay_dir,
        process=process,
        logs=logs,
        work=work,
        metrics_url=metrics_url,
        metrics_address=metrics_address,
        prometheus=prometheus,
        alertmanager=alertmanager,
        receiver=receiver,
        total_messages=total_messages,
    )
    if process.poll() is None:
        process.kill()
        process.wait()
    receiver.stop()
    stdout.close()
    stderr.close()


def replay_results(live) -> dict[str, pd.DataFrame]:
    return {
        path.stem: pd.read_csv(path, dtype={"timestamp": str})
        for path in sorted(live.replay_dir.glob("*.csv"))
    }


def replay_alerts(live) -> list[dict]:
    return [
        json.loads(line) for line in (live.replay_dir / "alerts.jsonl").read_text().splitlines()
    ]


def live_scores(live) -> list[dict]:
    return [orjson.loads(value) for _, value in read_topic(live.bootstrap, live.topics.scores)]


@pytest.mark.integration
@pytest.mark.xdist_group("services")
def test_a_every_point_is_scored_exactly_once(live):
    scores = live_scores(live)
    keys = [(s["series"], s["timestamp"]) for s in scores]
    assert len(keys) == len(set(keys))

    expected = {("mixed", 0.0)}  # the one valid point among the bad messages
    for series, frame in replay_results(live).items():
        seconds = (pd.to_datetime(frame["timestamp"]) - pd.Timestamp(0)).dt.total_seconds()
        expected |= {(series, t) for t in seconds}
    assert set(keys) == expected
    assert metric(scraped(live.metrics_url), "lookout_points_total") == len(expected)


@pytest.mark.integration
@pytest.mark.xdist_group("services")
def test_b_scores_equal_lookout_replay_of_the_same_files(live):
    by_series = collections.defaultdict(list)
    for score in live_scores(live):
        by_series[score["series"]].append(score)

    for series, frame in replay_results(live).items():
        live_series = sorted(by_series[series], key=lambda s: s["timestamp"])
        assert [s["anomaly_score"] for s in live_series] == frame["anomaly_score"].tolist()
        assert [int(s["alert"]) for s in live_series] == frame["alert"].tolist()
        assert [s["value"] for s in live_series] == frame["value"].tolist()


@pytest.mark.integration
@pytest.mark.xdist_group("services")
def test_c_prometheus_scrapes_the_anomaly_score(live):
    replay = replay_results(live)["art_daily_jumpsup"]
    query = 'lookout_anomaly_score{series="art_daily_jumpsup"}'

    result = live.prometheus.wait_for(query, timeout=30)

    assert float(result[0]["value"][1]) == replay["anomaly_score"].iloc[-1]
    # the last point is no onset: the gauge shows the continuous score, not 0
    assert replay["onset_score"].iloc[-1] == 0 < replay["anomaly_score"].iloc[-1]
    band = live.prometheus.wait_for('lookout_expected_upper{series="ends_firing"}', timeout=10)
    assert float(band[0]["value"][1]) == replay_results(live)["ends_firing"]["upper"].iloc[-1]
    still_firing = sorted(s for s, frame in replay_results(live).items() if frame["alert"].iloc[-1])
    assert "ends_firing" in still_firing
    firing = live.prometheus.wait_for("lookout_anomalous == 1", timeout=10)
    assert sorted(r["metric"]["series"] for r in firing) == still_firing


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.integration
@pytest.mark.xdist_group("services")
def test_d_alertmanager_lists_the_firing_alert_and_keeps_it_fresh(live):
    last_firing = [a for a in replay_alerts(live) if a["series"] == "ends_firing"][-1]
    assert last_firing["status"] == "firing"

    listed = live.alertmanager.alerts(series="ends_firing")

    assert len(listed) == 1
    alert = listed[0]
    assert alert["labels"] == {
        "alertname": "LookoutAnomaly",
        "series": "ends_firing",
        "severity": "page",
    }
    assert alert["status"]["state"] == "active"
    assert alert["annotations"]["alert_id"] == last_firing["alert_id"]
    assert float(alert["annotations"]["value"]) == last_firing["value"]
    assert parse_time(alert["startsAt"]) == parse_time(last_firing["start"])
    # Series whose last alert was resolved were sent to Alertmanager, but are no longer active.
    last_status = {a["series"]: a["status"] for a in replay_alerts(live)}
    resolved = [series for series, status in last_status.items() if status == "resolved"]
    assert resolved
    for series in resolved:
        assert live.alertmanager.alerts(series=series) == []

    # Re-sent every second while firing: Alertmanager's endsAt moves forward.
    deadline = time.monotonic() + 10
    while parse_time(live.alertmanager.alerts(series="ends_firing")[0]["endsAt"]) <= parse_time(
        alert["endsAt"]
    ):
        assert time.monotonic() < deadline, "the firing alert was not re-sent"
        time.sleep(0.3)


@pytest.mark.integration
@pytest.mark.xdist_group("services")
def test_e_alerts_topic_and_webhook_hold_the_firing_and_resolved_events(live):
    expected = replay_alerts(live)
    assert {"firing", "resolved"} <= {a["status"] for a in expected}

    on_topic = read_topic(live.bootstrap, live.topics.alerts)
    documents = [orjson.loads(value) for _, value in on_topic]
    assert all(
        key == doc["series"].encode() for (key, _), doc in zip(on_topic, documents, strict=True)
    )
    for document in documents:
        assert document.pop("labels") == {}
    key = lambda a: (a["series"], a["at"], a["status"])  # noqa: E731
    assert sorted(documents, key=key) == sorted(expected, key=key)

    deadline = time.monotonic() + 10
    while len(live.receiver.notifications) < len(expected):
        assert time.monotonic() < deadline, live.receiver.notifications
        time.sleep(0.1)
    received = sorted((n["alert_id"], n["status"]) for n in live.receiver.notifications)
    assert received == sorted((a["alert_id"], a["status"]) for a in expected)


@pytest.mark.integration
@pytest.mark.xdist_group("services")
def test_e_run_and_replay_apply_the_same_alerting_policy(live):
    # test_e compares every document; here: the policy of the config file did apply
    documents = [orjson.loads(value) for _, value in read_topic(live.bootstrap, live.topics.alerts)]
    ads = [d for d in documents if d["series"].startswith("exchange-")]
    assert ads and {d["severity"] for d in ads} == {"ticket"}
    assert {d["rule"] for d in ads} == {"ads"}
    assert {d["severity"] for d in documents if d not in ads} == {"page"}
    for document in documents:
        assert document["runbook_url"] == f"https://runbooks.example/{document['series']}"
        assert document["summary"].startswith(document["series"] + " ")
        assert document["description"]
    text = scraped(live.metrics_url)
    assert metric(text, "lookout_effective_threshold") == DetectorStack().threshold
    assert metric(text, 'lookout_alerts_held_back_total{reason="muted"}') == 0


@pytest.mark.integration
@pytest.mark.xdist_group("services")
def test_f_bad_messages_go_to_the_dead_letter_topic_and_the_consumer_goes_on(live):
    rejected = [
        json.loads(line)
        for line in (live.replay_dir / "rejected.jsonl").read_text().split("\n")
        if line
    ]
    expected = collections.Counter(reason for _, _, reason in BAD_BEFORE + BAD_AFTER)
    expected.update(row["reason"] for row in rejected)  # e.g. a duplicate timestamp in a file

    letters = [orjson.loads(value) for _, value in read_topic(live.bootstrap, live.topics.dead)]

    assert collections.Counter(letter["reason"] for letter in letters) == expected
    malformed = next(letter for letter in letters if letter["reason"] == "malformed_json")
    assert malformed["message"] == "{not json"
    assert malformed["source"]["topic"] == live.topics.metrics
    text = scraped(live.metrics_url)
    for reason, count in expected.items():
        assert metric(text, f'lookout_invalid_messages_total{{reason="{reason}"}}') == count
    # Good points came after the bad ones and were scored: the consumer went on.
    assert metric(text, "lookout_messages_total") == live.total_messages
    # ...and committed every offset while it runs (the next checkpoint, at most 10 s away).
    deadline = time.monotonic() + 30
    while True:
        assert live.process.poll() is None, live.logs()
        committed, end = committed_and_end_offsets(live.bootstrap, live.topics.metrics, live.group)
        if all(committed[p] == offset for p, offset in end.items() if offset):
            break
        assert time.monotonic() < deadline, (committed, end)
        time.sleep(0.5)


@pytest.mark.integration
@pytest.mark.xdist_group("services")
def test_g_probes_then_sigterm_commits_everything_and_a_restart_resumes(live):
    base = f"http://{live.metrics_address}"
    assert scraped(f"{base}/-/healthy").strip() == "Healthy"
    assert scraped(f"{base}/-/ready").strip() == "Ready"

    live.process.send_signal(signal.SIGTERM)
    assert live.process.wait(timeout=30) == 0, live.logs()
    summary = (live.work / "run.out").read_text()
    assert "stopped   signal" in summary
    committed, end = committed_and_end_offsets(live.bootstrap, live.topics.metrics, live.group)
    # A partition that never held a message has nothing to commit.
    assert {p: offset for p, offset in committed.items() if end[p]} == {
        p: offset for p, offset in end.items() if offset
    }

    produce_raw(
        live.bootstrap, live.topics.metrics, [(b"mixed", b'{"timestamp": 120, "value": 3}')]
    )
    rerun = subprocess.run(
        [
            sys.executable, "-m", "stream.cli", "run",
            "--bootstrap-servers", live.bootstrap,
            "--topic", live.topics.metrics,
            "--group-id", live.group,
            "--scores-topic", live.topics.scores,
            "--metrics-address", "127.0.0.1:0",
            "--session-timeout", "6",
            "--poll-timeout", "0.2",
            "--max-seconds", "6",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert "messages  1\n" in rerun.stdout, rerun.stdout  # only the new one: resumed
    assert {"series": "mixed", "timestamp": 120.0} in [
        {"series": s["series"], "timestamp": s["timestamp"]} for s in live_scores(live)
    ]


@pytest.mark.integration
@pytest.mark.xdist_group("services")
def test_produce_a_scenario_batched_and_a_csv_at_real_time_speedup(kafka_bootstrap, tmp_path):
    topic = f"scenario-{uuid.uuid4().hex[:8]}"
    assert main(["produce", "--scenario", "ddos", "--batch-size", "500",
                 "--topic", topic, "--bootstrap-servers", kafka_bootstrap]) == 0  # fmt: skip
    messages = read_topic(kafka_bootstrap, topic)
    from sim.scenarios import generate

    expected = sum(len(s.frame) for s in generate("ddos", seed=0))
    batches = [orjson.loads(value) for _, value in messages]
    assert sum(len(batch) for batch in batches) == expected
    assert all(key.decode().startswith("ddos/") for key, _ in messages)

    topic = f"columns-{uuid.uuid4().hex[:8]}"
    assert main(["produce", "--scenario", "ddos", "--batch-size", "500", "--columns",
                 "--topic", topic, "--bootstrap-servers", kafka_bootstrap]) == 0  # fmt: skip
    columns = [decode_message(key, value) for key, value in read_topic(kafka_bootstrap, topic)]
    assert all(not d.rejections and len(d.columns) == 1 for d in columns)
    assert sum(len(d.columns[0].values) for d in columns) == expected

    csv = tmp_path / "paced.csv"
    csv.write_text("timestamp,value\n0,1\n10,2\n20,3\n")
    topic = f"paced-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    assert main(["produce", str(csv), "--speedup", "20", "--topic", topic,
                 "--bootstrap-servers", kafka_bootstrap]) == 0  # fmt: skip
    assert time.monotonic() - started >= 1.0  # 20 s of event time at 20x
    assert [orjson.loads(v)["value"] for _, v in read_topic(kafka_bootstrap, topic)] == [1, 2, 3]


def test_run_fails_with_a_clear_error_when_no_broker_answers(capsys):
    argv = ["run", "--bootstrap-servers", f"127.0.0.1:{free_port()}", "--connect-timeout", "2"]
    started = time.monotonic()

    assert main([*argv, "--metrics-address", "127.0.0.1:0"]) == 2

    assert "no Kafka broker reachable" in capsys.readouterr().err
    assert time.monotonic() - started < 20


def test_kafka_and_prometheus_clients_are_imported_by_one_module_each():
    importers = collections.defaultdict(list)
    for path in sorted((REPO / "stream").rglob("*.py")):
        source = path.read_text()
        for client in ("kafka", "prometheus_client"):
            if re.search(rf"^\s*(from|import) {client}\b", source, re.MULTILINE):
                importers[client].append(path.relative_to(REPO).as_posix())
    assert importers == {
        "kafka": ["stream/runtime/kafka_io.py"],
        "prometheus_client": ["stream/outputs/metrics.py"],
    }

    # And replaying CSVs loads neither: the live commands import them lazily.
    code = (
        "import sys\nfrom stream.cli import build_parser\nbuild_parser()\n"
        "print(','.join(m for m in ('kafka', 'prometheus_client') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "", loaded.stderr
