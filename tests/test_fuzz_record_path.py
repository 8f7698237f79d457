"""A hypothesis fuzz of the whole record path, in-process: bytes as they come off a topic ->
decode -> pipeline -> score, dead-letter and alert documents -> the alerts topic, Alertmanager
and webhook sinks (posting to a real local HTTP receiver).

Whatever the messages, the runner must neither raise nor fall back to ``processing_error``
(that reason means some code raised on a record), every record must be committed, and every
document it writes must be JSON that names a known reason or carries an ``event_id``.
"""

from __future__ import annotations

import json
import math

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors import DetectorStack
from scripts.lookout_services import AlertWebhookReceiver
from stream.outputs.alert_sinks import AlertmanagerSink, KafkaAlertSink, WebhookSink
from stream.outputs.metrics import LookoutMetrics
from stream.runtime.kafka_io import Record
from stream.runtime.pipeline import Pipeline
from stream.runtime.runner import Runner
from stream.sources.messages import REASONS
from tests.test_live import MemorySender, MemorySource

NOW = 1_700_000_000.0

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([1e308, -1e308, 5e-324, 0, -0.0, 2**63, 2**64, 1e19, 1e20]),
)
times = st.one_of(
    numbers,
    st.floats(min_value=NOW - 86400, max_value=NOW + 7200),  # plausible seconds
    st.floats(min_value=NOW - 86400, max_value=NOW + 7200).map(lambda s: s * 1000),  # epoch ms
    st.floats(min_value=NOW - 86400, max_value=NOW).map(lambda s: int(s * 1e9)),  # epoch ns
    st.sampled_from(
        ["2023-11-14T22:13:20Z", "2023-11-14 22:13:20", "0001-01-01T00:00:00Z", "9999-12-31",
         "yesterday", "", "1e308", "NaN", "-1", "1700000000000"]
    ),
    st.text(max_size=12),
    st.none(),
    st.booleans(),
)  # fmt: skip
values = st.one_of(numbers, st.text(max_size=8), st.none(), st.booleans(), st.just([1]))
series = st.one_of(st.sampled_from(["api", "db", "web"]), st.text(max_size=6), st.integers())
labels = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["team", "__x", "1bad", "ok_name"]), st.text(max_size=4)),
    st.integers(),
)
point = st.fixed_dictionaries(
    {},
    optional={"series": series, "timestamp": times, "value": values, "labels": labels},
)
column = st.fixed_dictionaries(
    {"timestamps": st.lists(times, max_size=6), "values": st.lists(values, max_size=6)},
    optional={"series": series, "labels": labels},
)
document = st.one_of(
    point,
    st.lists(point, max_size=5),
    column,
    st.integers(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
)


def encoded(doc) -> bytes:
    """JSON as a producer might write it: strict (NaN as null) or Python's (NaN literal)."""
    try:
        return json.dumps(doc).encode()  # NaN, Infinity as literals: not JSON
    except (ValueError, OverflowError):
        return orjson.dumps(doc, option=orjson.OPT_PASSTHROUGH_SUBCLASS)


messages = st.lists(
    st.tuples(
        st.one_of(st.none(), st.sampled_from([b"api", b"db", b"\xff\xfe"])),
        st.one_of(document.map(encoded), st.binary(max_size=20), st.none(), st.just(b"")),
    ),
    min_size=1,
    max_size=25,
)
# A steady stream around an incident, so that alerts open and resolve among the fuzz.
STEADY = [
    (b"api", orjson.dumps({"timestamp": NOW - 7200 + 60 * i, "value": v}))
    for i, v in enumerate([10 + math.sin(i / 3) for i in range(30)] + [90.0] * 3 + [10.0] * 5)
]


@pytest.fixture(scope="module")
def receiver():
    with AlertWebhookReceiver() as running:
        yield running


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fuzz=messages, cut=st.integers(min_value=0, max_value=len(STEADY)))
def test_no_message_makes_the_record_path_raise(receiver, fuzz, cut):
    stream = [*STEADY[:cut], *fuzz, *STEADY[cut:]]
    records = [Record("metrics", 0, offset, k, v) for offset, (k, v) in enumerate(stream)]
    log = []
    source, sender = MemorySource(records, log), MemorySender(log)
    runner = Runner(
        source,
        sender,
        Pipeline(lambda: DetectorStack(grace_period=5)),
        LookoutMetrics(),
        sinks=[
            KafkaAlertSink(sender, "alerts"),
            AlertmanagerSink(receiver.url, resend_interval=1.0),
            WebhookSink(receiver.url),
        ],
        dead_letter_topic="dead",
        scores_topic="scores",
        batch_size=7,
        wall_clock=lambda: NOW,
    )

    summary = runner.run(max_messages=len(records))

    assert "processing_error" not in summary.invalid, summary.invalid
    assert source.committed == {("metrics", 0): len(records)}
    for dead in sender.on("dead"):
        assert dead["reason"] in REASONS and dead["reason"] != "other"
    for alert in sender.on("alerts"):
        assert alert["event_id"].startswith(alert["alert_id"])
    for score in sender.on("scores"):
        assert math.isfinite(score["timestamp"]) and 0 <= score["timestamp"] <= NOW + 3600
