"""State stores, checkpoints and ``replay --resume``.

Unit tests: the SQLite store, the checkpoint order (outputs -> state -> offsets), revocation,
loss and restore, a runner killed mid-stream whose successor restores the state and scores as an
uninterrupted run, and a replay interrupted (by an exception, and by ``kill -9``) then resumed to
byte-identical outputs. Integration tests (real broker): the Kafka state topic's layout.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from detectors import DetectorStack
from stream.cli import main
from stream.outputs.metrics import LookoutMetrics
from stream.runtime.kafka_io import DeliveryError, Record
from stream.runtime.pipeline import Pipeline
from stream.runtime.runner import Runner
from stream.runtime.state_store import (
    KafkaStateStore,
    SqliteStateStore,
    StateChanges,
    StateStoreError,
    default_state_topic,
    open_state_store,
)
from stream.sources.messages import encode_columns

REPO = Path(__file__).resolve().parents[1]
TOPIC = "metrics"
P0, P1 = (TOPIC, 0), (TOPIC, 1)


def stack() -> DetectorStack:
    return DetectorStack(grace_period=20, cooldown=0, paging_interval=0.0)


# --- SQLite store ---------------------------------------------------------------------------


def test_sqlite_store_keeps_states_and_offsets_per_partition(tmp_path):
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.write(
            StateChanges(
                puts={"a": (P0, b"A" * 1000), "b": (P1, b"B"), "c": (P0, b"C")},
                offsets={P0: 10, P1: 3},
            )
        )
        store.write(StateChanges(puts={"a": (P0, b"A2")}, deletes={"c": P0}, offsets={P0: 12}))
    with SqliteStateStore(path) as store:  # durable across processes
        p0 = store.load_partitions([P0])
        assert p0.states == {"a": b"A2"} and p0.partitions == {"a": P0}
        assert p0.offsets == {P0: 12}
        both = store.load_partitions([P0, P1])
        assert both.states == {"a": b"A2", "b": b"B"} and both.offsets == {P0: 12, P1: 3}
        assert store.get_many(["b", "c", "zzz"]) == {"b": b"B"}
        store.delete_many({"a": P0})
        assert store.load_partitions([P0]).states == {}
        assert store.series_count() == 1


def test_sqlite_store_writes_a_checkpoint_atomically(tmp_path):
    store = SqliteStateStore(tmp_path / "state.db")
    store.write(StateChanges(puts={"a": (P0, b"old")}, offsets={P0: 1}))
    bad = StateChanges(puts={"a": (P0, b"new")}, offsets={P0: 2})
    bad.puts["b"] = (P0, None)  # not bytes: fails in the middle of the transaction
    with pytest.raises(TypeError):
        store.write(bad)
    stored = store.load_partitions([P0])
    assert stored.states == {"a": b"old"} and stored.offsets == {P0: 1}


def test_sqlite_store_compresses_and_refuses_what_it_did_not_write(tmp_path):
    state = np.random.default_rng(0).normal(size=2000).round(2).tobytes() * 4
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.put_many({"a": (P0, state)})
        assert store.get_many(["a"])["a"] == state
        (stored_size,) = store._db.execute("SELECT length(state) FROM series_state").fetchone()
    assert stored_size < len(state) / 2

    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StateStoreError):
        SqliteStateStore(tmp_path / "junk.db")
    with SqliteStateStore(path) as store:
        store._db.execute("UPDATE series_state SET state = x'01ffffffffffffffffdeadbeef'")
        with pytest.raises(StateStoreError, match="corrupt"):
            store.get_many(["a"])


def test_sqlite_store_can_be_written_from_a_rebalance_thread(tmp_path):
    store = SqliteStateStore(tmp_path / "state.db")
    thread = threading.Thread(target=store.put_many, args=({"a": (P0, b"x")},))
    thread.start()
    thread.join()
    assert store.get_many(["a"]) == {"a": b"x"}


def test_state_store_spec():
    assert open_state_store("none", topic="m", group_id="g", bootstrap_servers="") is None
    assert default_state_topic("metrics", "lookout") == "metrics.lookout.lookout-state"
    for bad in ("redis:x", "sqlite", "kafka:bad topic!", "none:x"):
        with pytest.raises(StateStoreError):
            open_state_store(bad, topic="m", group_id="g", bootstrap_servers="")
    with pytest.raises(StateStoreError, match="--state-store kafka:TOPIC"):
        default_state_topic("metrics", "group with spaces")


# --- checkpoint and runner with in-memory ports ---------------------------------------------


class MemorySource:
    """A consumer over records of several partitions, from committed offsets on, that assigns
    its partitions at the first poll and can be made to crash or to refuse commits."""

    def __init__(self, records, committed=None, crash_after_polls=None, refuse_commits=False):
        self.committed = dict(committed or {})
        self.records = [
            r for r in records if r.offset >= self.committed.get((r.topic, r.partition), 0)
        ]
        self.partitions = sorted({(r.topic, r.partition) for r in records})
        self.crash_after_polls = crash_after_polls
        self.refuse_commits = refuse_commits
        self.on_revoked = self.on_assigned = self.on_lost = None
        self.polls = self.empty_polls = 0
        self.log = []

    def poll(self, timeout, max_records=None):
        if self.polls == 0:
            self.on_assigned(self.partitions)
        self.polls += 1
        if self.crash_after_polls is not None and self.polls > self.crash_after_polls:
            raise KeyboardInterrupt("kill -9")
        batch = self.records[: max_records or 500]
        del self.records[: len(batch)]
        self.empty_polls = 0 if batch else self.empty_polls + 1
        assert self.empty_polls < 100, "the runner keeps polling an exhausted source"
        return batch

    def commit(self, offsets):
        self.log.append(("commit", dict(offsets)))
        if self.refuse_commits:
            return False
        self.committed.update(offsets)
        return True

    def commit_async(self, offsets):
        self.log.append(("commit_async", dict(offsets)))
        self.committed.update(offsets)

    def assignment(self):
        return set(self.partitions)

    def lags(self):
        return {}

    def close(self):
        pass


class MemorySender:
    def __init__(self, log=None):
        self.log = log if log is not None else []
        self.queued, self.delivered = [], []

    def send(self, topic, key, value):
        self.queued.append((topic, key, value))

    def flush(self):
        self.log.append(("flush", len(self.queued)))
        self.delivered += self.queued
        self.queued = []

    def close(self):
        pass

    def on(self, topic):
        return [orjson.loads(value) for t, _, value in self.delivered if t == topic]


class LoggingStore(SqliteStateStore):
    def __init__(self, path, log):
        super().__init__(path)
        self.log = log

    def write(self, changes, meta=None):
        self.log.append(("state", sorted(changes.puts), sorted(changes.deletes), changes.offsets))
        super().write(changes, meta)


def series_values(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    # An incident at a fixed place (so that a longer stream extends a shorter one), for alerts.
    return [100 + 10 * math.sin(i / 9) + rng.gauss(0, 1) + 60 * (i == 70) for i in range(n)]


def make_records(
    n_series: int = 4, n_points: int = 150, per_message: int = 1, columns: bool = False
) -> list[Record]:
    """Series s on partition s % 2, messages of ``per_message`` points (point objects, or
    column messages with ``columns``), in time order."""
    offsets = {0: 0, 1: 0}
    records = []
    data = {f"s{s}": series_values(n_points, s) for s in range(n_series)}
    for start in range(0, n_points, per_message):
        for s in range(n_series):
            name, partition = f"s{s}", s % 2
            points = [
                {"timestamp": 60.0 * i, "value": data[name][i]}
                for i in range(start, min(start + per_message, n_points))
            ]
            if columns:
                value = encode_columns(
                    name, [p["timestamp"] for p in points], [p["value"] for p in points]
                )
            else:
                value = orjson.dumps(points[0] if per_message == 1 else points)
            records.append(Record(TOPIC, partition, offsets[partition], name.encode(), value))
            offsets[partition] += 1
    return records


def runner_for(source, sender, store, interval=0.0, pipeline=None):
    return Runner(
        source,
        sender,
        pipeline or Pipeline(stack),
        LookoutMetrics(),
        sinks=alerts_topic_sink(sender),
        dead_letter_topic="dead",
        scores_topic="scores",
        batch_size=7,
        state_store=store,
        checkpoint_interval=interval,
    )


def alerts_topic_sink(sender):
    from stream.outputs.alert_sinks import KafkaAlertSink

    return [KafkaAlertSink(sender, "alerts")]


def scores_by_series(documents) -> dict[str, dict[float, float]]:
    """series -> timestamp -> score; every repeated score must equal the first one."""
    out: dict[str, dict[float, float]] = {}
    for doc in documents:
        seen = out.setdefault(doc["series"], {})
        previous = seen.setdefault(doc["timestamp"], doc["anomaly_score"])
        assert previous == doc["anomaly_score"], doc
    return out


_UNINTERRUPTED: dict[bytes, MemorySender] = {}


def uninterrupted(records) -> MemorySender:
    """The outputs of one runner over ``records`` without a fault (computed once per input)."""
    key = orjson.dumps([(r.partition, r.offset, r.value.decode()) for r in records])
    if key not in _UNINTERRUPTED:
        sender = MemorySender()
        runner_for(MemorySource(records), sender, None).run(max_messages=len(records))
        _UNINTERRUPTED[key] = sender
    return _UNINTERRUPTED[key]


def test_checkpoint_order_is_outputs_then_state_then_offsets(tmp_path):
    log = []
    records = make_records(n_series=2, n_points=10)
    source, sender = MemorySource(records), MemorySender(log)
    source.log = log
    store = LoggingStore(tmp_path / "s.db", log)
    runner_for(source, sender, store).run(max_messages=len(records))

    states = [i for i, entry in enumerate(log) if entry[0] == "state"]
    assert states
    for i in states:
        assert log[i - 1][0] == "flush" and log[i + 1][0] == "commit"
        assert log[i][3] == log[i + 1][1]  # the state vouches for exactly the committed offsets
    assert log[states[0]][1] == ["s0", "s1"]  # touched series
    stored = SqliteStateStore(tmp_path / "s.db").load_partitions([P0, P1])
    assert sorted(stored.states) == ["s0", "s1"]
    assert stored.offsets == source.committed == {P0: 10, P1: 10}


@pytest.mark.parametrize("per_message", [1, 5])
@pytest.mark.parametrize("killed_at", [0.1, 0.5, 0.9])
def test_killed_runner_is_replaced_by_one_that_scores_as_if_nothing_happened(
    tmp_path, killed_at, per_message
):
    records = make_records(per_message=per_message)
    reference = uninterrupted(records)
    expected = scores_by_series(reference.on("scores"))
    path = tmp_path / "state.db"

    first_sender = MemorySender()
    polls = math.ceil(len(records) / 7)
    first = MemorySource(records, crash_after_polls=max(1, int(polls * killed_at)))
    with pytest.raises(KeyboardInterrupt):
        runner_for(first, first_sender, SqliteStateStore(path), interval=0.0).run()
    assert 0 < sum(first.committed.values()) < len(records)

    second_sender = MemorySender()
    second = MemorySource(records, committed=first.committed)
    summary = runner_for(second, second_sender, SqliteStateStore(path)).run(
        max_messages=len(second.records)
    )
    assert summary.restored_series == 4
    assert summary.invalid == {}  # nothing re-scored, so no duplicate is refused
    scores = first_sender.on("scores") + second_sender.on("scores")
    assert scores_by_series(scores) == expected
    alerts = {(a["alert_id"], a["status"]) for a in first_sender.on("alerts")}
    alerts |= {(a["alert_id"], a["status"]) for a in second_sender.on("alerts")}
    assert alerts == {(a["alert_id"], a["status"]) for a in reference.on("alerts")}


class TornStore(SqliteStateStore):
    """Dies in the middle of a checkpoint's write, as a process killed while producing to the
    state topic: some series states are stored, the partition offsets are not."""

    def __init__(self, path, die_at_write):
        super().__init__(path)
        self.writes, self.die_at_write = 0, die_at_write

    def write(self, changes, meta=None):
        self.writes += 1
        if self.writes == self.die_at_write:
            before = self.offsets()
            torn = dict(sorted(changes.puts.items())[: len(changes.puts) // 2])
            super().write(StateChanges(puts=torn, offsets=changes.offsets), meta)
            super().write(StateChanges(offsets=before))  # the partition offsets never made it
            raise KeyboardInterrupt("kill -9 while writing state")
        super().write(changes, meta)


def test_a_checkpoint_torn_by_a_crash_neither_scores_twice_nor_refuses_points(tmp_path):
    records = make_records()
    expected = scores_by_series(uninterrupted(records).on("scores"))
    path = tmp_path / "state.db"
    first_sender = MemorySender()
    first = MemorySource(records)
    with pytest.raises(KeyboardInterrupt):
        runner_for(first, first_sender, TornStore(path, die_at_write=20)).run()

    second_sender = MemorySender()
    second = MemorySource(records, committed=first.committed)
    summary = runner_for(second, second_sender, SqliteStateStore(path)).run(
        max_messages=len(second.records)
    )
    assert summary.skipped_points > 0  # points of the series stored ahead of the offsets
    assert summary.invalid == {}
    scores = first_sender.on("scores") + second_sender.on("scores")
    assert scores_by_series(scores) == expected


def test_records_behind_the_stored_state_are_skipped_not_scored_twice(tmp_path):
    # The group refuses every commit (a rebalance storm): the state is checkpointed, the offsets
    # are not, so the successor is re-delivered everything the state already holds.
    records = make_records(n_series=2, n_points=40)
    path = tmp_path / "state.db"
    first_sender = MemorySender()
    first = MemorySource(records, refuse_commits=True)
    runner_for(first, first_sender, SqliteStateStore(path)).run(max_messages=50)
    assert first.committed == {}

    more = make_records(n_series=2, n_points=60)
    second_sender = MemorySender()
    summary = runner_for(MemorySource(more), second_sender, SqliteStateStore(path)).run(
        max_messages=len(more) - 50, max_seconds=60
    )
    assert summary.skipped == 50 and summary.messages == len(more) - 50
    assert summary.invalid == {}
    scores = first_sender.on("scores") + second_sender.on("scores")
    assert len(scores) == len(more)
    assert scores_by_series(scores) == scores_by_series(uninterrupted(more).on("scores"))


def test_revocation_checkpoints_then_hands_the_series_over(tmp_path):
    log = []
    records = make_records(n_series=4, n_points=10)
    source, sender = MemorySource(records), MemorySender(log)
    source.log = log
    store = LoggingStore(tmp_path / "s.db", log)
    runner = runner_for(source, sender, store, interval=3600)
    runner.on_assigned([P0, P1])
    runner.process_batch(source.poll(1.0, 20))
    assert sorted(runner.pipeline.series_ids()) == ["s0", "s1", "s2", "s3"]

    source.on_revoked([P1])  # what kafka-python calls in a rebalance

    assert [entry[0] for entry in log[-3:]] == ["flush", "state", "commit_async"]
    assert log[-2][1] == ["s1", "s3"] and log[-1][1] == {P1: 10}
    assert sorted(runner.pipeline.series_ids()) == ["s0", "s2"]
    assert runner.checkpoint.pending == {P0: 10}
    assert sorted(store.load_partitions([P1]).states) == ["s1", "s3"]
    assert store.load_partitions([P0]).states == {}  # P0 is not checkpointed yet

    # A batch fetched before the revocation is not scored here any more.
    runner.process_batch([Record(TOPIC, 1, 10, b"s1", b'{"timestamp": 600, "value": 1}')])
    assert "s1" not in runner.pipeline.series_ids()


class StateKeepingSink:
    """A sink that keeps a receiver's state (as Alertmanager's does), recording its calls."""

    name, keeps_state = "state-keeping", True

    def __init__(self):
        self.released = []

    def send(self, alerts, now):
        pass

    adopt = resume = send

    def release(self, series, now):
        self.released.append(sorted(series))

    def tick(self, now):
        pass

    def close(self, now):
        pass


@pytest.mark.parametrize("how", ["revoked", "lost"])
def test_series_given_away_are_released_from_state_keeping_sinks(tmp_path, how):
    records = make_records(n_series=4, n_points=10)
    source, sender = MemorySource(records), MemorySender()
    runner = runner_for(source, sender, SqliteStateStore(tmp_path / "s.db"), interval=3600)
    sink = StateKeepingSink()
    runner.sinks.append(sink)
    runner.on_assigned([P0, P1])
    runner.process_batch(source.poll(1.0, 20))

    getattr(source, f"on_{how}")([P1])  # what kafka-python calls in a rebalance

    assert sink.released == [["s1", "s3"]]  # their new owner re-sends their alerts


def test_lost_partitions_are_dropped_without_writing_anything(tmp_path):
    log = []
    records = make_records(n_series=2, n_points=10)
    source, sender = MemorySource(records), MemorySender(log)
    source.log = log
    runner = runner_for(source, sender, LoggingStore(tmp_path / "s.db", log), interval=3600)
    runner.on_assigned([P0, P1])
    runner.process_batch(source.poll(1.0, 20))
    del log[:]

    source.on_lost([P0])

    assert log == []
    assert runner.pipeline.series_ids() == ["s1"] and runner.checkpoint.pending == {P1: 10}


def test_after_a_failed_delivery_nothing_is_committed_even_when_revoked(tmp_path):
    class FailingSender(MemorySender):
        def flush(self):
            if self.queued:
                raise DeliveryError("broker gone")

    log = []
    records = make_records(n_series=2, n_points=5)
    source = MemorySource(records)
    source.log = log
    store = LoggingStore(tmp_path / "s.db", log)
    runner = runner_for(source, FailingSender(log), store)
    runner.consumer.close = lambda: source.on_revoked(source.partitions)  # like kafka-python
    with pytest.raises(DeliveryError):
        runner.run()
    assert [entry for entry in log if entry[0] in ("state", "commit", "commit_async")] == []
    assert SqliteStateStore(tmp_path / "s.db").load_partitions([P0, P1]).states == {}


def test_idle_series_are_deleted_from_the_store_at_the_next_checkpoint(tmp_path):
    clock = {"now": 0.0}
    store = SqliteStateStore(tmp_path / "s.db")
    source, sender = MemorySource(make_records(n_series=2, n_points=3)), MemorySender()
    pipeline = Pipeline(stack, idle_ttl=60, clock=lambda: clock["now"])
    runner = runner_for(source, sender, store, pipeline=pipeline)
    runner.on_assigned([P0, P1])
    runner.process_batch(source.poll(1.0, 6))
    runner.checkpoint.commit()
    assert sorted(store.load_partitions([P0, P1]).states) == ["s0", "s1"]

    clock["now"] = 120.0
    runner.housekeeping()
    runner.checkpoint.commit()

    assert store.load_partitions([P0, P1]).states == {}
    assert runner.summary.evicted == 2


def test_without_a_store_a_rebalance_keeps_the_partitions_that_stay(tmp_path):
    records = make_records(n_series=2, n_points=5)
    source, sender = MemorySource(records), MemorySender()
    runner = runner_for(source, sender, None, interval=3600)
    runner.on_assigned([P0, P1])
    runner.process_batch(source.poll(1.0, 10))

    source.on_revoked([P0, P1])  # an eager rebalance revokes everything...
    source.on_assigned([P0])  # ...and gives some back
    runner.restore_assigned()

    assert runner.pipeline.series_ids() == ["s0"]
    assert source.log[-1] == ("commit_async", {P0: 5, P1: 5})

    source.on_revoked([P0])
    source.on_assigned([])  # more members than partitions: none for this one
    runner.restore_assigned()
    assert runner.pipeline.series_ids() == [] and not runner.ready()


# --- replay --resume ------------------------------------------------------------------------


def write_inputs(folder: Path, n: int = 900) -> None:
    """Two NAB files and a long-format file whose series also appear in two files."""
    folder.mkdir(parents=True, exist_ok=True)
    stamps = pd.date_range("2024-01-01", periods=n, freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    for name, seed in (("a.csv", 1), ("b.csv", 2)):
        pd.DataFrame({"timestamp": stamps, "value": series_values(n, seed)}).to_csv(
            folder / name, index=False
        )
    long = pd.DataFrame(
        {
            "series": ["x", "y"] * (n // 2),
            "timestamp": np.repeat(stamps[: n // 2], 2),
            "value": series_values(n, 3),
        }
    )
    (folder / "z").mkdir(exist_ok=True)
    text = long.to_csv(index=False).splitlines()
    text.insert(7, "x,not-a-time,1.0")  # a parse-time reject inside a resumed file
    (folder / "z" / "long.csv").write_text("\n".join(text) + "\n")


def outputs(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


REPLAY_OPTIONS = ["--grace-period", "50", "--cooldown", "0", "--no-progress"]


@pytest.fixture(scope="module")
def replay_inputs(tmp_path_factory):
    data = tmp_path_factory.mktemp("inputs")
    write_inputs(data)
    reference = tmp_path_factory.mktemp("reference")
    assert main(["replay", str(data), "--out", str(reference), *REPLAY_OPTIONS]) == 0
    return data, outputs(reference)


@pytest.mark.parametrize("stop_after_rows", [150, 1350, 2600])
def test_interrupted_replay_resumes_to_the_same_outputs(
    tmp_path, monkeypatch, replay_inputs, stop_after_rows
):
    data, expected = replay_inputs
    out, state = tmp_path / "out", tmp_path / "state.db"
    argv = ["replay", str(data), "--out", str(out), "--resume", str(state), *REPLAY_OPTIONS]
    argv += ["--checkpoint-rows", "200"]

    real_admit_arrays = Pipeline.admit_arrays
    calls = {"points": 0}

    def interrupted(self, series, timestamps, values):
        calls["points"] += len(series)  # replay admits a chunk of rows at a time
        if calls["points"] > stop_after_rows:
            raise KeyboardInterrupt
        return real_admit_arrays(self, series, timestamps, values)

    monkeypatch.setattr(Pipeline, "admit_arrays", interrupted)
    assert main(argv) == 130
    assert calls["points"] > stop_after_rows  # the interruption happened
    monkeypatch.setattr(Pipeline, "admit_arrays", real_admit_arrays)

    assert main(argv) == 0
    assert outputs(out) == expected
    assert main(argv) == 0  # resuming a finished replay changes nothing
    assert outputs(out) == expected


def test_resume_refuses_a_checkpoint_of_another_replay(tmp_path, replay_inputs, capsys):
    data, _ = replay_inputs
    out, state = tmp_path / "out", tmp_path / "state.db"
    argv = ["replay", str(data), "--out", str(out), "--resume", str(state), "--no-progress"]
    assert main([*argv, "--grace-period", "50"]) == 0
    assert main([*argv, "--grace-period", "60"]) == 2
    assert "another replay" in capsys.readouterr().err


def test_replay_killed_at_random_moments_resumes_to_the_same_outputs(tmp_path, replay_inputs):
    data, expected = replay_inputs
    out, state = tmp_path / "out", tmp_path / "state.db"
    command = [sys.executable, "-m", "stream.cli", "replay", str(data), "--out", str(out)]
    command += ["--resume", str(state), "--checkpoint-rows", "100", *REPLAY_OPTIONS]
    rng = random.Random(int(os.environ.get("LOOKOUT_TEST_SEED", "5")))
    kills = 0
    while True:
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
        # Kill it a random number of checkpoints later (each run first catches up, restoring).
        target = _checkpoints(state) + rng.randint(1, 4) if kills < 3 else None
        deadline = time.monotonic() + 60
        while process.poll() is None and target is not None:
            assert time.monotonic() < deadline, "no progress"
            if _checkpoints(state) >= target:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        returncode = process.wait(timeout=60)
        if returncode == 0:
            break
        assert returncode == -signal.SIGKILL
        kills += 1
    assert kills == 3, "the replay finished before it was killed three times"
    assert "resumed" in process.stdout.read()
    assert outputs(out) == expected


def _checkpoints(path: Path) -> int:
    try:
        with SqliteStateStore(path) as store:
            text = store.meta("replay")
    except StateStoreError:
        return 0
    if text is None:
        return 0
    files = orjson.loads(text)["files"]
    return sum(entry["rows"] for entry in files.values()) // 100


# --- Kafka state topic (real broker) --------------------------------------------------------


@pytest.mark.integration
def test_kafka_state_topic_is_compacted_and_follows_the_input_partitions(kafka_bootstrap):
    from stream.runtime.kafka_io import Producer, TopicAdmin

    run_id = uuid.uuid4().hex[:8]
    input_topic, state_topic = f"input-{run_id}", f"state-{run_id}"
    admin = TopicAdmin(kafka_bootstrap)
    admin.create_topic(input_topic, 4)
    store = KafkaStateStore(kafka_bootstrap, state_topic, input_topic)
    try:
        p = lambda n: (input_topic, n)  # noqa: E731
        store.write(
            StateChanges(
                puts={"a": (p(3), b"A" * 5000), "b": (p(1), b"B"), "c": (p(3), b"C")},
                offsets={p(3): 7, p(1): 2},
            )
        )
        store.flush()
        store.write(StateChanges(puts={"a": (p(3), b"A2")}, deletes={"c": p(3)}, offsets={p(3): 9}))
        store.flush()

        assert admin.partition_count(state_topic) == 4
        assert admin.topic_config(state_topic)["cleanup.policy"] == "compact"
        p3 = store.load_partitions([p(3)])
        assert p3.states == {"a": b"A2"} and p3.offsets == {p(3): 9}
        assert p3.partitions == {"a": p(3)}
        everything = store.load_partitions([p(0), p(1), p(2), p(3)])
        assert everything.states == {"a": b"A2", "b": b"B"}
        assert everything.offsets == {p(3): 9, p(1): 2}
        assert store.get_many(["b", "c"]) == {"b": b"B"}
        with pytest.raises(StateStoreError):
            store.write(StateChanges(puts={"x": (("other-topic", 0), b"")}))

        # A state topic with fewer partitions than the input cannot hold its state.
        small = f"small-{run_id}"
        admin.create_topic(small, 2)
        narrow = KafkaStateStore(kafka_bootstrap, small, input_topic)
        with pytest.raises(StateStoreError, match="fewer"):
            narrow.load_partitions([p(0)])
        narrow.close()

        # Restores read past records that are not Lookout's (e.g. a stray producer).
        producer = Producer(kafka_bootstrap)
        producer.send(state_topic, b"garbage", b"{}", partition=3)
        producer.flush()
        producer.close()
        assert store.load_partitions([p(3)]).states == {"a": b"A2"}
    finally:
        store.close()
        admin.close()


def test_an_alert_firing_at_a_crash_keeps_firing_in_alertmanager(tmp_path):
    """The next runner takes over an alert the dead one left firing: it re-sends it to
    Alertmanager with the same labels and start (so the same alert), instead of letting it
    resolve when its last lease ends; the alerts topic gets no second firing event."""
    from scripts.lookout_services import AlertWebhookReceiver
    from stream.outputs.alert_sinks import AlertmanagerSink, KafkaAlertSink

    rng = np.random.default_rng(4)
    values = 50 + rng.normal(0, 1, 300)
    values[200:] += 30  # from point 200 on; a low exit threshold keeps the alert open
    records = [
        Record(
            TOPIC,
            0,
            i,
            b"api",
            orjson.dumps(
                {"series": "api", "timestamp": 60.0 * i, "value": v, "labels": {"team": "web"}}
            ),
        )
        for i, v in enumerate(values.tolist())
    ]
    path = tmp_path / "state.db"

    def runner(source, sender, receiver):
        return Runner(
            source,
            sender,
            Pipeline(
                lambda: DetectorStack(grace_period=50, exit_threshold=0.001, paging_interval=0.0)
            ),
            LookoutMetrics(),
            sinks=[AlertmanagerSink(receiver.url), KafkaAlertSink(sender, "alerts")],
            batch_size=7,
            state_store=SqliteStateStore(path),
            checkpoint_interval=0.0,
        )

    with AlertWebhookReceiver() as first_am, AlertWebhookReceiver() as second_am:
        first_sender = MemorySender()
        first = MemorySource(records, crash_after_polls=225 // 7)  # the alert is open 200-248
        with pytest.raises(KeyboardInterrupt):
            runner(first, first_sender, first_am).run()
        [fired] = [a for a in first_sender.on("alerts") if a["status"] == "firing"]
        assert pd.Timestamp(fired["start"]).timestamp() == 200 * 60
        sent_before = [item for post in first_am.notifications for item in post]
        assert sent_before and sent_before[-1]["labels"]["team"] == "web"

        second_sender = MemorySender()
        second = MemorySource(records, committed=first.committed)
        runner(second, second_sender, second_am).run(max_messages=1)
        taken_over = [item for post in second_am.notifications for item in post]
        assert taken_over, "the restarted runner told Alertmanager nothing"
        assert taken_over[0]["labels"] == sent_before[-1]["labels"]
        assert taken_over[0]["startsAt"] == sent_before[-1]["startsAt"]
        assert pd.Timestamp(taken_over[0]["endsAt"]) > pd.Timestamp.now(tz="UTC")  # firing
        assert not [a for a in second_sender.on("alerts") if a["status"] == "firing"]
