"""Column messages through the runner: the same scores as point messages, bad elements
dead-lettered one by one, re-deliveries refused."""

from __future__ import annotations

import orjson

from detectors import DetectorStack
from stream.runtime.kafka_io import Record
from stream.runtime.pipeline import Pipeline
from stream.sources.messages import encode_columns
from tests.test_state_store import (
    TOPIC,
    MemorySender,
    MemorySource,
    make_records,
    runner_for,
)


def run(records) -> MemorySender:
    sender = MemorySender()
    # A short warm-up, so that the incident at point 70 of every series alerts.
    pipeline = Pipeline(lambda: DetectorStack(grace_period=20, recalibration_grace=10))
    runner_for(MemorySource(records), sender, None, pipeline=pipeline).run(
        max_messages=len(records)
    )
    return sender


def by_series(documents: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for document in documents:
        out.setdefault(document["series"], []).append(document)
    return out


def test_column_messages_score_like_point_messages():
    points = run(make_records(per_message=25))
    columns = run(make_records(per_message=25, columns=True))

    assert by_series(columns.on("scores")) == by_series(points.on("scores"))
    assert len(columns.on("scores")) == 4 * 150
    assert columns.on("alerts") and columns.on("alerts") == points.on("alerts")
    assert columns.on("dead") == []


def test_bad_elements_are_dead_lettered_one_by_one_and_redelivery_is_refused():
    good = make_records(n_series=1, n_points=50, per_message=50, columns=True)[0]
    bad = encode_columns("s0", [3000.0 + 60 * i for i in range(4)], [1.0, 2.0, 3.0, 4.0])
    document = orjson.loads(bad)
    document["timestamps"][1] = "soon"
    document["values"][2] = None
    records = [
        good,
        Record(TOPIC, 0, 1, b"s0", good.value),  # re-delivered: every point a duplicate
        Record(TOPIC, 0, 2, b"s0", orjson.dumps(document)),
    ]
    sender = run(records)

    dead = sender.on("dead")
    reasons = [(d["reason"], d.get("index")) for d in dead]
    # Decoding rejects first; scoring then refuses the re-delivered points (the last one
    # repeats the last timestamp scored, the others are older).
    assert reasons[:2] == [("bad_timestamp", 1), ("bad_value", 2)]
    assert [reason for reason, _ in reasons[2:]] == ["out_of_order"] * 49 + ["duplicate_timestamp"]
    assert len(sender.on("scores")) == 50 + 2  # the good message and the two valid points
