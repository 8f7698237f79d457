"""Snapshots: restoring mid-stream equals an uninterrupted run; bad data is refused safely."""

import math
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import DetectorStack
from detectors.state import SnapshotError, restore, snapshot


def values(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    out = [100 + 20 * math.sin(i / 30) + rng.gauss(0, 2) for i in range(n)]
    out[n // 2] += 80
    return out


def assessments(stack, stream, start=0):
    # repr() compares floats exactly and treats NaN as equal to NaN.
    return [repr(stack.process(300.0 * (start + i), v)) for i, v in enumerate(stream)]


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(1, 399))
def test_restoring_a_snapshot_mid_stream_equals_an_uninterrupted_run(seed, cut):
    stream = values(400, seed)
    uninterrupted = assessments(DetectorStack(grace_period=50, long_window=200), stream)
    first = DetectorStack(grace_period=50, long_window=200)
    assessments(first, stream[:cut])
    resumed = restore(snapshot(first))
    assert assessments(resumed, stream[cut:], start=cut) == uninterrupted[cut:]


def test_snapshot_is_versioned_json_without_code():
    stack = DetectorStack()
    assessments(stack, values(400, 1))
    document = orjson.loads(snapshot(stack))
    assert document["format"] == "lookout-detector-state" and document["version"] == 1
    assert document["state"]["$o"] == "detectors.stack.DetectorStack"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"format": "pickle"}',
        b'{"format": "lookout-detector-state", "version": 99, "state": null}',
        b'{"format": "lookout-detector-state", "version": 1, '
        b'"state": {"$o": "os.system", "s": {}}}',
        b'{"format": "lookout-detector-state", "version": 1, '
        b'"state": {"$o": "detectors.nothing.Here", "s": {}}}',
        b'{"format": "lookout-detector-state", "version": 1, "state": {"$x": 1}}',
    ],
    ids=["not-json", "wrong-format", "wrong-version", "foreign-class", "unknown-class", "junk"],
)
def test_bad_snapshots_are_refused(payload):
    with pytest.raises(SnapshotError):
        restore(payload)


def test_objects_outside_the_package_cannot_be_snapshotted():
    with pytest.raises(TypeError):
        snapshot(random.Random(1))
