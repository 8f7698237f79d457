"""The short variant of ``bench/chaos.py`` on the test services: kill -9s, a frozen and a
killed broker, 1 -> 3 -> 1 processes and a few hundred bad messages of every kind, while
points flow. Nothing is lost, nothing crashes, each incident pages exactly once."""

from __future__ import annotations

import pytest

from bench.chaos import Settings, run
from scripts.lookout_services import AlertWebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("services")]


def test_chaos_loses_nothing_crashes_never_and_pages_once_per_incident(
    kafka_broker, alertmanager_factory, tmp_path
):
    settings = Settings(series=6, steps=330, tick=0.1, kills=3, bad=400, freeze=5.0)
    with AlertWebhookReceiver() as receiver:
        manager = alertmanager_factory(receiver.url)
        result = run(kafka_broker, manager.url, receiver, tmp_path, settings)
    print("\n" + result.format())

    assert result.crashes == [], result.crashes
    assert result.lost == 0 and result.differing == 0
    assert result.incidents > 0 and result.paged_once, result.notifications
    assert result.alert_event_ids == result.expected_alert_events  # repeats share an event_id
    reasons = set(result.dead_letters)
    assert {"malformed_json", "bad_timestamp", "future_timestamp", "missing_field"} <= reasons
    assert "processing_error" not in reasons
    assert len(result.recovery) == 3 and max(result.recovery) < 10.0  # a shared, busy machine
