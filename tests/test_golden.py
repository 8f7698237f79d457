"""The detector core's outputs do not move unless an algorithm change means them to.

``tests/data/golden`` holds what the default stack returned for every point of the bundled NAB
demo, of the synthetic scenarios (both whole, as float64) and of the NAB sample in ``../shared``
(hashes and a summary per file), written by ``tests/data/golden/make_golden.py``. A restructure
or a new state layout must reproduce them bit for bit: the comparison is exact (NaN equals
NaN), so no tolerance is stated. Where a change is meant (a new algorithm), the fixture is
written again in the same commit, with the NAB before/after in its message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.data.golden.make_golden import (
    NAB,
    OUTPUTS,
    bundled_series,
    csv_series,
    digest,
    score,
    summary,
)

GOLDEN = Path(__file__).with_name("data") / "golden"


@pytest.fixture(scope="module")
def hashes() -> dict:
    return json.loads((GOLDEN / "hashes.json").read_text())


@pytest.fixture(scope="module")
def bundled() -> dict:
    return {group: score(series) for group, series in bundled_series().items()}


def first_difference(got: np.ndarray, expected: np.ndarray) -> str:
    """Where ``got`` first leaves ``expected`` (NaN equal to NaN), for the failure message."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != expected.shape:
        return f"{len(got)} points instead of {len(expected)}"
    same = (got == expected) | (np.isnan(got) & np.isnan(expected))
    if same.all():
        return ""
    at = int(np.argmax(~same))
    return f"point {at}: {got[at]!r} instead of {expected[at]!r} ({np.sum(~same)} points differ)"


def hash_differences(outputs: dict, golden: dict) -> list[str]:
    """Series whose outputs' hashes changed, with the summary then and now."""
    assert set(outputs) == set(golden)
    differences = []
    for key, fields in outputs.items():
        changed = [n for n in OUTPUTS if digest(fields[n]) != golden[key]["sha256"][n]]
        if changed:
            was = {k: v for k, v in golden[key].items() if k != "sha256"}
            differences.append(f"{key}: {changed} changed; now {summary(fields)}, was {was}")
    return differences


def test_demo_outputs_are_the_golden_ones_point_by_point(bundled, hashes):
    with np.load(GOLDEN / "demo.npz") as stored:
        golden = {name: stored[name] for name in stored.files}
    assert {name.split("::")[0] for name in golden} == set(bundled["demo"])
    differences = []
    for key, fields in bundled["demo"].items():
        for name in OUTPUTS:
            where = first_difference(fields[name], golden[f"{key}::{name}"])
            if where:
                differences.append(f"{key} {name}: {where}")
    assert not differences, "\n".join(differences)
    assert not hash_differences(bundled["demo"], hashes["demo"])


def test_synthetic_outputs_are_the_golden_ones(bundled, hashes):
    differences = hash_differences(bundled["synthetic"], hashes["synthetic"])
    assert not differences, "\n".join(differences)


def test_nab_outputs_are_the_golden_ones(hashes):
    if not NAB.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{NAB} is missing: CI has the NAB sample beside the clone")
        pytest.skip(f"{NAB} not found (only CI and our machines have ../shared)")
    outputs = score({f"nab/{k}": v for k, v in csv_series(NAB).items()})
    differences = hash_differences(outputs, hashes["nab"])
    assert not differences, "\n".join(differences)
