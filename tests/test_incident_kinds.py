"""The incident kinds of ``detectors.kernel.INCIDENTS``: a stuck value and an outage to zero are
found on the series that rarely show them, and never raised by the shapes that show them all
the time (constant gauges, replica counts, sparse error counts, idle queues)."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.bank import OPENED, StackBank
from sim.fleet import render, series_spec


def _run(t, v, **parameters):
    bank = StackBank(**parameters)
    results = bank.process(np.full(len(t), bank.add_series()), t, v)
    return bank, results


def _raised_by(bank, results, name: str) -> np.ndarray:
    bit = bank.detector_names.index(name)
    return (results.agreeing.astype(np.int64) >> bit & 1).astype(bool)


def test_a_noisy_gauge_that_flat_lines_pages_as_stuck():
    rng = np.random.default_rng(1)
    t = 60.0 * np.arange(3000)
    v = 40.0 + 5.0 * np.sin(2 * np.pi * t / 86400.0) + rng.normal(0.0, 1.0, len(t))
    v[2500:2560] = v[2499]  # an exporter frozen for an hour
    bank, results = _run(t, v)
    stuck = _raised_by(bank, results, "stuck")
    assert not stuck[:2500].any()
    assert stuck[2502:2560].all()  # from the third equal value on
    opened = np.flatnonzero(results.transition == OPENED)
    assert any(2500 <= i <= 2503 for i in opened)


def test_a_rate_that_drops_to_zero_pages_as_an_outage():
    rng = np.random.default_rng(2)
    t = 60.0 * np.arange(4000)
    v = rng.poisson(50.0 + 20.0 * np.sin(2 * np.pi * t / 86400.0)) / 60.0
    v[3600:3630] = 0.0  # the service is down for half an hour
    bank, results = _run(t, v)
    outage = _raised_by(bank, results, "outage")
    assert not outage[:3600].any() and outage[3600:3630].all()
    assert (results.transition[3600:3603] == OPENED).any()


@pytest.mark.parametrize("shape", ["constant", "replicas", "errors", "queue", "boot_time"])
@pytest.mark.parametrize("step", [15.0, 300.0])
def test_shapes_that_repeat_themselves_never_raise_a_kind(shape, step):
    """Two quiet weeks of the fleet's shapes whose values repeat or sit at 0 as a rule."""
    series = render(series_spec(0, seed=4, weeks=2, shape=shape, step=step), incidents=False)
    t = (series.frame["timestamp"] - np.datetime64(0, "s")).dt.total_seconds().to_numpy()
    bank, results = _run(t, series.frame["value"].to_numpy(dtype=float))
    assert not _raised_by(bank, results, "stuck").any()
    assert not _raised_by(bank, results, "outage").any()
