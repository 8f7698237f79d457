"""Writes ``series_state_v<N>.json.gz``: a series state in the current format N and what this
version scores next.

Run it at the last commit of a format, before changing the format: ``tests/test_state_upgrade.py``
restores each stored state with the current code and checks that the next scores are the same.
``series_state_v2.json.gz`` was written at commit 3cb9d00, ``series_state_v3.json.gz`` at
86a6bf4 (format 3 lasted until bfdd87d), ``series_state_v4.json.gz`` at f0a8ad5,
``series_state_v5.json.gz`` at 7dc766e, ``series_state_v11.json.gz`` at 1704c7c.
"""

from __future__ import annotations

import base64
import gzip
import sys
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from detectors import DetectorStack  # noqa: E402
from stream.runtime.pipeline import SERIES_STATE_VERSION, Pipeline  # noqa: E402

FIELDS = ("anomaly_score", "onset_score", "alert", "expected", "lower", "upper", "hst_score")


def points(n: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    index = np.arange(start + n)
    t = 1_700_000_000.0 + 300.0 * index
    values = 50 + 20 * np.sin(2 * np.pi * index / 288) + rng.normal(0, 2, start + n)
    values[index % 97 == 0] += 15  # routine blips
    values[(index >= 850) & (index < 880)] += 60  # an incident after the snapshot
    return t[start:], values[start:]


def main() -> None:
    pipeline = Pipeline(DetectorStack)
    t, v = points(700)
    pipeline.push_arrays(["api"] * len(t), t, v)
    state = pipeline.snapshot_series("api")
    t_next, v_next = points(300, start=700)
    batch, refused = pipeline.push_arrays(["api"] * len(t_next), t_next, v_next)
    assert not refused and len(batch) == len(t_next)
    document = {
        "series": "api",
        "state": base64.b64encode(state).decode(),
        "timestamps": t_next.tolist(),
        "values": v_next.tolist(),
        "expected": {name: getattr(batch.results, name).astype(float).tolist() for name in FIELDS},
    }
    out = Path(__file__).with_name(f"series_state_v{SERIES_STATE_VERSION}.json.gz")
    out.write_bytes(gzip.compress(orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY), 9))
    alerts = int(batch.results.alert.sum())
    print(out, out.stat().st_size, "bytes; alert points among the next:", alerts)


if __name__ == "__main__":
    main()
