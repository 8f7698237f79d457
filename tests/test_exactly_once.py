"""A crash never re-pages a resolved incident (in-process: a runner "killed" in the middle of a
checkpoint, a second one restoring from the same store; the real-process version with
Alertmanager is in test_live.py).

The restored state is that of the last checkpoint, which may have the alert still open although
its resolution was delivered after it. The second runner must not tell Alertmanager that the
alert fires before it has replayed the partition; every event it repeats carries the same
``event_id`` as the first delivery.
"""

from __future__ import annotations

import math
import uuid

import numpy as np
import orjson
import pandas as pd
import pytest

from detectors import DetectorStack
from scripts.lookout_services import AlertWebhookReceiver
from stream.outputs.alert_sinks import AlertmanagerSink, KafkaAlertSink
from stream.outputs.metrics import LookoutMetrics
from stream.runtime.kafka_io import Record
from stream.runtime.pipeline import Pipeline
from stream.runtime.runner import Runner
from stream.runtime.state_store import SqliteStateStore
from tests.test_state_store import MemorySender, MemorySource

TOPIC = "metrics"
VALUES = [10 + math.sin(i / 3) + (i % 7) * 0.1 for i in range(80)] + [90.0] * 4
VALUES += [10 + math.sin(i / 3) for i in range(40)]  # fires at point 80, resolves at 88


class ReplayingSource(MemorySource):
    """A :class:`MemorySource` that tells its partitions' end offsets, as the Kafka one does."""

    def end_offsets(self, partitions):
        return {
            p: 1 + max(r.offset for r in self.all if (r.topic, r.partition) == p)
            for p in partitions
        }

    def __init__(self, records, **options):
        super().__init__(records, **options)
        self.all = list(records)


class CrashingStore(SqliteStateStore):
    """Killed when the checkpoint of the records up to ``die_at`` is about to be written."""

    def __init__(self, path, die_at):
        super().__init__(path)
        self.die_at = die_at

    def write(self, changes, meta=None):
        if changes.offsets.get((TOPIC, 0), 0) >= self.die_at:
            raise KeyboardInterrupt("kill -9 after the resolve was delivered")
        super().write(changes, meta)


def records() -> list[Record]:
    return [
        Record(
            TOPIC, 0, i, b"api", orjson.dumps({"series": "api", "timestamp": 60.0 * i, "value": v})
        )
        for i, v in enumerate(VALUES)
    ]


def runner(source, sender, store, receiver):
    return Runner(
        source,
        sender,
        Pipeline(lambda: DetectorStack(grace_period=5)),
        LookoutMetrics(),
        sinks=[AlertmanagerSink(receiver.url), KafkaAlertSink(sender, "alerts")],
        batch_size=1,
        state_store=store,
        checkpoint_interval=0.0,
    )


def firing_items(receiver) -> list[dict]:
    now = pd.Timestamp.now(tz="UTC")
    items = [item for post in receiver.notifications for item in post]
    return [item for item in items if pd.Timestamp(item["endsAt"]) > now]


def test_a_crash_after_a_resolve_does_not_tell_alertmanager_the_alert_fires_again(tmp_path):
    path = tmp_path / "state.db"
    with AlertWebhookReceiver() as first_am, AlertWebhookReceiver() as second_am:
        first_sender = MemorySender()
        first = ReplayingSource(records())
        with pytest.raises(KeyboardInterrupt):
            runner(first, first_sender, CrashingStore(path, die_at=89), first_am).run()
        first_events = first_sender.on("alerts")  # flushed before the state write that died
        assert [e["status"] for e in first_events] == ["firing", "resolved"]
        last_post = first_am.notifications[-1]
        assert all(pd.Timestamp(item["endsAt"]) <= pd.Timestamp.now(tz="UTC") for item in last_post)

        # The checkpoint has the alert open (it was written before the resolving point).
        second_sender = MemorySender()
        second = ReplayingSource(records(), committed=first.committed)
        assert first.committed == {(TOPIC, 0): 88}
        summary = runner(second, second_sender, SqliteStateStore(path), second_am).run(
            max_messages=len(second.records)
        )
        assert summary.restored_series == 1
        assert firing_items(second_am) == [], "Alertmanager was told a resolved alert fires"
        resolved = [item for post in second_am.notifications for item in post]
        assert resolved  # the replayed resolution, which Alertmanager already has: no page

        repeated = second_sender.on("alerts")
        assert [e["status"] for e in repeated] == ["resolved"]
        assert repeated[0]["event_id"] == first_events[1]["event_id"]  # consumers drop it
        assert {e["event_id"] for e in first_events + repeated} == {
            f"{first_events[0]['alert_id']}-1-firing",
            f"{first_events[0]['alert_id']}-2-resolved",
        }


def test_an_alert_still_firing_after_the_replay_is_taken_over(tmp_path):
    """The hold ends once the partition is replayed: an alert that is still open then is
    re-sent to Alertmanager (firing, same start), so it does not expire."""
    path = tmp_path / "state.db"
    rng = np.random.default_rng(4)
    still_open = 50 + rng.normal(0, 1, 300)
    still_open[200:] += 30  # from point 200 on; a low exit threshold keeps the alert open
    data = [
        Record(
            TOPIC, 0, i, b"api", orjson.dumps({"series": "api", "timestamp": 60.0 * i, "value": v})
        )
        for i, v in enumerate(still_open[:240].tolist())  # open from 200 to 248
    ]

    def open_runner(source, sender, store, receiver):
        return Runner(
            source,
            sender,
            # paging_interval 0: the 1-minute alert must stay open on a per-point score
            Pipeline(
                lambda: DetectorStack(grace_period=50, exit_threshold=0.001, paging_interval=0.0)
            ),
            LookoutMetrics(),
            sinks=[AlertmanagerSink(receiver.url)],
            batch_size=5,
            state_store=store,
        )

    with AlertWebhookReceiver() as first_am, AlertWebhookReceiver() as second_am:
        first = ReplayingSource(data)
        with pytest.raises(KeyboardInterrupt):
            open_runner(first, MemorySender(), CrashingStore(path, die_at=230), first_am).run()
        assert firing_items(first_am)
        second = ReplayingSource(data, committed=first.committed)
        open_runner(second, MemorySender(), SqliteStateStore(path), second_am).run(
            max_messages=len(second.records)
        )
        taken_over = firing_items(second_am)
        assert taken_over and taken_over[0]["startsAt"] == firing_items(first_am)[0]["startsAt"]


class ClockedSource(ReplayingSource):
    """Moves the runner's clock past the checkpoint interval once, at poll ``tick_at``: one
    checkpoint there, none after it (as with a long --checkpoint-interval)."""

    def __init__(self, records, clock, tick_at, **options):
        super().__init__(records, **options)
        self.clock, self.tick_at = clock, tick_at

    def poll(self, timeout, max_records=None):
        if self.polls + 1 == self.tick_at:
            self.clock[0] += 1000.0
        return super().poll(timeout, max_records)


def test_an_incident_replayed_whole_after_a_crash_is_not_sent_as_firing_again(tmp_path):
    """The checkpoint is from before the incident, and the dead process delivered its firing
    and its resolve: the replay opens and resolves it again, and Alertmanager must get only
    the resolve (a firing would page again for a resolved incident)."""
    path = tmp_path / "state.db"
    with AlertWebhookReceiver() as first_am, AlertWebhookReceiver() as second_am:
        clock = [0.0]
        first = ClockedSource(records(), clock, tick_at=61, crash_after_polls=90)
        first_runner = Runner(
            first,
            MemorySender(),
            Pipeline(lambda: DetectorStack(grace_period=5)),
            LookoutMetrics(),
            sinks=[AlertmanagerSink(first_am.url)],
            batch_size=1,
            state_store=SqliteStateStore(path),
            checkpoint_interval=100.0,
            monotonic=lambda: clock[0],
        )
        with pytest.raises(KeyboardInterrupt):
            first_runner.run()
        assert first.committed == {(TOPIC, 0): 61}
        posts = [item for post in first_am.notifications for item in post]
        assert len(posts) >= 2 and pd.Timestamp(posts[-1]["endsAt"]) < pd.Timestamp.now(tz="UTC")

        second = ReplayingSource(records(), committed=first.committed)
        sender = MemorySender()
        runner(second, sender, SqliteStateStore(path), second_am).run(
            max_messages=len(second.records)
        )
        assert [e["status"] for e in sender.on("alerts")] == ["firing", "resolved"]  # events
        assert firing_items(second_am) == [], "Alertmanager was told a resolved alert fires"
        assert [item for post in second_am.notifications for item in post]  # the resolve


def test_after_a_clean_handover_an_incident_in_the_catch_up_pages(tmp_path):
    """A partition handed over cleanly (a stop, a revocation) has nothing to replay: an
    incident in the records its next owner catches up on reaches Alertmanager as it comes
    (firing, then resolved), not collapsed to a resolve as after a crash."""
    path = tmp_path / "state.db"
    with AlertWebhookReceiver() as first_am, AlertWebhookReceiver() as second_am:
        first = ReplayingSource(records()[:60])
        runner(first, MemorySender(), SqliteStateStore(path), first_am).run(max_messages=60)
        assert SqliteStateStore(path).load_partitions([(TOPIC, 0)]).handed_over == {(TOPIC, 0)}

        second = ReplayingSource(records(), committed=first.committed)
        runner(second, MemorySender(), SqliteStateStore(path), second_am).run(
            max_messages=len(second.records)
        )
        assert firing_items(second_am), "the incident never reached Alertmanager as firing"


@pytest.mark.integration
@pytest.mark.xdist_group("services")
@pytest.mark.parametrize("kind", ["kafka", "sqlite"])
def test_stores_keep_the_handover_mark_until_the_next_checkpoint(kind, tmp_path, request):
    from stream.runtime.kafka_io import TopicAdmin
    from stream.runtime.state_store import KafkaStateStore, StateChanges

    if kind == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        topic = f"handover-{uuid.uuid4().hex[:8]}"
        admin = TopicAdmin(bootstrap)
        admin.create_topic(topic, 2)
        admin.close()
        store = KafkaStateStore(bootstrap, f"{topic}-state", topic)
    else:
        topic, store = TOPIC, SqliteStateStore(tmp_path / "state.db")
    p0, p1 = (topic, 0), (topic, 1)
    try:
        store.write(StateChanges(offsets={p0: 5, p1: 3}, handed_over={p0, p1}))
        store.flush()
        assert store.load_partitions([p0, p1]).handed_over == {p0, p1}
        store.write(StateChanges(offsets={p1: 9}))  # a periodic checkpoint of p1
        store.flush()
        stored = store.load_partitions([p0, p1])
        assert stored.handed_over == {p0} and stored.offsets == {p0: 5, p1: 9}
    finally:
        store.close()
