"""Warm start and backfill against a real Prometheus holding real data.

Prometheus' own tooling writes the history: 24 hours of a real 1-minute server metric (SMD
machine-1-6, dimension 24; ``tests/data/smd_machine-1-6_d24_head.csv``, MIT, see
``smd_LICENSE.txt``) become OpenMetrics, ``promtool tsdb create-blocks-from openmetrics`` turns
them into TSDB blocks ending three hours ago (older than the head), and Prometheus starts on
them (within its default 15-day retention). Then:

- :class:`PrometheusHistory` reads them back in chunks, equal to the file (Prometheus runs with
  ``--query.max-samples=1000``, so that a chunk of too many samples is read in halves);
- ``lookout backfill`` scores them and writes the scores and the alerts with the labels;
- ``lookout run --history-url`` (real Kafka) warms the series from them: the state holds the
  history's points, ``lookout_series_warming`` is 0 and a spike in the first live points pages,
  with the series' labels, and reaches Prometheus with them (``honor_labels``); the same live
  points without the warm start are still warming up and do not page.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import orjson
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from detectors import DetectorStack
from scripts.lookout_services import Prometheus, ServiceUnavailable, free_port
from stream.cli import main
from stream.runtime.pipeline import Pipeline
from stream.runtime.state_store import SqliteStateStore
from stream.sources.prometheus_history import PrometheusHistory
from tests.services_fixtures import service_unavailable
from tests.test_live import produce_raw, read_topic, scraped

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("services")]

REPO = Path(__file__).resolve().parents[1]
SMD = REPO / "tests" / "data" / "smd_machine-1-6_d24_head.csv"
HISTORY_POINTS = 1440
LABELS = {"instance": "machine-1-6", "job": "smd"}
SERIES = 'smd_cpu{instance="machine-1-6",job="smd"}'  # Prometheus' notation: the default name
LOOKBACK_STEPS = 5  # Prometheus repeats a series' last sample for 5 minutes after it


class SmallQueries(Prometheus):
    """Prometheus that refuses queries of more than 1,000 samples (as its default of 50
    million refuses a range query of many series), so that a 1,440-step read must be split."""

    def command(self, binary, config):
        return [*super().command(binary, config), "--query.max-samples=1000"]


@pytest.fixture(scope="module")
def smd_prometheus(tmp_path_factory):
    """Prometheus on TSDB blocks of the SMD history, which ends 3 hours ago on a minute."""
    promtool = shutil.which("promtool")
    if promtool is None:
        service_unavailable("promtool not installed (apt-get install prometheus)")
    work = tmp_path_factory.mktemp("smd-prometheus")
    values = pd.read_csv(SMD)["value"].to_numpy()
    end = math.floor(time.time() / 60) * 60 - 3 * 3600
    timestamps = end - 60 * np.arange(HISTORY_POINTS)[::-1]
    lines = ["# HELP smd_cpu A real server metric (SMD machine-1-6, dimension 24).",
             "# TYPE smd_cpu gauge"]  # fmt: skip
    lines += [
        f'smd_cpu{{instance="machine-1-6",job="smd"}} {value!r} {int(t)}'
        for t, value in zip(timestamps, values[:HISTORY_POINTS].tolist(), strict=True)
    ]
    (work / "smd.om").write_text("\n".join(lines) + "\n# EOF\n")
    blocks = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(work / "smd.om"),
         str(work / "data")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert blocks.returncode == 0, blocks.stderr
    server = SmallQueries(work, targets=[])
    try:
        server.start()
    except ServiceUnavailable as exc:
        service_unavailable(str(exc))
    yield SimpleNamespace(server=server, end=float(end), values=values, timestamps=timestamps)
    server.stop()


def test_history_is_read_back_in_chunks_equal_to_the_file(smd_prometheus):
    end = smd_prometheus.end
    start = end - 60 * (HISTORY_POINTS - 1)
    chunked = PrometheusHistory(smd_prometheus.server.url, chunk_steps=100)
    chunks = list(chunked.read("smd_cpu", start, end, 60.0))
    assert chunked.requests == len(chunks) == 15  # 1,440 steps, 100 per request

    (series,) = [s for chunk in chunks for s in chunk][:1]
    timestamps = np.concatenate([c[0].timestamps for c in chunks])
    values = np.concatenate([c[0].values for c in chunks])
    assert series.labels == {"__name__": "smd_cpu", **LABELS}
    np.testing.assert_array_equal(timestamps, smd_prometheus.timestamps)
    np.testing.assert_array_equal(values, smd_prometheus.values[:HISTORY_POINTS])

    # One chunk of 1,440 steps is refused (too many samples), its halves are not.
    whole = PrometheusHistory(smd_prometheus.server.url)
    halves = list(whole.read("smd_cpu", start, end, 60.0))
    assert whole.requests == 3 and [len(chunk[0].values) for chunk in halves] == [720, 720]
    np.testing.assert_array_equal(np.concatenate([c[0].values for c in halves]), values)
    # The series' sampling interval, from its raw samples (it ended 3 hours ago).
    assert whole.sampling_interval("smd_cpu", [time.time(), end - 3600]) == 60.0
    assert whole.sampling_interval("rate(smd_cpu[5m])", [end]) is None  # not a selector


def test_backfill_writes_the_scores_and_the_alerts_with_the_series_labels(smd_prometheus, tmp_path):
    out = tmp_path / "backfill"
    code = main(["backfill", "--history-url", smd_prometheus.server.url,
                 "--history-query", "smd_cpu", "--history-lookback", "2d", "--out", str(out),
                 "--grace-period", "100", "--paging-interval", "0"])  # fmt: skip
    assert code == 0
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["series"]) == {SERIES}
    assert len(scores) == HISTORY_POINTS + LOOKBACK_STEPS
    np.testing.assert_allclose(scores["value"][:HISTORY_POINTS], smd_prometheus.values[:1440])
    assert (scores["anomaly_score"][:100] == 0).all()  # warming up: --grace-period 100
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    assert alerts and all(alert["labels"] == LABELS for alert in alerts)
    assert {alert["series"] for alert in alerts} == {SERIES}


def test_a_query_prometheus_refuses_stops_lookout_run_before_it_consumes(smd_prometheus, capsys):
    url = smd_prometheus.server.url
    code = main(["run", "--history-url", url, "--history-query", "smd_cpu +",
                 "--metrics-address", "127.0.0.1:0",
                 "--bootstrap-servers", "127.0.0.1:9"])  # fmt: skip
    assert code == 2
    assert "--history-query: Prometheus answered bad_data" in capsys.readouterr().err


def live_points(end: float) -> list[tuple[bytes, bytes]]:
    """The series' next 20 real points after its history (past Prometheus' lookback), the
    third one a spike far above anything in it."""
    values = pd.read_csv(SMD)["value"].to_numpy()[HISTORY_POINTS : HISTORY_POINTS + 20].copy()
    values[2] = 0.9  # the history stays within [0.17, 0.31]
    first = end + 60 * (LOOKBACK_STEPS + 1)
    return [
        (SERIES.encode(),
         orjson.dumps({"series": SERIES, "timestamp": first + 60 * k, "value": float(value),
                       "labels": LABELS}))
        for k, value in enumerate(values)
    ]  # fmt: skip


def alert_events(bootstrap: str, topic: str) -> list[dict]:
    """The alert events on ``topic``; none when no alert created it."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        exists = topic in consumer.topics()
    finally:
        consumer.close()
    return [orjson.loads(value) for _, value in read_topic(bootstrap, topic)] if exists else []


def run_lookout(tmp_path, bootstrap, topic, history_url, scrape=None):
    """``lookout run`` over ``topic`` until it consumed the 20 messages; its scrape, alerts,
    log and the stored state's points learned."""
    run_id = uuid.uuid4().hex[:8]
    alerts_topic, address = f"alerts-{run_id}", f"127.0.0.1:{free_port()}"
    state = tmp_path / f"state-{run_id}.db"
    prometheus = scrape(address) if scrape is not None else None
    command = [
        sys.executable, "-m", "stream.cli", "run",
        "--bootstrap-servers", bootstrap, "--topic", topic, "--group-id", f"g-{run_id}",
        "--alerts-topic", alerts_topic, "--dead-letter-topic", f"dead-{run_id}",
        "--metrics-address", address, "--state-store", f"sqlite:{state}",
        "--session-timeout", "6", "--poll-timeout", "0.2",
    ]  # fmt: skip
    if history_url:
        command += ["--history-url", history_url, "--history-query", "smd_cpu",
                    "--history-lookback", "2d"]  # fmt: skip
    err = (tmp_path / f"run-{run_id}.err").open("w")
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True)
    deadline = time.monotonic() + 90
    try:
        while True:
            log = (tmp_path / f"run-{run_id}.err").read_text()
            assert process.poll() is None, f"lookout run exited:\n{log[-3000:]}"
            assert time.monotonic() < deadline, f"not consumed:\n{log[-3000:]}"
            try:
                text = scraped(f"http://{address}/metrics")
            except OSError:
                text = ""
            # (A rebalance hands the series' state over and back: no warming sample meanwhile.)
            if "lookout_messages_total 20.0" in text and "lookout_series_warming{" in text:
                break
            time.sleep(0.2)
        in_prometheus = None
        if prometheus is not None:
            in_prometheus = prometheus.wait_for('lookout_series_warming{job="smd"}', timeout=30)
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        err.close()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    pipeline = Pipeline(DetectorStack)
    with SqliteStateStore(state) as store:
        pipeline.restore_series(SERIES, store.get_many([SERIES])[SERIES])
    return SimpleNamespace(
        samples=samples,
        alerts=alert_events(bootstrap, alerts_topic),
        log=(tmp_path / f"run-{run_id}.err").read_text(),
        summary=stdout,
        learned=pipeline.points_learned([SERIES])[0],
        in_prometheus=in_prometheus,
    )


def test_warm_start_pages_on_the_first_live_points_where_a_cold_start_is_still_warming(
    smd_prometheus, kafka_bootstrap, prometheus_factory, tmp_path
):
    topic = f"smd-{uuid.uuid4().hex[:8]}"
    produce_raw(kafka_bootstrap, topic, live_points(smd_prometheus.end))

    def scraping(address):  # a Prometheus that keeps the series' own job and instance
        config = {
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": "lookout", "scrape_interval": "1s",
                                "honor_labels": True,
                                "static_configs": [{"targets": [address]}]}],
        }  # fmt: skip
        return prometheus_factory([], config_text=json.dumps(config))

    warm = run_lookout(tmp_path, kafka_bootstrap, topic, smd_prometheus.server.url, scraping)
    cold = run_lookout(tmp_path, kafka_bootstrap, topic, None)

    key = (("series", SERIES), *sorted(LABELS.items()))
    assert "warm start: history   1445 points of 1 series" in warm.log
    assert warm.learned == HISTORY_POINTS + LOOKBACK_STEPS + 20  # history, then live points
    assert warm.samples[("lookout_series_warming", tuple(sorted(key)))] == 0.0
    (firing,) = [alert for alert in warm.alerts if alert["status"] == "firing"]
    assert firing["value"] == 0.9 and firing["labels"] == LABELS
    # In Prometheus with the series' own labels, so PromQL can join on job and instance.
    assert warm.in_prometheus[0]["metric"]["instance"] == "machine-1-6"
    assert warm.in_prometheus[0]["value"][1] == "0"

    assert cold.learned == 20
    assert cold.samples[("lookout_series_warming", tuple(sorted(key)))] == 1.0
    assert cold.alerts == []
    assert "points    20" in cold.summary and "points    20" in warm.summary
