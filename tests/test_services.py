"""The development services are real and behave: Kafka, Prometheus, Alertmanager, and their CLI."""

from __future__ import annotations

import datetime as dt
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from scripts.lookout_services import (
    Alertmanager,
    AlertWebhookReceiver,
    KafkaBroker,
    Prometheus,
    ServiceUnavailable,
)
from scripts.lookout_services.alertmanager_server import firing_alert
from scripts.lookout_services.network import port_open
from scripts.lookout_services.process import ServerProcess
from tests.services_fixtures import service_unavailable

REPO = Path(__file__).resolve().parents[1]

# Settings from shared/INFRA.md that keep group joins on a test broker quick.
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for value in values:
            producer.send(topic, value)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)


def consume(bootstrap: str, topic: str, count: int, group_id: str | None) -> list[bytes]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20_000,
        **FAST_GROUP,
    )
    received = []
    try:
        for message in consumer:
            received.append(message.value)
            if len(received) == count:
                break
        if group_id is not None:
            consumer.commit()
    finally:
        consumer.close()
    return received


# --- real services ------------------------------------------------------------------------


@pytest.mark.integration
def test_kafka_round_trip_through_a_consumer_group(kafka_bootstrap):
    topic = unique("roundtrip")
    sent = [f"message-{i}".encode() for i in range(20)]

    produce(kafka_bootstrap, topic, sent)
    received = consume(kafka_bootstrap, topic, len(sent), group_id=unique("group"))

    # Three partitions: order holds per partition only, so compare as sets (and count).
    assert sorted(received) == sorted(sent)


@pytest.mark.integration
def test_kafka_restart_on_same_port_keeps_data(kafka_broker):
    topic = unique("durable")
    before = kafka_broker.bootstrap_servers
    produce(before, topic, [b"written before the outage"])

    with kafka_broker.stopped():
        assert not kafka_broker.running
        assert not port_open("127.0.0.1", kafka_broker.port)

    assert kafka_broker.running
    assert kafka_broker.bootstrap_servers == before
    produce(before, topic, [b"written after the outage"])
    received = consume(before, topic, 2, group_id=None)
    assert sorted(received) == [b"written after the outage", b"written before the outage"]


@pytest.mark.integration
def test_prometheus_scrapes_a_client_and_answers_queries(prometheus_factory):
    registry = CollectorRegistry()
    gauge = Gauge("lookout_probe_value", "Test value.", ["series"], registry=registry)
    gauge.labels(series="api.latency").set(42.5)
    exporter, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        prometheus = prometheus_factory([f"127.0.0.1:{exporter.server_port}"])

        first = prometheus.wait_for('lookout_probe_value{series="api.latency"}', timeout=20)
        assert float(first[0]["value"][1]) == 42.5
        assert first[0]["metric"]["job"] == "lookout"

        # A later scrape sees the new value: scraping goes on every second, not once.
        gauge.labels(series="api.latency").set(7.0)
        changed = prometheus.wait_for('lookout_probe_value{series="api.latency"} == 7', timeout=10)
        assert float(changed[0]["value"][1]) == 7.0
    finally:
        exporter.shutdown()
        thread.join(timeout=5)


@pytest.mark.integration
def test_alertmanager_lists_a_posted_alert_until_resolved(alertmanager):
    labels = {"alertname": "LookoutAnomalous", "series": unique("series")}

    alertmanager.post_alerts([firing_alert(labels, {"summary": "value out of band"})])
    listed = alertmanager.alerts(series=labels["series"])

    assert [alert["labels"] for alert in listed] == [labels]
    assert listed[0]["annotations"] == {"summary": "value out of band"}
    assert listed[0]["status"]["state"] == "active"

    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    alertmanager.post_alerts([firing_alert(labels, ends_at=past)])
    assert alertmanager.alerts(series=labels["series"]) == []


@pytest.mark.integration
def test_alertmanager_notifies_a_webhook_of_firing_and_resolved(alertmanager_factory):
    labels = {"alertname": "LookoutAnomalous", "series": unique("series")}

    def about(status):
        def matches(note):
            return note["status"] == status and note["alerts"][0]["labels"] == labels

        return matches

    with AlertWebhookReceiver() as receiver:
        manager = alertmanager_factory(webhook_url=receiver.url)

        manager.post_alerts([firing_alert(labels)])
        firing = receiver.wait_for(about("firing"), timeout=10)
        assert firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"

        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        manager.post_alerts([firing_alert(labels, ends_at=past)])
        resolved = receiver.wait_for(about("resolved"), timeout=10)
        assert resolved["alerts"][0]["status"] == "resolved"


@pytest.mark.integration
def test_cli_serves_until_sigterm_then_stops_the_child(tmp_path):
    if shutil.which("prometheus-alertmanager") is None:
        service_unavailable("prometheus-alertmanager not installed")
    cli = subprocess.Popen(
        [
            *(sys.executable, REPO / "scripts" / "services.py", "alertmanager", "start"),
            *("--workdir", tmp_path / "am", "--webhook-url", "http://127.0.0.1:9/hook"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = cli.stdout.readline()
        assert "ALERTMANAGER_URL=http://127.0.0.1:" in ready, cli.stderr.read()
        port = int(ready.split("ALERTMANAGER_URL=http://127.0.0.1:")[1].split()[0])
        assert port_open("127.0.0.1", port)
        assert "http://127.0.0.1:9/hook" in (tmp_path / "am" / "alertmanager.yml").read_text()

        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=15) == 0
        assert not port_open("127.0.0.1", port)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()


# --- failure paths, no services needed --------------------------------------------------------


def test_unavailable_service_skips_locally_and_fails_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no broker"):
        service_unavailable("no broker")

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no broker"):
        service_unavailable("no broker")


def test_missing_program_is_reported_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServiceUnavailable, match="prometheus: not found.*install_services.sh"):
        Prometheus(tmp_path / "prometheus", targets=["127.0.0.1:9"]).start()


def test_kafka_without_cached_jars_and_no_fetch_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKOUT_CACHE_DIR", str(tmp_path / "empty-cache"))
    broker = KafkaBroker(tmp_path / "kafka", fetch=False)
    with pytest.raises(ServiceUnavailable, match="jars not cached"):
        broker.start()
    assert not broker.running


def test_child_that_exits_during_startup_is_reported_with_its_log(tmp_path):
    child = ServerProcess(
        "crasher",
        [sys.executable, "-c", "print('bad config line 3', flush=True); raise SystemExit(3)"],
        tmp_path / "crasher.log",
    )
    child.start()
    with pytest.raises(ServiceUnavailable, match=r"(?s)exited with code 3.*bad config line 3"):
        child.wait_until_ready(lambda: False, timeout=10)


def test_child_never_ready_times_out_quoting_the_last_probe_error(tmp_path):
    child = ServerProcess(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "s.log"
    )
    child.start()

    def probe():
        raise ConnectionRefusedError("port 1 refused")

    try:
        with pytest.raises(ServiceUnavailable, match="not ready after .*port 1 refused"):
            child.wait_until_ready(probe, timeout=0.5, poll_interval=0.1)
    finally:
        child.stop(timeout=5)


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path):
    ignores_term = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    log = tmp_path / "stubborn.log"
    child = ServerProcess("stubborn", [sys.executable, "-c", ignores_term], log)
    child.start()
    child.wait_until_ready(lambda: "ready" in log.read_text(), timeout=10, poll_interval=0.05)

    child.stop(timeout=0.5)

    assert not child.running
    assert child._popen.returncode == -signal.SIGKILL


def test_every_service_listens_on_loopback_only(tmp_path):
    listeners = KafkaBroker(tmp_path / "k").properties()["listeners"].split(",")
    assert all("//127.0.0.1:" in listener for listener in listeners)

    server = Prometheus(tmp_path / "p")
    prometheus = server.command("prometheus", tmp_path / "p.yml")
    assert f"--web.listen-address=127.0.0.1:{server.port}" in prometheus

    alertmanager = Alertmanager(tmp_path / "a").command("alertmanager", tmp_path / "a.yml")
    assert any(arg.startswith("--web.listen-address=127.0.0.1:") for arg in alertmanager)
    # Without an empty cluster address Alertmanager also listens on 0.0.0.0:9094.
    assert "--cluster.listen-address=" in alertmanager
