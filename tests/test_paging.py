"""From the detectors' incidents to pages (stream/outputs/paging.py): when an incident pages under
its
series' policy, what its events say, what is counted when it does not page, and that the
pager's view of a series survives a restart.

The pager is fed bank results built by hand (an incident is rows with ``alert`` set between
an ``OPENED`` and a ``RESOLVED`` transition), so each case states exactly what the detectors
concluded; the end-to-end tests at the bottom run the real detectors through ``lookout replay``.
"""

from __future__ import annotations

import math
import re

import numpy as np
import orjson
import pytest

from detectors import DetectorStack
from detectors.bank import OPENED, RESOLVED, BankResults
from detectors.parts.alert import ACCEPTED, RECOVERED
from detectors.state import SnapshotError
from stream.cli import main
from stream.outputs.alert_sinks import Alert, alertmanager_alert
from stream.outputs.alerts import AlertEvent, LinkTemplates, explain
from stream.outputs.paging import Pager
from stream.outputs.policy import Policy
from stream.point import MetricPoint
from stream.runtime.pipeline import Pipeline

NAMES = ("forecast", "volatility", "hst")
T0 = 1714528800.0  # 2024-05-01T02:00:00Z
STEP = 60.0


def bank_results(
    values: list[float],
    expected: list[float] | float,
    incidents: list[tuple[int, int]],
    scores: dict[int, float] | None = None,
    agreeing: dict[int, int] | None = None,
    spread: float = 0.25,
) -> tuple[np.ndarray, np.ndarray, BankResults]:
    """Timestamps, values and bank results with alerts open over ``incidents``
    (``[(opened row, resolved row)]``); ``scores``: onset scores by row (0.5 at an opening)."""
    n = len(values)
    results = BankResults.empty(n)
    for array in (results.anomaly_score, results.onset_score, results.zscore, results.hst_score,
                  results.forecast_score):  # fmt: skip
        array[:] = 0.0
    for array in (results.alert_start, results.alert_end, results.peak_score, results.peak_at):
        array[:] = math.nan
    results.alert[:] = False
    results.transition[:] = 0
    results.agreeing[:] = 0
    results.resolve_reason[:] = 0
    timestamps = T0 + STEP * np.arange(n)
    results.expected[:] = expected
    results.lower[:] = results.expected * (1 - spread)
    results.upper[:] = results.expected * (1 + spread)
    for opened, resolved in incidents:
        results.transition[opened] = OPENED
        results.alert[opened:resolved] = True
        results.alert_start[opened] = timestamps[opened]
        results.anomaly_score[opened] = results.onset_score[opened] = 0.5
        results.transition[resolved] = RESOLVED
        results.alert_end[resolved] = timestamps[resolved - 1]
        results.resolve_reason[resolved] = RECOVERED
    for row, score in (scores or {}).items():
        results.anomaly_score[row] = results.onset_score[row] = score
    for row, bits in (agreeing or {}).items():
        results.agreeing[row] = bits
    return timestamps, np.asarray(values, dtype=float), results


def run(pager: Pager, series: str, values, expected, incidents, labels=None, **kwargs):
    timestamps, values, results = bank_results(values, expected, incidents, **kwargs)
    labels_list = [labels] * len(values) if labels is not None else None
    events = pager.process(
        [series] * len(values), timestamps, values, labels_list, results, NAMES, 1
    )
    return events


# A latency incident: 210 ms expected; from row 3 to row 8 the metric is up, peaking at row 5.
LATENCY = [0.21, 0.2, 0.22, 0.84, 0.88, 0.91, 0.86, 0.5, 0.22, 0.21]


def test_every_incident_pages_at_its_onset_and_resolves_once_by_default():
    pager = Pager()
    events = run(
        pager, "api_latency_seconds", LATENCY, 0.21, [(3, 8)],
        scores={3: 0.62, 5: 0.8}, agreeing={3: 0b001, 5: 0b100},
    )  # fmt: skip
    assert sorted(events) == [3, 8]
    firing, resolved = events[3], events[8]
    assert (firing.status, resolved.status) == ("firing", "resolved")
    assert firing.alert_id == resolved.alert_id
    assert firing.start == resolved.start == T0 + 3 * STEP
    assert firing.summary == (
        "api_latency_seconds 840 ms, expected 210 ms (158-262), since 02:03 UTC, 4.0x"
    )
    assert firing.detectors == ("forecast",)
    assert (firing.severity, firing.rule) == ("page", "builtin: latency")
    # the resolve describes the incident, not the point that resolved it
    assert resolved.end == T0 + 7 * STEP
    assert (resolved.peak_value, resolved.peak_value_at) == (0.91, T0 + 5 * STEP)
    assert (resolved.peak_score, resolved.peak_at) == (0.8, T0 + 5 * STEP)
    assert resolved.detectors == ("forecast", "hst")  # agreed during it, not at its end
    assert resolved.expected == 0.21
    assert resolved.summary == (
        "api_latency_seconds resolved (recovered) after 4 min: peak 910 ms at 02:05 UTC, "
        "expected 210 ms "
        "(158-262), 02:03 UTC-02:07 UTC"
    )
    assert resolved.description == (
        "api_latency_seconds was above the value expected from 2024-05-01T02:03:00Z to "
        "2024-05-01T02:07:00Z (4 min). Peak 910 ms at 02:05 UTC, expected 210 ms (band "
        "158-262 ms), +700 ms (4.3x); anomaly score peak 0.80. Detectors that agreed during "
        "it: forecast, hst. Back at 220 ms at 02:08 UTC. Severity page (policy: builtin: "
        "latency)."
    )
    assert pager.pages == 1 and sum(pager.held_back.values()) == 0 and not pager.incidents


def test_a_resolve_says_why_in_the_event_its_text_and_the_alertmanager_annotations():
    timestamps, values, results = bank_results(
        [100.0] * 3 + [160.0] * 7, 100.0, [(3, 9)], spread=0.05
    )
    results.resolve_reason[9] = ACCEPTED
    events = Pager().process(["queue_depth"] * 10, timestamps, values, None, results, NAMES, 1)
    resolved = events[9]
    assert resolved.resolve_reason == "accepted new level"
    assert resolved.to_dict()["resolve_reason"] == "accepted new level"
    assert resolved.summary.startswith("queue_depth resolved (accepted new level) after 5 min")
    assert "Accepted as the new normal after 6 min away from the expected value (160 at " in (
        resolved.description
    )
    item = alertmanager_alert(Alert(resolved), "page", now=T0 + 600, lease=240)
    assert item["annotations"]["resolve_reason"] == "accepted new level"
    firing = alertmanager_alert(Alert(events[3]), "page", now=T0 + 200, lease=240)
    assert "resolve_reason" not in firing["annotations"] and events[3].resolve_reason == ""


def test_the_expected_value_is_the_one_before_the_incident_began():
    # the forecaster learns the incident: its expectation follows the metric up
    expected = [100.0] * 3 + [200.0, 300.0, 400.0, 400.0, 300.0, 100.0, 100.0]
    values = [100.0, 101.0, 99.0, 500.0, 480.0, 450.0, 420.0, 300.0, 101.0, 100.0]
    events = run(Pager(), "queue_depth", values, expected, [(3, 8)])
    assert {event.expected for event in events.values()} == {200.0}  # the onset's
    assert events[8].peak_value == 500.0


def test_an_incident_muted_at_its_onset_pages_when_the_window_ends_if_still_going():
    deploy = {"start": "2024-05-01T02:00:00Z", "end": "2024-05-01T02:05:00Z"}
    pager = Pager(Policy.from_config([{"matchers": ['team="web"'], "mute": [deploy]}]))
    events = run(pager, "api_latency_seconds", LATENCY, 0.21, [(3, 8)], labels={"team": "web"})
    assert sorted(events) == [5, 8]  # 02:05: the first minute after the window
    assert events[5].status == "firing"
    assert events[5].start == T0 + 3 * STEP  # the incident's start, not the page's
    assert "since 02:03 UTC" in events[5].summary
    assert pager.held_back["muted"] == 0


def test_an_incident_muted_throughout_is_counted_not_sent():
    window = {"start": "2024-05-01T01:00:00Z", "end": "2024-05-01T03:00:00Z"}
    pager = Pager(Policy.from_config([{"matchers": ['series=~".*"'], "mute": window}]))
    assert run(pager, "api_latency_seconds", LATENCY, 0.21, [(3, 8)]) == {}
    assert pager.held_back["muted"] == 1 and pager.pages == 0 and not pager.incidents


def test_a_rise_does_not_page_a_series_that_only_pages_below():
    pager = Pager()
    values = [1.0, 1.0, 1.0, 3.0, 3.0, 1.0]
    assert run(pager, "up", values, 1.0, [(3, 5)]) == {}  # built-in: up pages when it drops
    assert pager.held_back["direction"] == 1
    assert sorted(run(pager, "up", [1.0, 1.0, 1.0, 0.0, 0.0, 1.0], 1.0, [(3, 5)])) == [3, 5]


def test_an_incident_pages_once_it_is_far_enough_from_the_expected_value():
    # a CPU at 3%: 2 points up is not news, 9 points up is
    pager = Pager(Policy.from_config([{"matchers": ['series="cpu"'], "min_deviation": 5.0}]))
    values = [3.0, 3.1, 2.9, 5.0, 5.2, 7.0, 12.0, 12.0, 3.0]
    events = run(pager, "cpu", values, 3.0, [(3, 8)])
    assert sorted(events) == [6, 8]
    assert events[6].value == 12.0
    assert events[6].summary == "cpu 12, expected 3 (2.25-3.75), since 02:03 UTC, 4.0x"

    small = Pager(Policy.from_config([{"matchers": ['series="cpu"'], "min_deviation": 5.0}]))
    assert run(small, "cpu", [3.0, 3.0, 3.0, 5.0, 5.0, 3.0], 3.0, [(3, 5)]) == {}
    assert small.held_back["min_deviation"] == 1


def test_a_rule_threshold_asks_more_of_the_incident_score():
    policy = Policy.from_config([{"matchers": ['series="api"'], "threshold": 0.7}])
    pager = Pager(policy)
    values = [1.0, 1.0, 1.0, 5.0, 5.0, 9.0, 9.0, 1.0]
    # the incident opens at 0.5 and sets a new high of 0.75 at row 5: it pages there
    events = run(pager, "api", values, 1.0, [(3, 7)], scores={5: 0.75})
    assert sorted(events) == [5, 7] and events[5].peak_score == 0.75
    quiet = Pager(policy)
    assert run(quiet, "api", values, 1.0, [(3, 7)]) == {}
    assert quiet.held_back["threshold"] == 1


def test_severity_labels_and_links_come_from_the_series_rule():
    pager = Pager(
        Policy.from_config([{"matchers": ['team="ads"'], "severity": "ticket"}]),
        LinkTemplates(
            runbook="https://runbooks.example/{team}/{series}",
            dashboard="https://grafana.example/d/x?var-series={series}&var-dc={dc}",
        ),
    )
    events = run(pager, "ctr ratio", LATENCY, 0.21, [(3, 8)], labels={"team": "ads"})
    firing = events[3]
    assert firing.severity == "ticket"
    assert firing.runbook_url == "https://runbooks.example/ads/ctr%20ratio"
    assert firing.dashboard_url == "https://grafana.example/d/x?var-series=ctr%20ratio&var-dc="
    assert firing.to_dict()["runbook_url"] == firing.runbook_url


def test_bad_link_templates_are_refused():
    with pytest.raises(ValueError, match="runbook_url"):
        LinkTemplates(runbook="https://x/{series")
    with pytest.raises(ValueError, match="not a label name"):
        LinkTemplates(dashboard="https://x/{0}")


def test_a_restored_pager_continues_the_incident_it_paged_without_paging_again():
    timestamps, values, results = bank_results(
        LATENCY, 0.21, [(3, 8)], scores={5: 0.8}, agreeing={3: 0b001, 6: 0b010}
    )
    first = Pager()
    before = slice(0, 6)
    head = BankResults(**{name: getattr(results, name)[before] for name in vars(results)})
    events = first.process(["lat_seconds"] * 6, timestamps[:6], values[:6], None, head, NAMES, 1)
    assert [event.status for event in events.values()] == ["firing"]
    opened = first.open_alert("lat_seconds")
    state = orjson.loads(orjson.dumps(first.state("lat_seconds", NAMES)))  # as stored

    second = Pager()
    second.put("lat_seconds", second.restored("lat_seconds", state, opened, NAMES))
    after = slice(6, 10)
    tail = BankResults(**{name: getattr(results, name)[after] for name in vars(results)})
    rest = second.process(["lat_seconds"] * 4, timestamps[6:], values[6:], None, tail, NAMES, 1)
    (resolved,) = rest.values()
    uninterrupted = run(Pager(), "lat_seconds", LATENCY, 0.21, [(3, 8)], scores={5: 0.8},
                        agreeing={3: 0b001, 6: 0b010})[8]  # fmt: skip
    assert resolved == uninterrupted
    assert resolved.detectors == ("forecast", "volatility")


def test_an_incident_held_back_stays_held_back_across_a_restart():
    window = {"start": "2024-05-01T01:00:00Z", "end": "2024-05-01T03:00:00Z"}
    policy = Policy.from_config([{"matchers": ['series="x"'], "mute": window}])
    first = Pager(policy)
    run(first, "x", [1.0, 1.0, 1.0, 9.0, 9.0], 1.0, [(3, 4)])
    assert first.held_back["muted"] == 1
    # mid-incident state: no page to take over, the reason kept
    timestamps, values, results = bank_results([1.0, 1.0, 1.0, 9.0, 9.0, 9.0], 1.0, [(3, 5)])
    head = BankResults(**{k: getattr(results, k)[:5] for k in vars(results)})
    first.process(["x"] * 5, timestamps[:5], values[:5], None, head, NAMES, 1)
    assert first.open_alert("x") is None
    state = first.state("x", NAMES)
    assert state["held_back"] == "muted"
    restored = Pager(policy).restored("x", state, None, NAMES)
    assert restored.page is None and restored.held_back == "muted"
    with pytest.raises(ValueError, match="labels"):
        Pager().restored("x", {**state, "labels": {"a": 1}}, None, NAMES)
    with pytest.raises(ValueError, match="start"):
        Pager().restored("x", {**state, "start": None}, None, NAMES)


def test_the_pipeline_state_of_a_series_holds_its_pager_incident(tmp_path):
    # real detectors: a level that jumps and stays up opens an incident; the state written
    # while it is open restores into a pipeline that continues exactly like the first one
    rng = np.random.default_rng(3)
    values = np.concatenate([10 + rng.normal(0, 0.5, 600), 40 + rng.normal(0, 0.5, 60)])

    def pipeline() -> Pipeline:
        return Pipeline(lambda: DetectorStack(grace_period=50))

    whole = pipeline()
    events = [
        (t, e) for t, v in enumerate(values.tolist())
        if (e := whole.process(MetricPoint("queue_depth", t * 60.0, v))[1]) is not None
    ]  # fmt: skip
    assert events and events[0][1].firing
    opened_at = events[0][0]
    split = pipeline()
    for t, v in enumerate(values[: opened_at + 1].tolist()):
        split.process(MetricPoint("queue_depth", t * 60.0, v))
    state = split.snapshot_series("queue_depth")
    header = orjson.loads(state.partition(b"\n")[0])
    assert header["alert"]["event"]["alert_id"] == events[0][1].alert_id
    assert header["incident"]["start"] == events[0][1].start
    twin = pipeline()
    twin.restore_series("queue_depth", state)
    assert twin.open_alert("queue_depth")[0] == events[0][1]
    later = [
        (t, e) for t, v in enumerate(values.tolist()) if t > opened_at
        if (e := twin.process(MetricPoint("queue_depth", t * 60.0, v))[1]) is not None
    ]  # fmt: skip
    assert later == events[1:]


def test_a_replay_applies_the_rules_of_its_config_file(tmp_path, capsys):
    rng = np.random.default_rng(7)
    rows = ["series,timestamp,value"]
    for name in ("checkout_latency_seconds", "batch_latency_seconds"):
        values = np.concatenate(
            [
                0.2 + rng.normal(0, 0.01, 800),
                0.9 + rng.normal(0, 0.01, 40),
                0.2 + rng.normal(0, 0.01, 20),
            ]
        )  # back: the incident ends
        rows += [f"{name},{1714500000 + 60 * t},{v:.5f}" for t, v in enumerate(values)]
    data = tmp_path / "metrics.csv"
    data.write_text("\n".join(rows) + "\n")
    config = tmp_path / "lookout.toml"
    config.write_text(
        'runbook_url = "https://runbooks.example/{series}"\n'
        "[[rules]]\n"
        "matchers = ['series=\"batch_latency_seconds\"']\n"
        'mute = [{ weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], '
        'from = "00:00", to = "23:59" }]\n'
    )
    out = tmp_path / "out"
    # --join-series: the series keep the names written in the file, as the rule names them
    assert main(["replay", str(data), "--out", str(out), "--config", str(config),
                 "--grace-period", "50", "--no-progress", "--join-series"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    alerts = [orjson.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    assert alerts and {a["series"] for a in alerts} == {"checkout_latency_seconds"}
    firing = next(a for a in alerts if a["status"] == "firing")
    assert firing["runbook_url"] == "https://runbooks.example/checkout_latency_seconds"
    assert re.fullmatch(
        r"checkout_latency_seconds \d{3} ms, expected \d{3} ms \(\d{3}-\d{3}\), "
        r"since \d\d:\d\d UTC, \d\.\dx",
        firing["summary"],
    ), firing["summary"]
    assert firing["severity"] == "page" and firing["description"]
    assert "held back" in printed and "muted: " in printed

    # with an alert budget the summary says where the threshold ended
    assert main(["replay", str(data), "--out", str(tmp_path / "budget"), "--grace-period", "50",
                 "--no-progress", "--alert-budget", "2"]) == 0  # fmt: skip
    assert re.search(
        r"^budget    2 pages per series per week: paging threshold 0\.\d{3}, realised "
        r"\d+\.\d\d over the last week$",
        capsys.readouterr().out,
        re.M,
    )

    # the same replay without the rules pages both series
    assert main(["replay", str(data), "--out", str(tmp_path / "all"), "--grace-period", "50",
                 "--no-progress", "--join-series"]) == 0  # fmt: skip
    unmuted = (tmp_path / "all" / "alerts.jsonl").read_text().splitlines()
    assert {orjson.loads(line)["series"] for line in unmuted} == {
        "checkout_latency_seconds",
        "batch_latency_seconds",
    }


def test_a_replay_refuses_a_bad_rule_by_name(tmp_path, capsys):
    config = tmp_path / "lookout.toml"
    config.write_text("[[rules]]\nname = 'oops'\nmatchers = ['team=~\"(\"']\n")
    assert main(["replay", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert "rule 'oops'" in capsys.readouterr().err


def test_an_event_built_without_the_pager_explains_itself_too():
    event = AlertEvent("id", "node_memory_free_bytes", "resolved", T0, T0 + 8100.0, 0.9, T0,
                       T0 + 8160.0, 8 * 2**30, 8 * 2**30, 7 * 2**30, 9 * 2**30, 0.0, (),
                       peak_value=2**30, peak_value_at=T0 + 600.0)  # fmt: skip
    summary, description = explain(event)
    assert summary == (
        "node_memory_free_bytes resolved after 2 h 15 min: peak 1 GiB at 02:10 UTC, expected "
        "8 GiB (7-9), 02:00 UTC-04:15 UTC"
    )
    assert description.startswith(
        "node_memory_free_bytes was below the value expected from 2024-05-01T02:00:00Z to "
        "2024-05-01T04:15:00Z (2 h 15 min). Peak 1 GiB at 02:10 UTC, expected 8 GiB (band "
        "7-9 GiB), -7 GiB (0.12x); anomaly score peak 0.90. Detectors that agreed during it: "
        "none alone (the combined score)."
    )


def test_ratio_and_warming_up_texts():
    ratio = AlertEvent("id", "checkout_error_ratio", "firing", T0, None, 0.9, T0, T0 + 60.0,
                       0.125, 0.01, 0.005, 0.015, 0.9, ("forecast",))  # fmt: skip
    assert explain(ratio)[0] == (
        "checkout_error_ratio 12.5%, expected 1% (0.5-1.5), since 02:00 UTC, 12.5x"
    )
    nan = math.nan
    warming = AlertEvent("id", "jobs", "firing", T0, None, 0.9, T0, T0, 42.0, nan, nan, nan,
                         0.9, ())  # fmt: skip
    summary, description = explain(warming)
    assert summary == "jobs 42, no expected value yet (warming up), since 02:00 UTC"
    assert description.startswith("jobs is anomalous since 2024-05-01T02:00:00Z: 42 at 02:00")


def test_the_alerts_topic_document_carries_the_same_text_and_links():
    from stream.outputs.alert_sinks import Alert, alert_document

    pager = Pager(links=LinkTemplates(dashboard="https://grafana.example/d/x?s={series}"))
    events = run(pager, "api_latency_seconds", LATENCY, 0.21, [(3, 8)], labels={"team": "web"})
    for event in events.values():
        document = alert_document(Alert(event, {"team": "web"}))
        assert orjson.loads(orjson.dumps(document)) == document  # JSON-ready
        for field in ("summary", "description", "runbook_url", "dashboard_url", "severity"):
            assert document[field] == getattr(event, field)
        assert document["dashboard_url"] == "https://grafana.example/d/x?s=api_latency_seconds"
        assert document["labels"] == {"team": "web"}
        assert document["peak_value"] == 0.91 or event.firing


def test_a_series_state_from_before_the_pager_keeps_its_firing_alert():
    # a state written before the pager: its alert entry has no text, peak value or severity
    pipeline = Pipeline(lambda: DetectorStack(grace_period=50))
    rng = np.random.default_rng(3)
    values = np.concatenate([10 + rng.normal(0, 0.5, 600), [40.0]])
    for t, v in enumerate(values.tolist()):
        pipeline.process(MetricPoint("q", t * 60.0, v))
    event, _ = pipeline.open_alert("q")
    head, _, body = pipeline.snapshot_series("q").partition(b"\n")
    header = orjson.loads(head)
    for name in ("severity", "rule", "peak_value", "peak_value_at", "summary", "description",
                 "runbook_url", "dashboard_url"):  # fmt: skip
        del header["alert"]["event"][name]
    del header["incident"]
    twin = Pipeline(lambda: DetectorStack(grace_period=50))
    twin.restore_series("q", orjson.dumps(header) + b"\n" + body)
    old, _ = twin.open_alert("q")
    assert (old.alert_id, old.start, old.severity, old.summary) == (event.alert_id, event.start,
                                                                    "", "")  # fmt: skip
    assert twin.pager.incidents["q"].expected == event.expected  # rebuilt from the alert
    item = alertmanager_alert(Alert(old), "ticket", now=old.at, lease=60.0)
    assert item["labels"]["severity"] == "ticket"  # as sent before: the sink's own severity
    assert item["annotations"]["summary"].startswith("q 40, expected ")  # written on the way
    header["alert"]["event"]["summary"] = 3
    with pytest.raises(SnapshotError, match="summary"):
        twin.restore_series("q", orjson.dumps(header) + b"\n" + body)
