import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skmetrics

from sim.classification import ScoredSeries, evaluate, metrics_at_thresholds
from sim.labeled import LabeledSeries

MINUTE = pd.Timedelta(minutes=1)


def _minutes(n, start="2024-01-01"):
    return pd.date_range(start, periods=n, freq="min")


def _mask(n, indices):
    mask = np.zeros(n, dtype=bool)
    mask[list(indices)] = True
    return mask


def test_hand_made_example_point_and_event_metrics():
    # 20 points, windows at 5..9 and 14..17. Detections: 0-1 (false run), 8 (3 points into the
    # first window), 12 (false). The second window is missed.
    n = 20
    labels = _mask(n, [*range(5, 10), *range(14, 18)])
    detections = _mask(n, [0, 1, 8, 12])
    report = evaluate([ScoredSeries(_minutes(n), labels, detections=detections)])

    tp, fp, fn, tn = 1, 3, 8, 8
    assert (report.tp, report.fp, report.fn, report.tn) == (tp, fp, fn, tn)
    assert report.confusion_matrix.tolist() == [[tn, fp], [fn, tp]]
    assert report.precision == pytest.approx(tp / (tp + fp))
    assert report.recall == pytest.approx(tp / (tp + fn))
    point_f1 = 2 * (1 / 4) * (1 / 9) / (1 / 4 + 1 / 9)
    assert report.f1 == pytest.approx(point_f1)
    assert report.accuracy == pytest.approx((tp + tn) / n)
    assert report.always_healthy_accuracy == pytest.approx(11 / 20)

    assert report.n_windows == 2
    assert report.n_detected_windows == 1
    assert report.event_recall == 0.5
    assert report.mean_delay_seconds == report.median_delay_seconds == 3 * 60
    assert (report.n_alert_events, report.n_false_alert_events) == (3, 2)
    assert report.event_precision == pytest.approx(1 / 3)
    assert report.event_f1 == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
    days = 20 * MINUTE / pd.Timedelta(days=1)  # 19 minutes first to last, plus one step
    assert report.days == pytest.approx(days)
    assert report.false_alerts_per_day == pytest.approx(2 / days)


def test_alert_events_do_not_run_across_series():
    # The first series ends alerting and the second starts alerting: two pages, not one.
    first = ScoredSeries(_minutes(4), [0, 0, 0, 1], detections=[0, 0, 1, 1])
    second = ScoredSeries(_minutes(4, "2024-02-01"), [0, 0, 0, 0], detections=[1, 0, 0, 0])
    report = evaluate([first, second])
    assert report.n_alert_events == 2
    assert report.n_false_alert_events == 2  # both start on healthy points
    assert report.n_detected_windows == 1
    assert report.mean_delay_seconds == 0.0
    assert report.days == pytest.approx(2 * 4 / (24 * 60))


def test_windows_do_not_run_across_series():
    first = ScoredSeries(_minutes(3), [0, 1, 1], detections=[0, 0, 0])
    second = ScoredSeries(_minutes(3, "2024-02-01"), [1, 1, 0], detections=[0, 1, 0])
    report = evaluate([first, second])
    assert report.n_windows == 2
    assert report.n_detected_windows == 1
    assert report.mean_delay_seconds == 60.0  # from the second series' own window start


def test_an_alert_that_starts_before_a_window_is_a_false_page_but_detects_the_window():
    series = ScoredSeries(_minutes(6), [0, 0, 0, 1, 1, 0], detections=[0, 1, 1, 1, 1, 1])
    report = evaluate([series])
    assert (report.n_alert_events, report.n_false_alert_events) == (1, 1)
    assert report.event_recall == 1.0
    assert report.mean_delay_seconds == 0.0
    inside_first = ScoredSeries(_minutes(6), [0, 0, 0, 1, 1, 0], detections=[0, 0, 0, 1, 1, 1])
    assert evaluate([inside_first]).n_false_alert_events == 0


def test_always_healthy_detector_scores_high_accuracy_but_catches_nothing():
    rng = np.random.default_rng(0)
    n = 2_000
    labels = _mask(n, [*range(500, 520), *range(1500, 1520)])
    series = ScoredSeries(
        _minutes(n), labels, scores=rng.random(n), detections=np.zeros(n, dtype=bool)
    )
    report = evaluate([series])
    assert report.accuracy == pytest.approx(1 - labels.mean())
    assert report.accuracy == report.always_healthy_accuracy
    assert report.accuracy > 0.97
    assert report.recall == 0.0
    assert report.f1 == 0.0
    assert report.precision == 0.0
    assert report.event_recall == 0.0
    assert report.event_f1 == 0.0
    assert report.n_alert_events == 0
    assert report.mean_delay_seconds is None
    table = report.format_table()
    assert "always-healthy accuracy" in table
    assert "Accuracy misleads" in table
    accuracy_row = next(line for line in table.splitlines() if line.startswith("accuracy"))
    assert f"{report.accuracy:.3f}" in accuracy_row


def test_auc_equals_sklearn_on_the_pooled_corpus():
    rng = np.random.default_rng(1)
    series_list = []
    for k, n in enumerate([300, 200, 100]):
        labels = rng.random(n) < 0.1
        scores = rng.random(n) + 0.5 * labels
        series_list.append(
            ScoredSeries(_minutes(n, f"2024-0{k + 1}-01"), labels, scores=scores, name=str(k))
        )
    # One series holds only healthy points: pooling keeps the AUCs defined.
    healthy = ScoredSeries(_minutes(50, "2024-05-01"), np.zeros(50), scores=rng.random(50))
    series_list.append(healthy)
    report = evaluate(series_list, threshold=0.9)
    labels = np.concatenate([s.labels for s in series_list])
    scores = np.concatenate([s.scores for s in series_list])
    assert report.roc_auc == pytest.approx(skmetrics.roc_auc_score(labels, scores))
    assert report.pr_auc == pytest.approx(skmetrics.average_precision_score(labels, scores))
    assert 0.5 < report.roc_auc < 1.0


def test_single_class_corpus_gives_none_instead_of_crashing():
    series = ScoredSeries(_minutes(10), np.zeros(10), scores=np.linspace(0, 1, 10))
    report = evaluate([series], threshold=0.95)
    assert report.roc_auc is None and report.pr_auc is None
    assert report.recall is None and report.f1 is None
    assert report.event_recall is None and report.event_f1 is None
    assert report.n_false_alert_events == 1
    assert report.precision == 0.0
    assert report.always_healthy_accuracy == 1.0
    json.dumps(report.to_dict())
    assert "-" in report.format_table()


def test_threshold_and_detections_give_the_same_report():
    rng = np.random.default_rng(2)
    n = 400
    labels = _mask(n, range(200, 230))
    scores = rng.random(n) + labels
    by_threshold = evaluate([ScoredSeries(_minutes(n), labels, scores=scores)], threshold=0.8)
    by_detections = evaluate(
        [ScoredSeries(_minutes(n), labels, scores=scores, detections=scores >= 0.8)]
    )
    assert by_threshold.to_dict() == by_detections.to_dict()


def test_nan_scores_never_detect_and_rank_lowest():
    scores = np.array([np.nan, np.nan, 0.2, 0.9, 0.1])
    series = ScoredSeries(_minutes(5), [1, 0, 0, 1, 0], scores=scores)
    report = evaluate([series], threshold=-1.0)
    assert report.tp + report.fp == 3
    expected = skmetrics.roc_auc_score([1, 0, 0, 1, 0], [-1, -1, 0.2, 0.9, 0.1])
    assert report.roc_auc == pytest.approx(expected)


def test_metrics_at_thresholds_agree_with_evaluate():
    rng = np.random.default_rng(3)
    series_list = []
    for k in range(3):
        n = 300
        labels = _mask(n, [*range(100, 110), *range(200, 215)])
        scores = rng.random(n) * 0.8 + 0.4 * labels * rng.random(n)
        series_list.append(ScoredSeries(_minutes(n, f"2024-0{k + 1}-01"), labels, scores=scores))
    thresholds = [0.0, 0.3, 0.7, 0.75, 0.9, 2.0]
    curve = metrics_at_thresholds(series_list, thresholds)
    assert curve["threshold"].tolist() == thresholds
    for row, threshold in zip(curve.to_dict("records"), thresholds, strict=True):
        report = evaluate(series_list, threshold)
        for column in ("tp", "fp", "fn", "tn"):
            assert row[column] == getattr(report, column)
        for column in (
            "precision",
            "recall",
            "f1",
            "accuracy",
            "event_precision",
            "event_recall",
            "event_f1",
            "false_alerts_per_day",
        ):
            assert row[column] == pytest.approx(getattr(report, column))
        assert row["alert_events"] == report.n_alert_events
        assert row["false_alert_events"] == report.n_false_alert_events
        assert row["detected_windows"] == report.n_detected_windows


def test_from_labeled_uses_the_windows():
    timestamps = _minutes(6)
    labeled = LabeledSeries(
        "cpu",
        pd.DataFrame({"timestamp": timestamps, "value": np.arange(6.0)}),
        [(timestamps[2], timestamps[3])],
        "spike",
    )
    series = ScoredSeries.from_labeled(labeled, detections=[0, 0, 0, 1, 0, 0])
    assert series.labels.tolist() == [False, False, True, True, False, False]
    assert series.name == "cpu"
    assert evaluate([series]).mean_delay_seconds == 60.0


def test_invalid_inputs_are_rejected():
    with pytest.raises(ValueError, match="labels has 2 values"):
        ScoredSeries(_minutes(3), [0, 1])
    # Points out of time order (a clock that stepped back) are put in time order, not refused.
    reversed_series = ScoredSeries(_minutes(3)[::-1], [0, 1, 0], scores=[0.1, 0.2, 0.3])
    assert reversed_series.scores.tolist() == [0.3, 0.2, 0.1]
    with pytest.raises(ValueError, match="no detections"):
        evaluate([ScoredSeries(_minutes(3), [0, 1, 0], scores=[0, 1, 0])])
    with pytest.raises(ValueError, match="no scores"):
        evaluate([ScoredSeries(_minutes(3), [0, 1, 0])], threshold=0.5)
    with pytest.raises(ValueError, match="no series"):
        evaluate([])


def test_to_dict_is_json_ready_and_shows_the_accuracy_trap():
    series = ScoredSeries(_minutes(100), _mask(100, [50]), detections=np.zeros(100))
    payload = json.loads(json.dumps(evaluate([series]).to_dict()))
    assert payload["always_healthy_accuracy"] == pytest.approx(0.99)
    assert payload["accuracy"] == pytest.approx(0.99)
    assert payload["recall"] == 0.0
