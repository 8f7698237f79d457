"""Paging counts time, not points: a score's rarity is per ``paging_interval`` of the series'
own time (see ``combination.per_time``), so a series sampled every 15 s does not page 20 times
as often as the same process sampled every 5 minutes only because it has 20 times the points.
The onset's refractory period is ``refractory_time`` (60,000 s) of the series' time at every
sampling interval; the calibrations' memories are still counted in points unless ``memory_time``
is set (it costs recall), so a 15 s series still pages more than a 5 minute one: see the
per-interval table of bench/quality.py."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.bank import OPENED, StackBank
from detectors.stack import DetectorStack
from tests.reference.stack import DetectorStack as ReferenceStack

WEEK = 7 * 86400.0


def _noise(step: float, seed: int, weeks: float = 1.0):
    """A quiet daily cycle with Gaussian noise, far from 0, sampled every ``step`` seconds."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(weeks * WEEK / step)) * step
    return t, 100.0 + 10.0 * np.sin(2 * np.pi * t / 86400.0) + rng.normal(0.0, 1.0, len(t))


def _pages(step: float, seed: int, **parameters) -> int:
    t, x = _noise(step, seed)
    bank = StackBank(**parameters)
    results = bank.process(np.full(len(t), bank.add_series()), t, x)
    return int((results.transition == OPENED).sum())


def test_a_fast_series_pages_far_less_than_per_point():
    per_time = sum(_pages(15.0, seed) for seed in range(2))
    per_point = sum(
        _pages(15.0, seed, paging_interval=0.0, refractory_time=0.0) for seed in range(2)
    )
    assert per_point >= 100  # per point, 40,320 chances a week page on plain noise
    assert per_time * 5 <= per_point


def test_a_series_at_the_paging_interval_is_unchanged():
    t, x = _noise(300.0, 5)
    a, b = StackBank(), StackBank(paging_interval=0.0)
    ra = a.process(np.full(len(t), a.add_series()), t, x)
    rb = b.process(np.full(len(t), b.add_series()), t, x)
    np.testing.assert_array_equal(ra.anomaly_score, rb.anomaly_score)
    np.testing.assert_array_equal(ra.transition, rb.transition)


@pytest.mark.parametrize(
    ("step", "parameters"), [(15.0, {}), (3600.0, {}), (3600.0, {"warm_up_time": 0.0})]
)
def test_the_reference_counts_time_as_the_compiled_core(step, parameters):
    t, x = _noise(step, 3, weeks=0.05 if step < 60 else 3.0)
    x[len(x) // 2 :] += 8.0
    compiled, reference = DetectorStack(**parameters), ReferenceStack(**parameters)
    results = compiled.process_many(t, x)
    expected = [reference.process(ti, xi) for ti, xi in zip(t, x, strict=True)]
    np.testing.assert_allclose(
        results.anomaly_score, [a.anomaly_score for a in expected], rtol=0, atol=1e-9
    )
    assert [bool(v) for v in results.alert] == [a.alert for a in expected]


def test_paging_interval_must_not_be_negative():
    with pytest.raises(ValueError, match="paging_interval"):
        StackBank(paging_interval=-1.0)


def test_an_hourly_series_pages_after_days_not_weeks():
    """A shift on day 5 of an hourly series: with the default ``warm_up_time`` (two days of the
    series' time) it pages; counted in points (0), inside the 250-point grace (ten days), it is
    missed."""
    t, x = _noise(3600.0, 11, weeks=2.0)
    x[5 * 24 :] += 80.0  # the cycle's amplitude is 10, the noise's 1
    timed, counted = StackBank(), StackBank(warm_up_time=0.0)
    opened = [
        bank.process(np.full(len(t), bank.add_series()), t, x).transition[5 * 24 : 5 * 24 + 6]
        == OPENED
        for bank in (timed, counted)
    ]
    assert opened[0].any()
    assert not opened[1].any()
