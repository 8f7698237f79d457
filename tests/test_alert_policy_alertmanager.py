"""Pages reach a real Alertmanager as the policy says, explaining themselves: the series' labels
and the rule's severity as labels, the summary, description and links as annotations; a muted
series never reaches it. Real detectors, real Alertmanager, a webhook receiver behind it."""

from __future__ import annotations

import datetime
import re
import time

import numpy as np
import pytest

from detectors import DetectorStack
from scripts.lookout_services import AlertWebhookReceiver
from stream.outputs.alert_sinks import Alert, AlertmanagerSink
from stream.outputs.alerts import LinkTemplates
from stream.outputs.paging import Pager
from stream.outputs.policy import Policy
from stream.point import MetricPoint
from stream.runtime.pipeline import Pipeline

LABELS = {
    "checkout_latency_seconds": {"team": "payments"},
    "batch_latency_seconds": {"team": "batch"},
    "ads_ctr_ratio": {"team": "ads"},
}


def rules(now: float) -> list[dict]:
    """The batch team muted for the whole run (a one-off window: a daily 00:00-23:59 one leaves
    the minute before midnight unmuted, and the test failed when its incident spanned it)."""
    day = datetime.timedelta(days=1)
    at = datetime.datetime.fromtimestamp(now, datetime.UTC)
    mute = {"start": (at - day).isoformat(), "end": (at + day).isoformat()}
    return [
        {"name": "batch", "matchers": ['team="batch"'], "mute": mute},
        {"name": "ads", "matchers": ['team="ads"'], "severity": "ticket"},
    ]


def metrics(seed: int = 5) -> dict[str, np.ndarray]:
    """Per series: 600 quiet minutes, 40 minutes far above, then quiet again."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, level in (("checkout_latency_seconds", 0.2), ("batch_latency_seconds", 3.0),
                        ("ads_ctr_ratio", 0.05)):  # fmt: skip
        values = level * (1 + rng.normal(0, 0.02, 760))
        values[600:640] *= 4
        out[name] = values
    return out


def notifications_for(receiver: AlertWebhookReceiver, series: str) -> list[tuple[str, dict]]:
    return [
        (note["status"], alert)
        for note in receiver.notifications
        for alert in note["alerts"]
        if alert["labels"].get("series") == series
    ]


@pytest.mark.integration
def test_alertmanager_gets_explained_pages_under_the_policy(alertmanager_factory):
    pager = Pager(
        Policy.from_config(rules(time.time())),
        LinkTemplates(runbook="https://runbooks.example/{team}/{series}"),
    )
    pipeline = Pipeline(lambda: DetectorStack(grace_period=50), pager=pager)
    data = metrics()
    start = time.time() - 760 * 60  # recent event times, as live
    with AlertWebhookReceiver() as receiver:
        manager = alertmanager_factory(receiver.url)
        sink = AlertmanagerSink(manager.url, resend_interval=60.0)
        sent = []
        for minute in range(760):
            points = [
                (MetricPoint(name, start + 60.0 * minute, values.item(minute)), LABELS[name])
                for name, values in data.items()
            ]
            batch, refused = pipeline.push_many(points)
            assert not refused
            alerts = [Alert(s.event, s.labels) for s in batch.transitions()]
            if alerts:
                sink.send(alerts, time.time())
                sent += [alert.event for alert in alerts]
                if any(a.event.firing for a in alerts):  # let Alertmanager notify the page
                    summary = alerts[-1].event.summary
                    receiver.wait_for(
                        lambda note, summary=summary: any(
                            a["annotations"]["summary"] == summary for a in note["alerts"]
                        ),
                        timeout=15,
                    )

        checkout = [e for e in sent if e.series == "checkout_latency_seconds"]
        assert checkout and checkout[0].firing
        assert not [e for e in sent if e.series == "batch_latency_seconds"]
        assert pager.held_back["muted"] >= 1
        assert [e.severity for e in sent if e.series == "ads_ctr_ratio"][:1] == ["ticket"]

        firing = next(a for s, a in notifications_for(receiver, "checkout_latency_seconds"))
        assert firing["labels"] == {
            "alertname": "LookoutAnomaly",
            "series": "checkout_latency_seconds",
            "severity": "page",
            "team": "payments",
        }
        page = checkout[0]
        annotations = firing["annotations"]
        assert annotations["summary"] == page.summary
        assert re.fullmatch(  # ~800 ms against ~200 ms, in ms
            r"checkout_latency_seconds \d{3} ms, expected \d{3} ms \(\d{3}-\d{3}\), "
            r"since \d\d:\d\d UTC, \d\.\dx",
            annotations["summary"],
        ), annotations["summary"]
        assert annotations["description"] == page.description
        assert annotations["runbook_url"] == (
            "https://runbooks.example/payments/checkout_latency_seconds"
        )
        assert "dashboard_url" not in annotations  # no template, no empty link
        ads = next(a for s, a in notifications_for(receiver, "ads_ctr_ratio"))
        assert ads["labels"]["severity"] == "ticket"
        assert "%" in ads["annotations"]["summary"]  # a ratio reads in percent

        # the resolve reaches Alertmanager and describes the incident
        last = checkout[-1]
        assert not last.firing
        note = receiver.wait_for(
            lambda note: (
                note["status"] == "resolved"
                and any(a["labels"]["series"] == "checkout_latency_seconds" for a in note["alerts"])
            ),
            timeout=15,
        )
        (resolved,) = [a for a in note["alerts"] if a["labels"]["series"] == last.series]
        assert resolved["annotations"]["summary"] == last.summary
        assert "resolved (recovered) after" in last.summary and "peak" in last.summary
        assert manager.alerts(series="checkout_latency_seconds") == []
        assert not notifications_for(receiver, "batch_latency_seconds")
        assert manager.alerts(series="batch_latency_seconds") == []
