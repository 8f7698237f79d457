"""One incident, one alert: hysteresis, minimum duration and cooldown, on scores alone (no
expectation is frozen, so the combined score keeps an alert open) and without a quiet time
(``tests/test_incident_state.py`` tests the incident state on real values)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.alerting import AlertStatus
from tests.reference.alerting import HysteresisAlert


def transitions(policy, scores):
    return [(t, tr) for t, s in enumerate(scores) if (tr := policy.update(s, float(t)))]


def test_flapping_signal_pages_once():
    policy = HysteresisAlert(threshold=0.8, exit_threshold=0.4, min_duration=1, quiet_time=0.0)
    scores = [0.1] * 5 + [0.9, 0.6, 0.85, 0.5, 0.95, 0.45] + [0.1] * 5
    events = transitions(policy, scores)
    assert [tr.status for _, tr in events] == [AlertStatus.FIRING, AlertStatus.RESOLVED]
    (_, firing), (_, resolved) = events
    assert firing.start == 5.0 and resolved.end == 10.0 and resolved.peak_score == 0.95


def test_min_duration_ignores_single_point_blips():
    policy = HysteresisAlert(threshold=0.5, min_duration=3, quiet_time=0.0)
    assert transitions(policy, [0.9, 0.1, 0.9, 0.9, 0.1]) == []
    events = transitions(
        HysteresisAlert(threshold=0.5, min_duration=3, quiet_time=0.0), [0.9, 0.9, 0.9]
    )
    assert events[0][0] == 2 and events[0][1].start == 0.0


def test_cooldown_suppresses_a_second_alert_right_after_resolution():
    scores = [0.9, 0.1, 0.9, 0.1, 0.1, 0.1, 0.9]
    without = transitions(HysteresisAlert(threshold=0.5, quiet_time=0.0), scores)
    with_cooldown = transitions(HysteresisAlert(threshold=0.5, cooldown=3, quiet_time=0.0), scores)
    assert sum(tr.status is AlertStatus.FIRING for _, tr in without) == 3
    assert sum(tr.status is AlertStatus.FIRING for _, tr in with_cooldown) == 2


@settings(max_examples=100, deadline=None)
@given(
    scores=st.lists(st.floats(0, 1), max_size=200),
    threshold=st.floats(0.3, 0.9),
    gap=st.floats(0, 0.3),
    min_duration=st.integers(1, 4),
    cooldown=st.integers(0, 5),
)
def test_transitions_alternate_and_firing_flag_matches(
    scores, threshold, gap, min_duration, cooldown
):
    policy = HysteresisAlert(threshold, threshold - gap, min_duration, cooldown, quiet_time=0.0)
    expected_next = AlertStatus.FIRING
    for t, score in enumerate(scores):
        transition = policy.update(score, float(t))
        if transition is not None:
            assert transition.status is expected_next
            assert transition.start <= t
            expected_next = (
                AlertStatus.RESOLVED if expected_next is AlertStatus.FIRING else AlertStatus.FIRING
            )
        assert policy.firing == (expected_next is AlertStatus.RESOLVED)
