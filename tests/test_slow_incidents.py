"""The slow incident kinds of ``detectors.kernel.INCIDENTS``: a leak (``leak``: a steady climb
over hours) and a disk filling up (``fill``: a steady climb over an hour) are found on seeded
series within a stated time, and never raised by noise, a daily cycle, or the fleet's quiet
memory and disk series with their slow growth and cycles."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.bank import StackBank
from detectors.parts import fill, leak, trend
from sim.fleet import render, series_spec

DAY = 86400.0


def _run(t, v):
    bank = StackBank()
    results = bank.process(np.full(len(t), bank.add_series()), t, v)
    return bank, results


def _raised_by(bank, results, name: str) -> np.ndarray:
    bit = bank.detector_names.index(name)
    return (results.agreeing.astype(np.int64) >> bit & 1).astype(bool)


def _memory(step: float, days: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A process' memory in bytes: 8 GB, a daily cycle of 40 MB, noise of 4 MB."""
    rng = np.random.default_rng(seed)
    t = 1.7e9 + step * np.arange(int(days * DAY / step))
    v = 8e9 + 4e7 * np.sin(2 * np.pi * t / DAY) + rng.normal(0.0, 4e6, len(t))
    return t, v


def test_a_leak_is_raised_within_six_hours():
    """A leak of 80 MB an hour (20 noise sd an hour, 8 times the cycle's steepest slope) from
    the fourth day of a 1-minute memory gauge: the leak kind raises it within 6 hours, not
    before. (At 40 MB an hour the line's slope stays within the cycle's usual ones: neither
    the kind nor the rest of the stack raises it.)"""
    t, v = _memory(60.0, 5.0, seed=3)
    start = int(3 * DAY / 60.0)
    v[start:] += 8e7 * (t[start:] - t[start]) / 3600.0
    bank, results = _run(t, v)
    raised = _raised_by(bank, results, "leak")
    assert not raised[:start].any()
    first = start + np.argmax(raised[start:])
    assert raised[first] and (t[first] - t[start]) <= 6 * 3600.0
    assert results.alert[start : first + 1].any()  # paged by then (maybe by other detectors)


def test_a_disk_filling_up_is_raised_within_an_hour():
    """Bytes used on a 500 GB disk at 40 %, growing 0.3 % a week with a small daily cycle,
    sampled every 5 minutes; from the third day it fills 2 % an hour: the fill kind raises it
    within an hour, and not before."""
    rng = np.random.default_rng(5)
    capacity = 5e11
    t = 1.7e9 + 300.0 * np.arange(int(4 * DAY / 300.0))
    days = (t - t[0]) / DAY
    used = capacity * (0.4 + 0.003 * days / 7 + 0.002 * np.sin(2 * np.pi * days))
    v = used + rng.normal(0.0, 1e-4 * capacity, len(t))
    start = int(3 * DAY / 300.0)
    v[start:] += 0.02 * capacity * (t[start:] - t[start]) / 3600.0
    bank, results = _run(t, v)
    raised = _raised_by(bank, results, "fill")
    assert not raised[:start].any()
    first = start + np.argmax(raised[start:])
    assert raised[first] and (t[first] - t[start]) <= 3600.0
    assert results.alert[start : first + 1].any()


@pytest.mark.parametrize("step", [15.0, 60.0, 300.0, 3600.0])
def test_noise_and_a_daily_cycle_raise_no_slow_kind(step):
    """Two weeks of flat noise, and of the memory gauge's daily cycle, at every interval."""
    rng = np.random.default_rng(int(step))
    t = 1.7e9 + step * np.arange(int(14 * DAY / step))
    for v in (100.0 + rng.normal(0.0, 1.0, len(t)), _memory(step, 14.0, seed=int(step))[1]):
        bank, results = _run(t, v)
        assert not _raised_by(bank, results, "leak").any()
        assert not _raised_by(bank, results, "fill").any()


@pytest.mark.parametrize("shape", ["memory", "disk"])
@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_quiet_memory_and_disk_series_raise_no_slow_kind(shape, index):
    """Two quiet weeks of the fleet's memory and disk shapes (slow trends, daily and weekly
    cycles, missing points and scrape gaps), at every interval (index picks it)."""
    spec = series_spec(
        index, seed=11, weeks=2, shape=shape, step=(15.0, 60.0, 300.0, 3600.0)[index]
    )
    series = render(spec, incidents=False)
    t = (series.frame["timestamp"] - np.datetime64(0, "s")).dt.total_seconds().to_numpy()
    bank, results = _run(t, series.frame["value"].to_numpy(dtype=float))
    assert not _raised_by(bank, results, "leak").any()
    assert not _raised_by(bank, results, "fill").any()


def test_the_slow_kinds_state_fields_and_dtypes():
    """Each kind keeps one fitted line and its usual slope per series: eleven float64 fields, a
    new series' line empty (no point fitted yet)."""
    names = [field.name for field in trend.FIELDS]
    assert names == ["time", "since", "w", "t", "tt", "x", "tx", "xx", "mean", "var", "noise"]
    assert leak.FIELDS is fill.FIELDS is trend.FIELDS
    state = StackBank().new_series_state()
    for kind in ("leak", "fill"):
        for name in names:
            value = state[f"{kind}.{name}"]
            assert value.dtype == np.float64 and value.shape == (), name
        assert np.isnan(state[f"{kind}.time"]) and np.isnan(state[f"{kind}.since"])
        assert all(state[f"{kind}.{n}"] == 0.0 for n in names[2:])
