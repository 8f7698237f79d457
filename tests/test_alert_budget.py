"""The fleet alert budget (stream/outputs/alert_budget.py): the paging threshold adapts online, in
event
time, so that the fleet pages about the budget; without a budget nothing changes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from detectors import DetectorStack
from detectors.bank import OPENED, RESOLVED, BankResults
from stream.outputs.alert_budget import WEEK, AlertBudget
from stream.outputs.metrics import LookoutMetrics
from stream.outputs.paging import Pager
from stream.point import MetricPoint
from stream.runtime.pipeline import Pipeline

BASE = 0.36
DECADES = 6.0


def candidate_stream(seed: int, series: int, per_week: float, weeks: int):
    """Candidate pages of a fleet: times uniform over ``weeks``, onset scores above the base
    threshold with the tail of calibrated scores (ten times rarer every 1/DECADES)."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0, weeks * WEEK, rng.poisson(per_week * series * weeks)))
    scores = BASE - np.log10(rng.uniform(size=times.size)) / DECADES
    return times, scores


def pages_per_series_week(budget: AlertBudget | None, times, scores, series: int):
    paged = []
    for at, score in zip(times.tolist(), scores.tolist(), strict=True):
        if budget is not None:
            budget.advance(at, series)
            if score < budget.threshold:
                continue
            budget.record_page(at)
        paged.append(at)
    return np.asarray(paged)


def weekly_rate(paged: np.ndarray, first_week: int, last_week: int, series: int) -> float:
    inside = (paged >= first_week * WEEK) & (paged < last_week * WEEK)
    return inside.sum() / series / (last_week - first_week)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_fleet_paging_five_times_its_budget_converges_to_the_budget(seed):
    series, budget_rate = 200, 2.0
    times, scores = candidate_stream(seed, series, 5 * budget_rate, weeks=30)
    budget = AlertBudget(budget_rate, BASE, DECADES)

    paged = pages_per_series_week(budget, times, scores, series)

    assert weekly_rate(paged, 0, 1, series) > 3 * budget_rate  # it starts unrestrained
    settled = weekly_rate(paged, 10, 30, series)
    assert abs(settled - budget_rate) <= 0.2 * budget_rate, settled
    for week in range(10, 30):  # and stays there week by week, not only on average
        assert abs(weekly_rate(paged, week, week + 1, series) - budget_rate) < 0.35 * budget_rate
    # five times fewer pages: the threshold rose by log10(5) decades of probability
    assert budget.threshold == pytest.approx(BASE + math.log10(5) / DECADES, abs=0.03)
    assert budget.rate == pytest.approx(budget_rate, rel=0.25)


def test_a_fleet_under_its_budget_pages_every_candidate():
    series, budget_rate = 50, 2.0
    times, scores = candidate_stream(4, series, 0.5 * budget_rate, weeks=12)
    budget = AlertBudget(budget_rate, BASE, DECADES)
    paged = pages_per_series_week(budget, times, scores, series)
    assert len(paged) == len(times)
    assert budget.threshold == BASE


def test_the_threshold_stays_within_its_bounds_in_an_outage():
    budget = AlertBudget(1.0, BASE, DECADES, max_raise=0.2)
    for hour in range(24 * 7 * 8):  # every series pages every hour for eight weeks
        budget.advance(hour * 3600.0, series=10)
        for _ in range(10):
            budget.record_page(hour * 3600.0)
    assert budget.threshold == pytest.approx(BASE + 0.2)
    budget.advance(1e9, series=10)  # a long quiet gap: back down to the base, never below
    assert budget.threshold == BASE
    budget.advance(0.0, series=10)  # event time never goes back
    assert budget.clock == 1e9


def test_bad_budgets_are_refused():
    with pytest.raises(ValueError, match="pages_per_week"):
        AlertBudget(0.0, BASE)
    with pytest.raises(ValueError, match="window"):
        AlertBudget(1.0, BASE, window=0.0)


def incident_batch(rows: int, onsets: list[int], scores: list[float]):
    """Bank results of one series with a two-point incident at each onset."""
    results = BankResults.empty(rows)
    for name in vars(results):
        array = getattr(results, name)
        array[:] = 0
    results.alert_start[:] = math.nan
    results.alert_end[:] = math.nan
    results.expected[:] = 1.0
    results.lower[:] = 0.9
    results.upper[:] = 1.1
    timestamps = 3600.0 * np.arange(rows)
    values = np.ones(rows)
    for onset, score in zip(onsets, scores, strict=True):
        results.transition[onset] = OPENED
        results.alert[onset] = True
        results.alert_start[onset] = timestamps[onset]
        results.anomaly_score[onset] = results.onset_score[onset] = score
        results.transition[onset + 1] = RESOLVED
        results.alert_end[onset + 1] = timestamps[onset]
        values[onset] = 5.0
    return timestamps, values, results


def test_the_pager_holds_back_what_the_budget_does_not_allow_and_counts_it():
    # one series, a candidate page every 6 hours (28 a week) against a budget of 2 a week
    rows = 24 * 7 * 12
    onsets = list(range(10, rows - 2, 6))
    rng = np.random.default_rng(0)
    scores = (BASE - np.log10(rng.uniform(size=len(onsets))) / DECADES).tolist()
    timestamps, values, results = incident_batch(rows, onsets, scores)
    budget = AlertBudget(2.0, BASE, DECADES)
    pager = Pager(budget=budget)

    events = pager.process(["api"] * rows, timestamps, values, None, results, ("forecast",), 1)

    firing = [e for e in events.values() if e.firing]
    assert len(firing) == pager.pages
    assert pager.held_back["budget"] == len(onsets) - len(firing)
    last_weeks = [e for e in firing if e.at >= 6 * WEEK]
    assert len(last_weeks) / 6 == pytest.approx(2.0, rel=0.5)  # one series: a noisy count
    assert pager.threshold == budget.threshold > BASE

    unbudgeted = Pager(base_threshold=BASE)
    all_events = unbudgeted.process(
        ["api"] * rows, timestamps, values, None, results, ("forecast",), 1
    )
    assert unbudgeted.pages == len(onsets) and unbudgeted.threshold == BASE
    assert sum(unbudgeted.held_back.values()) == 0
    assert len(all_events) == 2 * len(onsets)


def test_tickets_do_not_count_against_the_page_budget():
    from stream.outputs.policy import Policy

    rows = 24 * 7 * 4
    onsets = list(range(10, rows - 2, 6))
    timestamps, values, results = incident_batch(rows, onsets, [BASE] * len(onsets))
    pager = Pager(
        Policy.from_config([{"matchers": ['series="api"'], "severity": "ticket"}]),
        budget=AlertBudget(1.0, BASE, DECADES),
    )
    pager.process(["api"] * rows, timestamps, values, None, results, ("forecast",), 1)
    assert pager.pages == len(onsets) and pager.budget.pages == 0


def test_without_a_budget_the_pipeline_pages_exactly_the_detectors_incidents():
    rng = np.random.default_rng(11)
    values = 10 + rng.normal(0, 1, 3000)
    values[[900, 1500, 2200]] += 15
    # spikes 10 hours apart: the onset's refractory period as short as that (the default, 16.7
    # hours, reports only the spikes that beat the last one)
    stack = lambda: DetectorStack(grace_period=50, refractory_time=12000.0)  # noqa: E731
    pipeline = Pipeline(stack)
    points = [MetricPoint("api", 60.0 * t, v) for t, v in enumerate(values.tolist())]
    batch, _ = pipeline.push_many([(p, None) for p in points])
    opened = int(np.count_nonzero(batch.results.transition == OPENED))
    resolved = int(np.count_nonzero(batch.results.transition == RESOLVED))
    assert opened >= 3
    assert [s.event.status for s in batch.transitions()].count("firing") == opened
    assert [s.event.status for s in batch.transitions()].count("resolved") == resolved
    assert pipeline.pager.threshold == DetectorStack().threshold


def test_the_effective_threshold_and_held_back_counts_are_exposed():
    registry = CollectorRegistry()
    metrics = LookoutMetrics(registry=registry)
    assert math.isnan(registry.get_sample_value("lookout_effective_threshold"))
    budget = AlertBudget(2.0, BASE, DECADES)
    pipeline = Pipeline(lambda: DetectorStack(grace_period=50), pager=Pager(budget=budget))
    metrics.watch_pipeline(pipeline)
    assert registry.get_sample_value("lookout_effective_threshold") == BASE
    budget.raised = 0.1
    pipeline.pager.held_back["muted"] += 3
    assert registry.get_sample_value("lookout_effective_threshold") == pytest.approx(BASE + 0.1)
    value = registry.get_sample_value("lookout_alerts_held_back_total", {"reason": "muted"})
    assert value == 3
    assert registry.get_sample_value("lookout_alerts_held_back_total", {"reason": "budget"}) == 0
