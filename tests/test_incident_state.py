"""The alert's incident state (detectors/parts/alert.py): one alert that lasts the incident, fires
against the expectation frozen when it opened, resolves in the series' own time once the value
is back (or accepts a lasting new level), says why, and survives an export/import."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors.bank import OPENED, RESOLVED, StackBank
from detectors.parts.alert import ACCEPTED, RECOVERED
from detectors.state_format import OLDEST_READ, UPGRADES, VERSION

T0 = 1.7e9


def noisy(n: int, step: float, seed: int = 3, level: float = 100.0, sd: float = 1.0):
    rng = np.random.default_rng(seed)
    return T0 + step * np.arange(n), level + rng.normal(0, sd, n)


def run(values, timestamps, **parameters):
    bank = StackBank(grace_period=50, **parameters)
    slot = bank.add_series()
    results = bank.process(np.full(len(values), slot), timestamps, values)
    return bank, slot, results


def transitions(results, after: int = 590):
    """``(row, transition, reason)`` from row ``after`` on (the warm-up's own alerts aside)."""
    rows = np.flatnonzero(results.transition)
    rows = rows[rows >= after]
    return [(int(r), int(results.transition[r]), int(results.resolve_reason[r])) for r in rows]


def test_an_outage_is_one_alert_from_its_start_to_just_after_its_end():
    t, v = noisy(900, 60.0)
    v[600:735] = 0.0  # 2 h 15 min at zero: the detectors' scores fall long before it ends
    _, _, results = run(v, t)
    assert transitions(results) == [(600, OPENED, 0), (739, RESOLVED, RECOVERED)]
    assert results.alert[600:735].all()  # the whole outage long
    # resolved 5 minutes of series time after the last point away (row 734)
    assert t[739] - t[734] == 300.0 and not results.alert[739]
    assert results.alert_end[739] == t[734]
    # while it fires, the outputs show the expectation frozen before the outage
    assert np.allclose(results.expected[600:735], results.expected[600], atol=0)
    assert abs(results.expected[700] - 100.0) < 3.0


def test_the_detectors_alone_would_have_resolved_it_at_once():
    t, v = noisy(900, 60.0)
    v[600:735] -= 60.0  # a noisy level shift the detectors learn (a flat 0 is an outage kind)
    _, _, results = run(v, t)
    # the anomaly score, which used to keep the alert open, falls back within a few points
    assert (results.anomaly_score[610:735] < 0.36).mean() > 0.9
    assert results.alert[600:735].all()  # the incident state keeps it open


@pytest.mark.parametrize(("step", "quiet_points"), [(15.0, 20), (3600.0, 2)])
def test_the_quiet_time_is_in_the_series_time(step, quiet_points):
    t, v = noisy(700, step)
    v[600:604] += 40.0
    _, _, results = run(v, t, warm_up_time=0.0)
    codes = transitions(results)
    assert codes[0] == (600, OPENED, 0)
    assert codes[1] == (603 + quiet_points, RESOLVED, RECOVERED)  # max(5 min, 2 samples)


def test_a_lasting_level_shift_is_accepted_after_the_stated_time_then_learned():
    t, v = noisy(1400, 60.0)
    v[600:] += 30.0  # a deploy moved the baseline for good
    _, _, results = run(v, t, accept_after=4 * 3600.0)
    codes = transitions(results)
    assert codes[:2] == [(600, OPENED, 0), (840, RESOLVED, ACCEPTED)]  # 4 h later
    assert results.alert[600:840].all()
    assert len(codes) == 2 and not results.alert[841:].any()  # the new level is normal now
    _, _, never = run(v, t, accept_after=0.0)
    assert transitions(never) == [(600, OPENED, 0)] and never.alert[600:].all()


def test_a_value_that_wavers_back_and_forth_is_one_incident():
    t, v = noisy(900, 60.0)
    v[600:700] += 40.0
    v[603:700:7] = 100.0  # back for a minute every 7 minutes: not for the quiet time
    _, _, results = run(v, t)
    assert transitions(results) == [(600, OPENED, 0), (704, RESOLVED, RECOVERED)]


def test_an_exported_state_keeps_the_incident_firing_where_it_was():
    t, v = noisy(900, 60.0)
    v[600:735] = 0.0
    whole, slot, results = run(v, t)
    bank = StackBank(grace_period=50)
    first = bank.add_series()
    bank.process(np.full(650, first), t[:650], v[:650])
    state = bank.export_slot(first)
    assert state["alert.firing"] == 1 and math.isfinite(float(state["alert.expected"]))
    twin = StackBank(grace_period=50)
    copy = twin.import_slot(state)
    rest = twin.process(np.full(250, copy), t[650:], v[650:])
    assert transitions(rest, after=0) == [(739 - 650, RESOLVED, RECOVERED)]
    assert rest.alert_start[739 - 650] == results.alert_start[739] == t[600]
    assert np.array_equal(rest.expected, results.expected[650:])


def test_freezing_the_models_while_firing_keeps_the_forecaster_as_it_was():
    t, v = noisy(900, 60.0)
    v[600:735] = 0.0
    bank = StackBank(grace_period=50, freeze_while_firing=True)
    slot = bank.add_series()
    bank.process(np.full(601, slot), t[:601], v[:601])
    before = bank.export_slot(slot)
    bank.process(np.full(100, slot), t[601:701], v[601:701])
    during = bank.export_slot(slot)
    assert during["alert.firing"] == 1
    for name in ("forecaster.weights", "forecaster.abs_residual", "forecaster.fitted"):
        assert np.array_equal(before[name], during[name]), name
    assert not np.array_equal(before["forecaster.lags"], during["forecaster.lags"])


def test_the_format_8_upgrade_adds_an_unknown_expectation_without_touching_its_input():
    old = {"alert.firing": np.array(1), "spread.n": np.array(10)}
    new = UPGRADES[8 - OLDEST_READ](old, None)
    assert VERSION >= 9 and set(old) == {"alert.firing", "spread.n"}
    assert math.isnan(float(new["alert.expected"])) and int(new["alert.reason"]) == 0
    assert new["alert.firing"] is old["alert.firing"]


def test_the_return_after_a_recovered_incident_is_not_a_new_incident_but_a_new_spike_is():
    """The detectors learned the incident's level; coming back looks like a change to them.
    For as long as the incident lasted, a value back at the old expectation opens nothing; a
    value away from it does."""
    from detectors.layout import allocate
    from detectors.parts import alert

    c = alert.constants(
        {"threshold": 0.5, "exit_threshold": None, "min_duration": 1, "cooldown": 0,
         "resolve_threshold": 3.0, "quiet_time": 120.0, "accept_after": 0.0,
         "freeze_while_firing": False}
    )  # fmt: skip
    st = allocate(alert.State, alert.FIELDS, c, capacity=1)
    nan = math.nan

    def point(minute, score, x):
        return int(alert.update(st, 0, score, 60.0 * minute, x, 0.0, 1.0, nan, 60.0, c))

    assert point(0, 0.9, 10.0) == alert.OPENED  # ten minutes at 10, expected 0 +- 1
    assert [point(m, 0.0, 10.0) for m in range(1, 10)] == [alert.NO_TRANSITION] * 9
    codes = [point(m, 0.0, 0.0) for m in range(10, 12)]  # back: resolves after 2 minutes
    assert codes[-1] == alert.RESOLVED and int(st.reason[0]) == RECOVERED
    assert point(14, 0.9, 0.5) == alert.NO_TRANSITION  # the detectors see the return
    assert point(15, 0.9, 8.0) == alert.OPENED  # away from the old expectation: a new one
