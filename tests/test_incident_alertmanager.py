"""One incident, one alert, at a real Alertmanager: it fires at the incident's start, stays firing
through it (the expectation frozen when it opened: the detectors do not learn the incident as
normal), resolves after the incident ends and not before, says why, and a restart in the middle
of the incident (the series' state restored from its snapshot) keeps it firing without paging
again. Real detectors, real Alertmanager, a webhook receiver behind it."""

from __future__ import annotations

import time

import numpy as np
import pytest

from detectors import DetectorStack
from scripts.lookout_services import AlertWebhookReceiver
from stream.outputs.alert_sinks import Alert, AlertmanagerSink
from stream.point import MetricPoint
from stream.runtime.pipeline import Pipeline

SERIES = "checkout_latency_seconds"
LABELS = {"team": "payments"}
QUIET, INCIDENT, AFTER = 600, 90, 60  # minutes
RESTART_AT = QUIET + 45  # in the middle of the incident


def latencies(seed: int = 1) -> np.ndarray:
    """200 ms with 2 % noise; for 90 minutes 3 to 4 times higher (it wavers: the detectors'
    scores fall back long before it ends); then 200 ms again."""
    rng = np.random.default_rng(seed)
    values = 0.2 * (1 + rng.normal(0, 0.02, QUIET + INCIDENT + AFTER))
    values[QUIET : QUIET + INCIDENT] *= 3.5 + 0.5 * np.sin(np.arange(INCIDENT) / 7)
    return values


def notes_for(receiver: AlertWebhookReceiver, status: str | None = None) -> list[dict]:
    return [
        alert
        for note in receiver.notifications
        for alert in note["alerts"]
        if alert["labels"].get("series") == SERIES and status in (None, alert["status"])
    ]


def pipeline() -> Pipeline:
    return Pipeline(lambda: DetectorStack(grace_period=50))


@pytest.mark.integration
def test_one_alert_lasts_the_incident_and_survives_a_restart(alertmanager_factory):
    values = latencies()
    start = time.time() - len(values) * 60.0  # recent event times, as live
    incident_start, incident_end = start + 60.0 * QUIET, start + 60.0 * (QUIET + INCIDENT - 1)
    with AlertWebhookReceiver() as receiver:
        manager = alertmanager_factory(receiver.url)
        live = pipeline()
        sink = AlertmanagerSink(manager.url, resend_interval=60.0)
        events = []
        for minute, value in enumerate(values.tolist()):
            at = start + 60.0 * minute
            if minute == RESTART_AT:
                # the process dies; a new one restores the series from its snapshot and a new
                # sink takes over the alert still firing in it (as the runner does)
                state = live.snapshot_series(SERIES)
                live = pipeline()
                live.restore_series(SERIES, state)
                opened = live.open_alert(SERIES)
                assert opened is not None, "the restored series is no longer firing"
                sink = AlertmanagerSink(manager.url, resend_interval=60.0)
                sink.adopt([Alert(*opened)], time.time())
            batch, refused = live.push_many([(MetricPoint(SERIES, at, value), LABELS)])
            assert not refused
            alerts = [Alert(s.event, s.labels) for s in batch.transitions()]
            events += [(minute, alert.event) for alert in alerts]
            if alerts:
                sink.send(alerts, time.time())
                if alerts[0].event.firing:
                    receiver.wait_for(lambda note: note["status"] == "firing", timeout=15)
            if minute == QUIET + INCIDENT - 1:  # the incident's last minute
                assert live.open_alert(SERIES) is not None, "resolved before the incident ended"
                assert not notes_for(receiver, "resolved")
                active = manager.alerts(series=SERIES)
                assert [a["status"]["state"] for a in active] == ["active"]
        sink.close(time.time())

        # one page: at the incident's start, the whole incident long
        assert [e.status for _, e in events] == ["firing", "resolved"], events
        (opened_minute, firing), (resolved_minute, resolved) = events
        assert QUIET <= opened_minute <= QUIET + 1
        assert firing.alert_id == resolved.alert_id and firing.start >= incident_start
        # resolved after the incident ended, within max(10 minutes, 2 samples)
        assert incident_end < resolved.at <= incident_end + 600.0 + 60.0
        assert resolved.resolve_reason == "recovered"
        assert 0.18 < resolved.expected < 0.22  # the expectation from before the incident

        note = receiver.wait_for(
            lambda note: (
                note["status"] == "resolved"
                and any(a["labels"].get("series") == SERIES for a in note["alerts"])
            ),
            timeout=15,
        )
        (gone,) = [a for a in note["alerts"] if a["labels"]["series"] == SERIES]
        assert gone["annotations"]["resolve_reason"] == "recovered"
        assert gone["annotations"]["summary"] == resolved.summary
        assert gone["annotations"]["summary"].startswith(f"{SERIES} resolved (recovered) after")
        assert gone["annotations"]["alert_id"] == firing.alert_id
        # Alertmanager only ever heard of this one alert: the restart did not page again
        firing_notes = notes_for(receiver, "firing")
        assert firing_notes
        assert {a["annotations"]["alert_id"] for a in notes_for(receiver)} == {firing.alert_id}
        assert {a["startsAt"][:19] for a in notes_for(receiver)} == {
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(firing.start))
        }
        annotations = firing_notes[0]["annotations"]
        assert annotations["summary"] == firing.summary
        assert annotations["summary"].startswith(f"{SERIES} ")
        assert "expected" in annotations["summary"] and annotations["expected"]
        assert manager.alerts(series=SERIES) == []


@pytest.mark.integration
def test_an_incident_caught_up_in_one_batch_still_notifies(alertmanager_factory):
    # A backlog scored in one batch (after a consumer lag, or a replay) holds the incident's
    # opening and its resolution: Alertmanager, sent only the resolution, would notify nobody.
    values = latencies(seed=2)
    start = time.time() - len(values) * 60.0
    with AlertWebhookReceiver() as receiver:
        manager = alertmanager_factory(receiver.url)
        live = pipeline()
        points = [(MetricPoint(SERIES, start + 60.0 * m, v), LABELS) for m, v in enumerate(values)]
        batch, refused = live.push_many(points)
        assert not refused
        alerts = [Alert(s.event, s.labels) for s in batch.transitions()]
        assert [a.event.status for a in alerts] == ["firing", "resolved"]
        sink = AlertmanagerSink(manager.url, resend_interval=3.0)
        sink.send(alerts, time.time())
        firing = receiver.wait_for(lambda note: note["status"] == "firing", timeout=15)
        resolved = receiver.wait_for(lambda note: note["status"] == "resolved", timeout=15)
        sink.close(time.time())
    (paged,) = [a for a in firing["alerts"] if a["labels"]["series"] == SERIES]
    assert paged["annotations"]["alert_id"] == alerts[0].event.alert_id
    assert paged["annotations"]["resolve_reason"] == "recovered"  # it says it is over
    assert [a["labels"]["series"] for a in resolved["alerts"]] == [SERIES]
    assert len(notes_for(receiver, "firing")) == 1
