"""No record stops the live runtime (in-process, in-memory ports; the broker versions are in
test_live.py): what fails while one record is decoded, scored, written or delivered
dead-letters that record as ``processing_error`` and the loop goes on; times from the future
or before 1970 are dead letters that never touch their series."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from detectors import DetectorStack
from stream.outputs.alert_sinks import KafkaAlertSink
from stream.outputs.metrics import LookoutMetrics
from stream.runtime.pipeline import Pipeline
from stream.runtime.runner import Runner
from tests.test_live import MemorySender, MemorySource, point, record

NOW = 1_700_000_000.0  # the runner's wall clock in these tests


class FaultyPipeline(Pipeline):
    """Scoring fails for any batch holding the value 666 (a defect set off by one record),
    after its points were admitted, as a failure inside the detectors would be."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        process = self.bank.process

        def faulty(slots, timestamps, values, threads=1):
            if (np.asarray(values) == 666.0).any():
                raise ZeroDivisionError("a defect set off by 666")
            return process(slots, timestamps, values, threads)

        self.bank.process = faulty


class FlakySink:
    """An alert sink that fails on the alerts of one series (a defect in a sink)."""

    name = "flaky"

    def __init__(self, bad_series: str):
        self.bad_series, self.delivered = bad_series, []

    def send(self, alerts, now):
        if any(alert.event.series == self.bad_series for alert in alerts):
            raise ValueError("cannot deliver")
        self.delivered += alerts

    def adopt(self, alerts, now):
        pass

    def tick(self, now):
        raise RuntimeError("tick defect")  # every loop: must not stop it either

    def close(self, now):
        pass


def runner_over(records, pipeline=None, **options):
    log = []
    source, sender = MemorySource(records, log), MemorySender(log)
    runner = Runner(
        source,
        sender,
        pipeline or Pipeline(lambda: DetectorStack(grace_period=5)),
        LookoutMetrics(),
        dead_letter_topic="dead",
        scores_topic="scores",
        wall_clock=lambda: NOW,
        **options,
    )
    return runner, source, sender


def scored(sender) -> list[tuple[str, float]]:
    return [(s["series"], s["timestamp"]) for s in sender.on("scores")]


def test_a_record_that_breaks_scoring_is_bisected_out_and_the_rest_is_scored():
    good = [record(i, point(NOW - 6000 + 60 * i, 1.0 + i % 3)) for i in range(20)]
    poison = record(20, point(NOW - 6000 + 60 * 20, 666.0))
    later = [record(21 + i, point(NOW - 6000 + 60 * (21 + i), 2.0)) for i in range(9)]
    other = record(30, orjson.dumps({"timestamp": NOW - 60, "value": 5}), key=b"mem")
    records = [*good, poison, *later, other]  # the poison in the middle of the first batch
    runner, source, sender = runner_over(
        records, FaultyPipeline(lambda: DetectorStack(grace_period=5))
    )

    summary = runner.run(max_messages=len(records))

    dead = sender.on("dead")
    assert [(d["reason"], d["source"]["offset"]) for d in dead] == [("processing_error", 20)]
    assert "ZeroDivisionError" in dead[0]["detail"] and "scoring" in dead[0]["detail"]
    assert len(scored(sender)) == 30  # every other point, before and after the poison
    assert ("cpu", NOW - 6000 + 60 * 20) not in scored(sender)
    assert summary.invalid == {"processing_error": 1}
    assert source.committed == {("metrics", 0): 31}


def test_bisection_keeps_the_same_scores_as_a_run_without_the_poison():
    values = [10 + math.sin(i / 3) + 40 * (i == 30) for i in range(60)]
    clean = [record(i, point(NOW - 7200 + 60 * i, v)) for i, v in enumerate(values)]
    with_poison = [*clean[:40], record(40, point(NOW - 7200 + 60 * 40, 666.0))]
    with_poison += [record(41 + i, r.value) for i, r in enumerate(clean[40:])]
    with_poison[41] = record(41, point(NOW - 7200 + 60 * 40, values[40]))  # same time, later

    runner, _, expected = runner_over(clean)
    runner.run(max_messages=len(clean))
    runner, _, sender = runner_over(
        with_poison, FaultyPipeline(lambda: DetectorStack(grace_period=5))
    )
    runner.run(max_messages=len(with_poison))

    assert sender.on("scores") == expected.on("scores")


def test_a_sink_that_fails_on_one_alert_dead_letters_its_record_and_delivers_the_others():
    burst = [10 + math.sin(i / 3) + (i % 7) * 0.1 for i in range(80)] + [90.0] * 4
    burst += [10 + math.sin(i / 3) for i in range(40)]
    records = []
    for i, v in enumerate(burst):
        for series in ("api", "web"):
            value = orjson.dumps({"series": series, "timestamp": NOW - 9000 + 60 * i, "value": v})
            records.append(record(len(records), value, key=series.encode()))
    runner, source, sender = runner_over(records, batch_size=8)
    sink = FlakySink("web")
    runner.sinks = [sink, KafkaAlertSink(sender, "alerts")]

    summary = runner.run(max_messages=len(records))

    alerts = sender.on("alerts")
    assert {a["series"] for a in alerts} == {"api", "web"}  # the other sink got both
    assert {a.event.series for a in sink.delivered} == {"api"}
    dead = sender.on("dead")
    assert dead and {d["reason"] for d in dead} == {"processing_error"}
    assert all(d["source"]["key"] == "web" and "flaky" in d["detail"] for d in dead)
    assert len(dead) == len([a for a in alerts if a["series"] == "web"])
    assert summary.points == len(records)
    assert source.committed == {("metrics", 0): len(records)}


def test_a_record_that_breaks_decoding_is_dead_lettered(monkeypatch):
    import stream.runtime.runner

    real = stream.runtime.runner.decode_message

    def decode(key, value, *args):
        if value == b'{"boom": 1}':
            raise RecursionError("a decoder defect")
        return real(key, value, *args)

    monkeypatch.setattr(stream.runtime.runner, "decode_message", decode)
    records = [
        record(0, point(NOW - 120, 1.0)),
        record(1, b'{"boom": 1}'),
        record(2, point(NOW - 60, 2.0)),
    ]
    runner, source, sender = runner_over(records)

    runner.run(max_messages=3)

    assert [(d["reason"], d["source"]["offset"]) for d in sender.on("dead")] == [
        ("processing_error", 1)
    ]
    assert len(scored(sender)) == 2 and source.committed == {("metrics", 0): 3}


@pytest.mark.parametrize(
    "bad, reason",
    [
        (NOW + 3 * 3600, "future_timestamp"),  # a clock three hours ahead
        ((NOW + 86400 * 365) * 1000, "future_timestamp"),  # epoch ms a year ahead
        (1e308, "bad_timestamp"),
        (-60.0, "bad_timestamp"),
        (float(2**70), "bad_timestamp"),
    ],
)
def test_a_bad_time_is_a_dead_letter_and_never_makes_its_series_refuse_later_points(bad, reason):
    """(Before: one epoch-ms point was scored as the year 55841, and the next 99 good points
    of its series were dead-lettered as out_of_order.)"""
    start = NOW - 200 * 60
    records = [record(i, point(start + 60 * i, 1.0 + i % 4)) for i in range(50)]
    records.append(record(50, orjson.dumps({"timestamp": bad, "value": 101})))
    records += [record(51 + i, point(start + 60 * (50 + i), 1.0 + i % 4)) for i in range(99)]
    runner, source, sender = runner_over(records, batch_size=10)

    summary = runner.run(max_messages=len(records))

    assert [d["reason"] for d in sender.on("dead")] == [reason]
    assert summary.points == 149 and summary.invalid == {reason: 1}
    assert source.committed == {("metrics", 0): 150}


def test_the_future_skew_is_configurable_and_epoch_ms_of_now_is_scored():
    within = NOW + 600  # ten minutes ahead: within the default hour
    records = [
        record(0, point(within, 1.0)),
        record(1, orjson.dumps({"timestamp": (NOW + 700) * 1000, "value": 2})),  # epoch ms
        record(2, orjson.dumps({"timestamps": [NOW + 800, NOW + 7200], "values": [1, 2]})),
    ]
    runner, _, sender = runner_over(records)
    runner.run(max_messages=3)
    assert len(scored(sender)) == 3
    dead = sender.on("dead")
    assert [(d["reason"], d["index"]) for d in dead] == [("future_timestamp", 1)]
    assert dead[0]["point"]["series"] == "cpu"

    runner, _, sender = runner_over(records, max_future_skew=60.0)
    runner.run(max_messages=3)
    assert scored(sender) == [] and len(sender.on("dead")) == 4


def test_a_restore_that_meets_an_unanswering_broker_is_retried_not_fatal(tmp_path):
    """Only infrastructure failures stop the process, and a broker that does not answer for a
    while is waited for: the restore is retried (not ready meanwhile), then scoring goes on."""
    from stream.runtime.kafka_io import KafkaIOError
    from stream.runtime.state_store import SqliteStateStore
    from tests.test_state_store import MemorySender as StoreSender
    from tests.test_state_store import MemorySource as AssigningSource

    class FlakyStore(SqliteStateStore):
        failures = 2

        def load_partitions(self, partitions):
            if self.failures:
                self.failures -= 1
                raise KafkaIOError("reading the state topic took more than 120 s")
            return super().load_partitions(partitions)

    records = [record(i, point(NOW - 6000 + 60 * i, 1.0 + i % 3)) for i in range(20)]
    source = AssigningSource(records)
    store = FlakyStore(tmp_path / "state.db")
    runner = Runner(
        source,
        StoreSender(),
        Pipeline(lambda: DetectorStack(grace_period=5)),
        LookoutMetrics(),
        state_store=store,
        wall_clock=lambda: NOW,
    )
    states = []
    runner._waiting_for_broker = lambda seconds: states.append(runner.ready())

    summary = runner.run(max_messages=20)

    assert store.failures == 0 and len(states) == 2
    assert summary.points == 20 and source.committed == {("metrics", 0): 20}


class Unanswering(MemorySource):
    answers = True

    def answering(self):
        return self.answers


def test_ready_turns_false_while_the_broker_answers_nothing():
    log = []
    source = Unanswering([], log)
    runner = Runner(source, MemorySender(log), Pipeline(), LookoutMetrics())
    runner._running = runner._joined = True
    assert runner.ready()
    source.answers = False
    assert not runner.ready()
    source.answers = True
    assert runner.ready()


def test_a_member_given_no_partitions_is_a_ready_standby_until_it_is_evicted():
    source = Unanswering([], [])
    runner = Runner(source, MemorySender([]), Pipeline(), LookoutMetrics())
    runner._running = True
    assert not runner.ready()  # not a member of the group yet
    runner.on_assigned([])  # more replicas than partitions
    assert runner.ready()
    runner.on_lost([])  # evicted: it must rejoin first
    assert not runner.ready()
