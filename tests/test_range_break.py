"""The range break: a value far beyond the recent range raises the score on its own, while
metrics that set records routinely (counters, trends, random walks) page no more for it."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.bank import StackBank

STEP = 300.0


def alerts_opened(values: np.ndarray, range_break: bool) -> int:
    bank = StackBank(range_break=range_break)
    slot = bank.add_series()
    results = bank.process(np.full(len(values), slot), STEP * np.arange(len(values)), values)
    return int(np.count_nonzero(results.transition == 1))


ROUTINE_RECORDS = {
    "counter": lambda rng, n: np.cumsum(rng.poisson(100, n)).astype(float),
    "trend": lambda rng, n: 1000 + 0.05 * np.arange(n) + rng.normal(0, 5, n),
    "random walk": lambda rng, n: 100 + np.cumsum(rng.normal(0, 1, n)),
}


@pytest.mark.parametrize("name", list(ROUTINE_RECORDS))
def test_routine_records_do_not_page_more(name):
    values = ROUTINE_RECORDS[name](np.random.default_rng(0), 6000)
    assert alerts_opened(values, range_break=True) <= alerts_opened(values, range_break=False)


def test_a_value_far_out_of_range_is_named_by_the_range_break():
    rng = np.random.default_rng(1)
    n = 2000
    values = 50 + 10 * np.sin(2 * np.pi * STEP * np.arange(n) / 86400) + rng.normal(0, 1, n)
    spike = 1500
    values[spike] = values[:spike].max() + 3 * np.ptp(values[:spike])
    bank = StackBank()
    slot = bank.add_series()
    results = bank.process(np.full(n, slot), STEP * np.arange(n), values)
    assert "range" in bank.agreeing_names(int(results.agreeing[spike]))
    assert results.alert[spike]
    # before it, nothing was out of range enough to reach the threshold on its own
    assert not any("range" in bank.agreeing_names(int(m)) for m in results.agreeing[400:spike])
