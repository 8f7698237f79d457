import numpy as np
import pandas as pd
import pytest

from sim.classification import ScoredSeries, evaluate
from sim.thresholds import (
    MaxF1,
    MaxFalseAlertsPerDay,
    MinRecall,
    candidate_thresholds,
    tune_threshold,
)


def _corpus(seed=0, n_series=4, n_points=720):
    """Noisy scores with incidents of uneven strength: some obvious, some barely visible."""
    rng = np.random.default_rng(seed)
    series_list = []
    for k in range(n_series):
        labels = np.zeros(n_points, dtype=bool)
        scores = rng.beta(2, 8, n_points)
        for start in rng.choice(np.arange(100, n_points - 20, 60), size=3, replace=False):
            labels[start : start + 10] = True
            scores[start : start + 10] += rng.uniform(0.05, 0.6) * rng.random(10)
        timestamps = pd.date_range(f"2024-01-{k + 1:02d}", periods=n_points, freq="2min")
        series_list.append(ScoredSeries(timestamps, labels, scores=scores, name=str(k)))
    return series_list


def _next_distinct_score(series_list, threshold):
    scores = np.concatenate([s.scores for s in series_list])
    above = scores[scores > threshold]
    return above.min() if above.size else None


@pytest.mark.parametrize("kind", ["event", "point"])
@pytest.mark.parametrize("recall", [0.3, 0.5, 0.8, 1.0])
@pytest.mark.parametrize("max_candidates", [10, 200])
def test_min_recall_is_the_highest_threshold_meeting_the_recall(kind, recall, max_candidates):
    series_list = _corpus(seed=1)
    choice = tune_threshold(series_list, MinRecall(recall, kind=kind), max_candidates)
    column = "event_recall" if kind == "event" else "recall"
    assert getattr(choice.report, column) >= recall
    higher = _next_distinct_score(series_list, choice.threshold)
    assert higher is not None
    assert getattr(evaluate(series_list, higher), column) < recall


def test_higher_recall_targets_need_lower_thresholds():
    series_list = _corpus(seed=2)
    thresholds = [tune_threshold(series_list, MinRecall(r)).threshold for r in (0.4, 0.7, 1.0)]
    assert thresholds == sorted(thresholds, reverse=True)
    assert thresholds[0] > thresholds[-1]


@pytest.mark.parametrize("alerts_per_day", [0.0, 2.0, 10.0, 50.0])
def test_max_false_alerts_per_day_respects_the_bound_from_the_threshold_up(alerts_per_day):
    series_list = _corpus(seed=3)
    choice = tune_threshold(series_list, MaxFalseAlertsPerDay(alerts_per_day))
    assert choice.met
    assert choice.report.false_alerts_per_day <= alerts_per_day
    assert choice.report.n_alert_events > 0
    curve = choice.curve
    from_here_up = curve[(curve["threshold"] >= choice.threshold) & (curve["alert_events"] > 0)]
    assert (from_here_up["false_alerts_per_day"] <= alerts_per_day).all()
    below = curve[curve["threshold"] < choice.threshold]
    if not below.empty:
        assert below["false_alerts_per_day"].iloc[-1] > alerts_per_day


def test_a_looser_alert_budget_catches_more_incidents():
    series_list = _corpus(seed=4)
    strict = tune_threshold(series_list, MaxFalseAlertsPerDay(1.0))
    loose = tune_threshold(series_list, MaxFalseAlertsPerDay(30.0))
    assert loose.threshold < strict.threshold
    assert loose.report.event_recall >= strict.report.event_recall
    assert loose.report.false_alerts_per_day > strict.report.false_alerts_per_day


@pytest.mark.parametrize("kind", ["event", "point"])
def test_max_f1_picks_the_best_candidate(kind):
    series_list = _corpus(seed=5)
    choice = tune_threshold(series_list, MaxF1(kind=kind))
    column = "event_f1" if kind == "event" else "f1"
    assert getattr(choice.report, column) == pytest.approx(choice.curve[column].max())
    assert getattr(choice.report, column) > 0.3


def test_max_f1_does_not_reward_alerting_all_the_time():
    series_list = _corpus(seed=6)
    lowest = min(s.scores.min() for s in series_list)
    choice = tune_threshold(series_list, MaxF1())
    assert choice.threshold > lowest
    always = evaluate(series_list, lowest)
    assert always.event_f1 < choice.report.event_f1


def test_candidates_are_sorted_bounded_and_end_with_never_alert():
    series_list = _corpus(seed=7)
    candidates = candidate_thresholds(series_list, max_candidates=50)
    top = max(s.scores.max() for s in series_list)
    assert len(candidates) <= 51
    assert (np.diff(candidates) > 0).all()
    assert candidates[-1] > top
    assert candidates[-2] == top
    assert evaluate(series_list, candidates[-1]).n_alert_events == 0
    # Thresholds matter in the rare upper tail, so candidates crowd there.
    scores = np.concatenate([s.scores for s in series_list])
    assert (candidates > np.quantile(scores, 0.95)).sum() >= 10


def test_objectives_validate_their_parameters():
    with pytest.raises(ValueError, match="kind"):
        MaxF1(kind="points")
    with pytest.raises(ValueError, match="recall"):
        MinRecall(1.5)
    with pytest.raises(ValueError, match="alerts_per_day"):
        MaxFalseAlertsPerDay(-1)


def test_recall_objectives_need_incidents():
    timestamps = pd.date_range("2024-01-01", periods=50, freq="min")
    healthy = ScoredSeries(timestamps, np.zeros(50), scores=np.linspace(0, 1, 50))
    with pytest.raises(ValueError, match="no incident"):
        tune_threshold([healthy], MinRecall(0.5))
    with pytest.raises(ValueError, match="no incident"):
        tune_threshold([healthy], MaxF1())
    # Without incidents every alert is false: no threshold that alerts keeps the budget at
    # zero, so the strictest one that alerts is taken and the choice says it misses the bound.
    choice = tune_threshold([healthy], MaxFalseAlertsPerDay(0))
    assert not choice.met
    assert choice.threshold == 1.0 and choice.report.n_alert_events == 1


def _onset_scores(n_points=2880, onsets=((400, 0.5), (1500, 0.8), (2500, 0.4))):
    """Scores as lookout writes them: zero except at a few onsets; one labelled incident."""
    timestamps = pd.date_range("2024-01-01", periods=n_points, freq="5min")
    scores = np.zeros(n_points)
    for row, score in onsets:
        scores[row] = score
    labels = np.zeros(n_points, dtype=bool)
    labels[1490:1530] = True
    return [ScoredSeries(timestamps, labels, scores=scores)]


@pytest.mark.parametrize("alerts_per_day", [1.0, 100.0])
def test_fp_per_day_never_alerts_on_every_point(alerts_per_day):
    # At threshold 0 every point alerts: one endless alert that overlaps the incident and so
    # counts no false page. The objective used to pick it; it must not.
    series_list = _onset_scores()
    choice = tune_threshold(series_list, MaxFalseAlertsPerDay(alerts_per_day))
    assert choice.met
    assert choice.threshold > 0.0
    assert choice.report.false_alerts_per_day <= alerts_per_day
    assert choice.threshold == 0.4  # 10 days, 2 false onsets: 0.2 a day, within either budget
    assert choice.report.n_alert_events == 3


def test_fp_per_day_that_no_threshold_meets_takes_the_strictest_and_says_so():
    # Both false onsets score above the incident's: any threshold that catches something pages
    # falsely; the strictest that alerts (0.9) is taken, not the loosest.
    series_list = _onset_scores(onsets=((400, 0.9), (1500, 0.3), (2500, 0.6)))
    choice = tune_threshold(series_list, MaxFalseAlertsPerDay(0.0))
    assert not choice.met
    assert choice.threshold == 0.9
    assert choice.report.n_alert_events == 1 and choice.report.false_alerts_per_day > 0


def test_unreachable_recall_is_reported():
    timestamps = pd.date_range("2024-01-01", periods=5, freq="min")
    # The only incident point has no score yet (warm-up), so it can never be detected.
    series = ScoredSeries(timestamps, [0, 1, 0, 0, 0], scores=[0.1, np.nan, 0.3, 0.2, 0.1])
    with pytest.raises(ValueError, match="no threshold reaches"):
        tune_threshold([series], MinRecall(0.5))
